# rbclient: an ordinary Ruby program for the end-to-end tests.  It POSTs
# a JSON body with net/http over HTTPS (Ruby's openssl extension, on the
# system's libssl) and prints one line:
#   code=STATUS target=X-LLMFB-TARGET chunks=N body=BODY (4000 bytes at
# most, line ends as "|")
# With "stream" as its third argument it reads the body piece by piece.
# The CA is SSL_CERT_FILE's, as for any Ruby program.
require "net/http"
require "uri"

url, data, mode = ARGV
u = URI(url)
Net::HTTP.start(u.host, u.port, use_ssl: true, read_timeout: 20,
                open_timeout: 20) do |h|
  req = Net::HTTP::Post.new(u.request_uri,
                            "Content-Type" => "application/json",
                            "Authorization" => "Bearer sk-ruby-caller")
  req.body = data
  body = +""
  chunks = 0
  h.request(req) do |r|
    if mode == "stream"
      r.read_body { |c| body << c; chunks += 1 }
    else
      body = r.body.to_s
      chunks = 1
    end
    puts "code=#{r.code} target=#{r["x-llmfb-target"] || "-"} " \
         "chunks=#{chunks} body=#{body[0, 4000].gsub(/[\r\n]/, "|")}"
  end
end
