<?php
// phpclient: an ordinary PHP program for the end-to-end tests.  It POSTs
// a JSON body over HTTPS with the curl extension or with PHP's own https
// stream (the openssl extension) and prints one line:
//   code=STATUS target=X-LLMFB-TARGET body=BODY (line ends as |)
// php phpclient.php curl|stream URL JSON CAFILE
[, $how, $url, $data, $ca] = $argv;
$hdrs = ["Content-Type: application/json", "Authorization: Bearer sk-php"];
if ($how === "curl") {
	$c = curl_init($url);
	curl_setopt_array($c, [CURLOPT_POST => true, CURLOPT_POSTFIELDS => $data,
	    CURLOPT_HTTPHEADER => $hdrs, CURLOPT_RETURNTRANSFER => true,
	    CURLOPT_HEADER => true, CURLOPT_CAINFO => $ca,
	    CURLOPT_TIMEOUT => 20]);
	$r = curl_exec($c);
	if ($r === false) {
		echo "err=", curl_error($c), "\n";
		exit(1);
	}
	$hs = curl_getinfo($c, CURLINFO_HEADER_SIZE);
	[$head, $body] = [substr($r, 0, $hs), substr($r, $hs)];
	$code = curl_getinfo($c, CURLINFO_HTTP_CODE);
} else {
	$ctx = stream_context_create(["http" => ["method" => "POST",
	    "header" => implode("\r\n", $hdrs), "content" => $data,
	    "ignore_errors" => true, "timeout" => 20],
	    "ssl" => ["cafile" => $ca]]);
	$body = @file_get_contents($url, false, $ctx);
	if ($body === false) {
		echo "err=", error_get_last()["message"] ?? "?", "\n";
		exit(1);
	}
	$head = implode("\r\n", $http_response_header);
	$code = (int)explode(" ", $http_response_header[0])[1];
}
$target = preg_match('/^x-llmfb-target:\s*(\S+)/mi', $head, $m) ? $m[1] : "-";
echo "code=$code target=$target body=", str_replace(["\r", "\n"], "|",
    substr($body, 0, 4000)), "\n";
