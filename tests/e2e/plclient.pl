# plclient: an ordinary Perl program for the end-to-end tests.  It POSTs a
# JSON body with HTTP::Tiny over IO::Socket::SSL (the system's libssl)
# and prints one line:
#   code=STATUS target=X-LLMFB-TARGET body=BODY (line ends as |)
# perl plclient.pl URL JSON CAFILE
use strict;
use warnings;
use HTTP::Tiny;

my ($url, $data, $ca) = @ARGV;
my $r = HTTP::Tiny->new(timeout => 20, verify_SSL => 1,
    SSL_options => { SSL_ca_file => $ca })->post($url, {
	headers => { "content-type" => "application/json",
	    "authorization" => "Bearer sk-perl" },
	content => $data });
my $body = substr($r->{content} // "", 0, 4000);
$body =~ s/[\r\n]/|/g;
printf "code=%s target=%s body=%s\n", $r->{status},
    $r->{headers}{"x-llmfb-target"} // "-", $body;
