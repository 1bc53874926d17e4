# The hardening cases: any local user may talk to the data socket, so
# llmfbd must not be crashed, starved or confused by one, and no secret
# may go where it was not meant to.  Sourced by run.sh.

RAW=tests/e2e/rawsock.py

# hd_start NAME [YAML lines...]: a second llmfbd of its own, in a
# directory any user can reach (its socket is 0666, as the unit's), on a
# small config for the mock's primary; extra lines go in its limits.
# Sets HD (its directory) and HD_PID.
hd_start() {
	local name=$1 line
	shift
	HD=$(mktemp -d "${TMPDIR:-/tmp}/llmfb-$name.XXXXXX")
	chmod 0755 "$HD"
	install -m 0644 "$STACK_DIR/certs/ca.pem" "$HD/ca.pem"
	{
		echo "listen: $HD/llmfb.sock"
		echo "control: $HD/control.sock"
		echo "intercept: [api.openai.com]"
		echo "ebpf: off"
		echo "network_watch: false"
		echo "upstream: { ca_file: $HD/ca.pem," \
		    "connect_to: [\"api.openai.com:443:127.0.0.1:$MOCK_PORT\"] }"
		echo "providers:"
		echo "  p: { dialect: openai, base_url: \"https://127.0.0.1:$MOCK_PORT/primary/v1\" }"
		echo "targets: { hp: { provider: p } }"
		echo "routes:"
		echo "  - { name: all, match: { host: api.openai.com }, ladder: [hp] }"
		[ $# -eq 0 ] || echo "limits:"
		for line in "$@"; do
			echo "  $line"
		done
	} >"$HD/llmfb.yaml"
	${HD_WRAP:-} "$B/llmfbd" -c "$HD/llmfb.yaml" -d >"$HD/log" 2>&1 &
	HD_PID=$!
	wait_for "llmfbd ($name)" "$B/llmfbctl" -s "$HD/control.sock" status
}

hd_stop() {
	kill "$HD_PID" 2>/dev/null
	wait "$HD_PID" 2>/dev/null
	rm -rf "$HD"
}

# The coproc "hold" (rawsock.py hold) lets go when its stdin closes; it
# may have died already, taking its variables with it.
hold_end() {
	[ -z "${hold[1]:-}" ] || exec {hold[1]}>&-
	[ -z "${hold_PID:-}" ] || wait "$hold_PID" 2>/dev/null
}

hd_status() {
	"$B/llmfbctl" -s "$HD/control.sock" --json status | jq -r "$1"
}

# Expect: 100-continue with the body in the same write, then a close at
# once: the 100 cannot be sent, and the request must not be served on a
# connection that is gone (a use-after-free, seen under make asan).
h_expect_close() {
	local out
	out=$(/usr/bin/python3 "$RAW" expect-close "$STACK_DIR/llmfb.sock" 300)
	expect_eq client "$out" "done 300"
	expect_eq daemon-alive "$(kill -0 "$DAEMON_PID" 2>/dev/null && echo yes)" yes
	mock_reset
	call easy "$OAI" "$CHAT"
	expect_eq served-after "$CODE $TARGET" "200 primary"
	finish "harden: Expect: 100-continue, body and close in one go, 300 times: llmfbd serves on"
}

# A slow or silent client is cut off; an idle kept-alive one closed.
h_timeouts() {
	local out n
	hd_start timeouts "request_timeout: 1s" "idle_timeout: 1s"
	out=$(/usr/bin/python3 "$RAW" slowloris "$HD/llmfb.sock" --wait 20)
	expect_match slowloris-cut "$out" '^closed after=[0-9.]+ first=HTTP/1.1_408'
	out=$(/usr/bin/python3 "$RAW" silent "$HD/llmfb.sock" --wait 20)
	expect_match silent-closed "$out" '^closed after='
	out=$(/usr/bin/python3 "$RAW" idle "$HD/llmfb.sock" --wait 20)
	expect_match idle-closed "$out" '^answered=421 closed after='
	n=$(hd_status .timed_out)
	expect_ge timed-out-count "$n" 2
	expect_match metric "$("$B/llmfbctl" -s "$HD/control.sock" metrics)" \
	    "llmfb_client_timeouts_total $n"
	hd_stop
	finish "harden: slowloris gets a 408, a silent client is closed, so is an idle kept-alive one"
}

# One silent client must not hold a stop for stop_timeout.
h_stop_silent() {
	local hold out pid
	hd_start stop
	pid=$HD_PID
	coproc hold { /usr/bin/python3 "$RAW" hold "$HD/llmfb.sock" 1; }
	read -r -u "${hold[0]}" out
	expect_eq held "$out" "held 1"
	kill -TERM "$pid"
	# Gone, or a zombie not yet waited for: either way it has exited.
	wait_for "llmfbd to stop" sh -c \
	    "[ ! -e /proc/$pid ] || grep -q ') Z' /proc/$pid/stat" ||
	    ERRS="$ERRS; llmfbd still runs 10 s after SIGTERM"
	hold_end
	hd_stop
	finish "harden: SIGTERM with a silent connection open stops within the grace, not stop_timeout"
}

# nobody fills its own share; root is still served, and nobody's next
# call goes direct (fail open) instead of failing.
h_user_limit() {
	local hold out ndirect url="https://api.openai.com:$MOCK_PORT/v1/chat/completions"
	if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
		skip "harden: per-user limit" "needs root and setpriv"
		return
	fi
	hd_start user "max_clients_per_user: 4" "request_timeout: 1m"
	local asnobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	coproc hold { "${asnobody[@]}" /usr/bin/python3 "$RAW" hold \
	    "$HD/llmfb.sock" 4; }
	read -r -u "${hold[0]}" out
	expect_eq nobody-holds "$out" "held 4"
	expect_eq nobody-refused "$("${asnobody[@]}" /usr/bin/python3 "$RAW" \
	    admit "$HD/llmfb.sock")" HTTP/1.1_503_Service_Unavailable
	expect_eq root-admitted "$(/usr/bin/python3 "$RAW" admit \
	    "$HD/llmfb.sock")" LLMFB/1_OK
	mock_reset
	shim_on "$HD/llmfb.sock"
	ndirect=1
	# nobody's libcurl program under the shim: straight to the provider
	# (the curl CLI, which hangs with make asan's runtime preloaded).
	if [ -z "${LLMFB_TEST_SANITIZED:-}" ]; then
		ndirect=2
		out=$("${asnobody[@]}" env "${SHIM_ENV[@]}" curl -sS -o /dev/null \
		    -D - --cacert "$HD/ca.pem" \
		    --resolve "api.openai.com:$MOCK_PORT:127.0.0.1" \
		    -H 'Content-Type: application/json' -d "$CHAT" "$url" 2>&1 |
		    tr -d '\r')
		expect_match nobody-curl-direct "$out" 'HTTP/1.1 200'
		expect_match nobody-curl-mock "$out" 'x-mock-provider: default'
		[[ "$out" == *x-llmfb-* ]] &&
		    ERRS="$ERRS; nobody's call went through llmfbd"
	fi
	# nobody's Python program (getaddrinfo + connect) likewise.
	{ cat /etc/hosts; echo "127.0.0.1 api.openai.com"; } >"$HD/hosts"
	# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
	out=$(unshare --mount sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' \
	    "$HD/hosts" "${asnobody[@]}" env "${SHIM_ENV[@]}" /usr/bin/python3 \
	    tests/e2e/pyclient.py requests "$url" --data "$CHAT" \
	    --cacert "$HD/ca.pem" 2>&1)
	shim_on
	expect_match nobody-python-direct "$out" 'code=200 target=- .*provider=default'
	expect_eq direct-calls "$(mock_stat default requests)" "$ndirect"
	# root, another user, is served by llmfbd meanwhile.
	shim_on "$HD/llmfb.sock"
	call easy "$OAI" "$CHAT"
	shim_on
	expect_eq root-served "$CODE $TARGET" "200 hp"
	# Refused: nobody's ADMIT probe, and each of its direct calls'.
	expect_ge refused-count "$(hd_status .refused)" "$((ndirect + 1))"
	expect_ge unserved-full "$(hd_status '.unserved.full // 0')" \
	    "$((ndirect + 1))"
	hold_end
	hd_stop
	finish "harden: one user at its connection limit: its calls go direct, another user's are served"
}

# A program's next connection can reach llmfbd before the close of the
# probe it made just before (the shim's ADMIT at resolution): at the
# per-user limit, that closed probe must not cost the program its place.
h_probe_reap() {
	hd_start reprobe "max_clients_per_user: 2"
	expect_eq next-admitted "$(/usr/bin/python3 "$RAW" reprobe \
	    "$HD/llmfb.sock" "$HD_PID")" LLMFB/1_OK
	expect_eq none-refused "$(hd_status .refused)" 0
	hd_stop
	finish "harden: a probe already closed but not yet read does not hold its user's place"
}

# Out of file descriptors: no spin, no flood of log lines, and a call
# still ends (served or direct), never hangs.
h_fd_limit() {
	local hold out t0 t1 lines
	if ! command -v prlimit >/dev/null; then
		skip "harden: file limit" "no prlimit"
		return
	fi
	HD_WRAP="prlimit --nofile=40:40" hd_start fds "request_timeout: 1m"
	coproc hold { /usr/bin/python3 "$RAW" hold "$HD/llmfb.sock" 60; }
	read -r -u "${hold[0]}" out
	expect_eq held "$out" "held 60"
	wait_for "llmfbd to shed" grep -q 'out of file descriptors' "$HD/log"
	t0=$(awk '{print $14 + $15}' "/proc/$HD_PID/stat")
	# Measured, not waited on: a spinning llmfbd burns this whole second.
	sleep 1
	t1=$(awk '{print $14 + $15}' "/proc/$HD_PID/stat")
	expect_lt cpu-ticks-in-1s "$((t1 - t0))" 20
	mock_reset
	shim_on "$HD/llmfb.sock"
	call easy "https://api.openai.com:$MOCK_PORT/v1/chat/completions" \
	    "$CHAT" --cacert "$STACK_DIR/certs/ca.pem" \
	    --resolve "api.openai.com:$MOCK_PORT:127.0.0.1"
	shim_on
	expect_eq call-ends "$CODE" 200
	lines=$(grep -c 'out of file descriptors' "$HD/log")
	expect_lt log-lines "$lines" 4
	hold_end
	# With descriptors back, the control socket answers again.
	wait_for "llmfbd's control socket" "$B/llmfbctl" -s "$HD/control.sock" status
	expect_ge refused-count "$(hd_status .refused)" 1
	hd_stop
	finish "harden: at the file limit llmfbd refuses at once, does not spin, logs once, and calls still end"
}

# A second llmfbd on the same paths takes over; the first, leaving,
# removes nothing of the second's.
h_restart_overlap() {
	local a b
	hd_start overlap
	a=$HD_PID
	"$B/llmfbd" -c "$HD/llmfb.yaml" >"$HD/log2" 2>&1 &
	b=$!
	wait_for "the second llmfbd" sh -c "[ \"\$('$B/llmfbctl' -s '$HD/control.sock' --json status | jq .pid)\" = $b ]"
	kill -TERM "$a"
	wait "$a" 2>/dev/null
	expect_eq socket-kept "$(test -S "$HD/llmfb.sock" && echo yes)" yes
	expect_eq control-kept "$(test -S "$HD/control.sock" && echo yes)" yes
	expect_eq hosts-kept "$(cat "$HD/llmfb.sock.hosts" 2>/dev/null | grep -c api.openai.com)" 1
	expect_eq control-is-second "$(hd_status .pid)" "$b"
	mock_reset
	shim_on "$HD/llmfb.sock"
	call easy "$OAI" "$CHAT"
	shim_on
	expect_eq served-by-second "$CODE $TARGET" "200 hp"
	HD_PID=$b
	hd_stop
	finish "harden: restart without a pid file: the old llmfbd leaves the new one's sockets and hosts file"
}

# What the caller meant for its own provider never reaches another.
SECRET_HDRS=(-H 'x-goog-api-key: g-secret' -H 'Cookie: session=c-secret'
    -H 'OpenAI-Organization: org-secret' -H 'OpenAI-Project: proj-secret'
    -H 'Ocp-Apim-Subscription-Key: apim-secret')
h_secrets() {
	local name hdrs
	mock_reset
	mock_script primary 'status=503'
	call easy "$OAI?key=q-secret" "$CHAT" "${SECRET_HDRS[@]}"
	expect_eq served "$CODE $TARGET" "200 secondary"
	hdrs=$(mock_str secondary last_headers)
	for name in x-goog-api-key cookie openai-organization openai-project \
	    ocp-apim-subscription-key; do
		expect_eq "secondary-no-$name" "$(jq -r --arg n "$name" \
		    '.[$n] // "absent"' <<<"$hdrs")" absent
	done
	expect_eq secondary-no-query "$(mock_str secondary last_query)" null
	expect_eq secondary-own-key "$(mock_str secondary last_authorization)" \
	    "Bearer $LLMFB_TEST_BACKUP_KEY"
	expect_eq primary-had-query "$(mock_str primary last_query)" key=q-secret
	expect_eq primary-had-cookie "$(mock_str primary last_headers |
	    jq -r .cookie)" session=c-secret
	# An Anthropic caller falling back within its dialect, and an
	# OpenAI caller falling back to an Anthropic target.
	mock_reset
	mock_script aprimary 'status=529'
	call easy "$ANT?key=q-secret" "$MSG" "${SECRET_HDRS[@]}" \
	    -H 'anthropic-version: 2023-06-01'
	expect_eq a-served "$CODE $TARGET" "200 asecondary"
	hdrs=$(mock_str asecondary last_headers)
	expect_eq a-no-secrets "$(jq -r '[."x-goog-api-key", .cookie,
	    ."openai-organization", ."ocp-apim-subscription-key"] |
	    map(select(. != null)) | length' <<<"$hdrs")" 0
	expect_eq a-keeps-version "$(jq -r '."anthropic-version"' <<<"$hdrs")" \
	    2023-06-01
	expect_eq a-no-query "$(mock_str asecondary last_query)" null
	mock_reset
	mock_script xop 'status=503'
	call easy "$OAI?key=q-secret" \
	    '{"model":"case-xo","messages":[{"role":"user","content":"hi"}]}' \
	    "${SECRET_HDRS[@]}"
	expect_eq x-served "$CODE $TARGET" "200 xan"
	expect_eq x-no-secrets "$(mock_str xan last_headers | jq -r '[
	    ."x-goog-api-key", .cookie, ."openai-organization",
	    ."openai-project", ."ocp-apim-subscription-key", .authorization] |
	    map(select(. != null)) | length')" 0
	expect_eq x-no-query "$(mock_str xan last_query)" null
	finish "harden: on fallback to another provider no caller secret goes along (headers, cookies, query), both dialects"
}

# A provider refusing llmfb's own key: the caller gets the safe failure,
# never the provider's 401 (which could even echo the key).
h_own_key_401() {
	mock_reset
	mock_script primary 'status=503'
	mock_script secondary 'status=401'
	call easy "$OAI" "$CHAT"
	expect_eq status "$CODE" 503
	expect_eq target "$TARGET" none
	expect_match reasons "$REASONS" 'secondary=http-401'
	expect_match safe-failure "$(jq -r .error.message <<<"$BODY")" \
	    'no target could serve'
	mock_reset
	mock_script aprimary 'status=529'
	mock_script asecondary 'status=401'
	call easy "$ANT" "$MSG"
	expect_eq a-status "$CODE" 503
	expect_eq a-shape "$(jq -r .type <<<"$BODY")" error
	expect_match a-reasons "$REASONS" 'asecondary=http-401'
	finish "harden: a 401 to llmfb's own key is llmfb's failure: safe failure, never the provider's answer"
}

# A gzip answer that decodes past limits.max_answer_body is a broken
# attempt, not 100 MiB sent on as a 200.
h_gzip_bomb() {
	mock_reset
	mock_script primary 'gzip_mb=100'
	call easy "$OAI" "$CHAT"
	expect_eq served "$CODE $TARGET" "200 secondary"
	expect_match reasons "$REASONS" 'primary=answer-too-large'
	expect_lt body-bytes "${#BODY}" 100000
	finish "harden: a gzip bomb (100 MiB decoded) is cut at max_answer_body and the next rung serves"
}

# Passthrough goes to an API's own port only.
h_passthrough_port() {
	local out
	mock_reset
	out=$(curl -sS --unix-socket "$STACK_DIR/llmfb.sock" \
	    -H 'X-Llmfb-Origin: http://api.llmfb.test:22' \
	    -w '%{http_code}' -o "$STACK_DIR/pt.body" \
	    http://api.llmfb.test/v1/models)
	expect_eq port-22-refused "$out" 421
	expect_eq mock-untouched "$(mock_stat default requests)" 0
	out=$(curl -sS --unix-socket "$STACK_DIR/llmfb.sock" \
	    -H 'X-Llmfb-Origin: https://api.llmfb.test:443' \
	    -w '%{http_code}' -o "$STACK_DIR/pt.body" \
	    http://api.llmfb.test/v1/models)
	expect_eq port-443-served "$out" 200
	finish "harden: passthrough only to port 443 (https) or 80 (http) of an intercepted host"
}

# A relay (a program's own TLS, carried untouched) holds its user's place
# as a connection did: one user cannot open more than its share of them.
h_relay_limit() {
	local a b s out n=0 pids=()
	if ! command -v gnutls-cli >/dev/null; then
		skip "harden: relays under the per-user limit" "no gnutls-cli"
		return
	fi
	hd_start relays "max_clients_per_user: 2" "request_timeout: 1m"
	shim_on "$HD/llmfb.sock"
	# Two TLS sessions of gnutls-cli's own, held open by their stdin (a
	# fifo each: bash keeps one coproc at a time). The second starts once
	# the first holds its place, so the first one's admission probe is
	# not still counted when the second asks.
	mkfifo "$HD/in.a" "$HD/in.b"
	for s in a b; do
		env "${SHIM_ENV[@]}" gnutls-cli --x509cafile="$HD/ca.pem" \
		    api.openai.com <"$HD/in.$s" >"$HD/gnutls.$s" 2>&1 &
		pids+=("$!")
		if [ $s = a ]; then exec {a}>"$HD/in.a"; else exec {b}>"$HD/in.b"; fi
		n=$((n + 1))
		wait_for "$n relay(s)" sh -c "[ \"\$('$B/llmfbctl' -s \
		    '$HD/control.sock' --json status | jq .relays)\" = $n ]"
	done
	shim_on
	[ "$(hd_status .relays)" = 2 ] || sed 's/^/# gnutls-cli: /' "$HD"/gnutls.?
	expect_eq relays-open "$(hd_status .relays)" 2
	out=$(/usr/bin/python3 "$RAW" admit "$HD/llmfb.sock")
	expect_eq third-refused "$out" HTTP/1.1_503_Service_Unavailable
	exec {a}>&- {b}>&-
	wait "${pids[@]}" 2>/dev/null
	wait_for "the relays to end" sh -c "[ \"\$('$B/llmfbctl' -s \
	    '$HD/control.sock' --json status | jq .relays)\" = 0 ]"
	expect_eq place-back "$(/usr/bin/python3 "$RAW" admit "$HD/llmfb.sock")" \
	    LLMFB/1_OK
	hd_stop
	finish "harden: relays hold their user's places: a third connection past max_clients_per_user is refused, and the places come back"
}

harden_cases() {
	h_expect_close
	h_timeouts
	h_stop_silent
	h_user_limit
	h_probe_reap
	h_fd_limit
	h_restart_overlap
	h_relay_limit
	h_secrets
	h_own_key_401
	h_gzip_bomb
	h_passthrough_port
}
