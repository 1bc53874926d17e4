# End-to-end tests for unmodified Python programs (issue 3): pyclient.py
# calls https://api.openai.com and https://api.anthropic.com the ordinary
# ways (requests, urllib, http.client, httpx, asyncio, threads, fork)
# under LD_PRELOAD; the shim redirects its connect() to llmfbd and stands
# in for its TLS.  Sourced by run.sh, whose helpers and stack it uses.

# Debian's interpreter: its requests and httpx are the ones deps.sh
# installs, and a python3 earlier on PATH may be another build.
PY=/usr/bin/python3
PYCLIENT=tests/e2e/pyclient.py
# Run the client under this command (the daemon-absent case's namespace).
PY_WRAP=()

# py_call MODE URL [pyclient args...]: one run of the unmodified Python
# client.  Sets OUT (all its lines), PY_RC (its exit status), and from
# its first call (T0): CODE TARGET ATTEMPTS FALLBACK PROVIDER BODY
# FIRST_NS CALL_MS (the call alone, without the interpreter's start-up).
py_call() {
	local mode=$1 url=$2
	shift 2
	rm -rf "$STACK_DIR/out" && mkdir -p "$STACK_DIR/out"
	OUT=$("${PY_WRAP[@]}" env "${SHIM_ENV[@]}" "$PY" "$PYCLIENT" \
	    "$mode" "$url" --body-dir "$STACK_DIR/out" \
	    -H "Authorization: Bearer $CALLER_KEY" \
	    -H "x-api-key: $CALLER_KEY" "$@" 2>"$STACK_DIR/out/err")
	PY_RC=$?
	py_line T0
	BODY=$(cat "$STACK_DIR/out/0.body" 2>/dev/null)
	grep -h -A20 -E 'Sanitizer|runtime error' "$STACK_DIR/out/err" \
	    >>"$STACK_DIR/sanitizer.log" 2>/dev/null || true
}

# py_line Ti: the fields of call i of the last py_call.
py_line() {
	local line s e
	line=$(grep -m1 "^$1 " <<<"$OUT")
	report_fields "$line"
	ISSUER=$(field issuer "$line")
	PID=$(field pid "$line")
	s=$(field start_ns "$line")
	e=$(field end_ns "$line")
	CALL_MS=$(( (${e:-0} - ${s:-0}) / 1000000 ))
}

# py_span: over the calls of the last py_call, SPAN_MS from the first
# start to the last end, and OVERLAP=1 when every call started before any
# ended (they were all in flight at once).
py_span() {
	local line s e min_s="" max_s=0 min_e="" max_e=0
	while read -r line; do
		s=$(field start_ns "$line")
		e=$(field end_ns "$line")
		[ -z "$min_s" ] || [ "$s" -lt "$min_s" ] && min_s=$s
		[ -z "$min_e" ] || [ "$e" -lt "$min_e" ] && min_e=$e
		[ "$s" -gt "$max_s" ] && max_s=$s
		[ "$e" -gt "$max_e" ] && max_e=$e
	done < <(grep '^T' <<<"$OUT")
	SPAN_MS=$(( (max_e - ${min_s:-0}) / 1000000 ))
	OVERLAP=$([ "$max_s" -lt "${min_e:-0}" ] && echo 1 || echo 0)
}

py_count() { grep -c "$1" <<<"$OUT"; }

ctl_accepted() {
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status | jq .accepted
}

# ---- the cases -----------------------------------------------------------

p_requests() {
	mock_reset
	py_call requests "$OAI"
	expect_eq client-exit "$PY_RC" 0
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" primary
	expect_eq fallback "$FALLBACK" 0
	expect_match body "$BODY" '"Hello from primary"'
	expect_eq primary-attempts "$(mock_stat primary requests)" 1
	expect_eq caller-key-to-own-provider \
	    "$(mock_stat primary last_authorization)" "Bearer $CALLER_KEY"
	finish "python: requests: primary answers"
}

# p_stream MODE: a paced stream reaches Python while the mock still sends.
p_stream() {
	local last_ns
	mock_reset
	mock_script primary 'chunks=4 pace_ms=400'
	py_call "$1" "$OAI" --stream --data "$STREAM"
	last_ns=$(mock_stat primary last_chunk_ns)
	expect_eq client-exit "$PY_RC" 0
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" primary
	expect_match events "$BODY" 'data: \[DONE\]'
	expect_ge first-chunk-seen "${FIRST_NS:-0}" 1
	expect_lt "first chunk in Python before mock's last chunk" \
	    "${FIRST_NS:-0}" "$last_ns"
	finish "python: $1: streamed answer reaches the client while it streams"
}

# p_client MODE: the other ordinary ways to make one call.
p_client() {
	mock_reset
	py_call "$1" "$OAI"
	expect_eq client-exit "$PY_RC" 0
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" primary
	expect_match body "$BODY" '"Hello from primary"'
	expect_eq primary-attempts "$(mock_stat primary requests)" 1
	finish "python: $1: primary answers"
}

p_anthropic() {
	mock_reset
	py_call requests "$ANT" --data "$MSG"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" aprimary
	expect_match body "$BODY" '"type":"message"'
	mock_script aprimary 'status=529'
	py_call requests "$ANT" --data "$MSG"
	expect_eq client-exit "$PY_RC" 0
	expect_eq fallback-status "$CODE" 200
	expect_eq fallback-target "$TARGET" asecondary
	expect_eq fallback "$FALLBACK" 1
	expect_match fallback-body "$BODY" '"type":"message"'
	finish "python: requests: api.anthropic.com; 529 -> second rung"
}

p_async() {
	mock_reset
	mock_script primary 'delay_ms=300'
	py_call httpx-async "$OAI" -c 5
	py_span
	expect_eq client-exit "$PY_RC" 0
	expect_eq answered "$(py_count 'code=200 .*target=primary ')" 5
	expect_eq primary-attempts "$(mock_stat primary requests)" 5
	# Five 300 ms answers at once, not one after another.  Timed inside
	# the client: the interpreter's start-up is no part of it.
	expect_lt "time (ms)" "$SPAN_MS" 1500
	expect_eq all-in-flight-at-once "$OVERLAP" 1
	finish "python: httpx async: five calls in flight at once"
}

p_keepalive() {
	local before after
	mock_reset
	before=$(ctl_accepted)
	py_call httpclient "$OAI" -n 3
	after=$(ctl_accepted)
	expect_eq client-exit "$PY_RC" 0
	expect_eq answered "$(py_count 'code=200 .*target=primary ')" 3
	expect_eq primary-attempts "$(mock_stat primary requests)" 3
	# accepted counts every connection to the data socket: the one that
	# carries the three calls, plus the shim's probe (a connect() that
	# checks llmfbd is up before a name is redirected), at most once for
	# the one name.  Three connections would mean no keep-alive.
	expect_ge connections-to-llmfbd "$((after - before))" 1
	expect_lt connections-to-llmfbd "$((after - before))" 3
	finish "python: http.client: three calls on one kept-alive connection"
}

p_ladder() {
	mock_reset
	mock_script primary 'status=503'
	py_call requests "$OAI"
	expect_eq 503-status "$CODE" 200
	expect_eq 503-target "$TARGET" secondary
	expect_eq 503-fallback "$FALLBACK" 1
	expect_eq 503-attempts "$ATTEMPTS" 2
	expect_match 503-body "$BODY" '"Hello from secondary"'
	finish "python: requests: primary 503 -> second rung"

	mock_reset
	py_call requests "$OAI" --data '{"model":"case-refused","messages":[]}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" secondary
	expect_eq fallback "$FALLBACK" 1
	finish "python: requests: primary refuses connections -> second rung"

	mock_reset
	mock_script primary 'delay_ms=5000'
	py_call requests "$OAI"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" secondary
	expect_eq fallback "$FALLBACK" 1
	# first_byte is 800ms in e2e.yaml; the margin allows a loaded box.
	# The call's own time: the interpreter's start-up is no part of it.
	expect_ge "time (ms)" "$CALL_MS" 800
	expect_lt "time (ms)" "$CALL_MS" 2500
	finish "python: requests: primary hangs past first-byte timeout -> second rung"

	mock_reset
	mock_script primary 'status=503'
	mock_script secondary 'status=500'
	py_call requests "$OAI"
	expect_eq client-exit "$PY_RC" 0
	expect_eq status "$CODE" 503
	expect_eq target "$TARGET" none
	expect_match openai-error-shape "$(jq -r .error.message <<<"$BODY")" \
	    'no target could serve'
	expect_lt "time (ms)" "$CALL_MS" 2000
	finish "python: requests: every rung fails -> safe failure (OpenAI shape)"
}

p_fork() {
	local pid0 pid1 pid2
	mock_reset
	py_call fork "$OAI"
	pid0=$PID
	expect_eq before-fork "$CODE" 200
	py_line T1
	pid1=$PID
	expect_eq child-status "$CODE" 200
	expect_eq child-target "$TARGET" primary
	py_line T2
	pid2=$PID
	expect_eq parent-status "$CODE" 200
	expect_eq parent-target "$TARGET" primary
	expect_eq client-exit "$PY_RC" 0
	expect_eq parent-is-parent "$pid2" "$pid0"
	[ -n "$pid1" ] && [ "$pid1" != "$pid2" ] ||
	    ERRS="$ERRS; child pid '$pid1' is not a process of its own"
	expect_eq primary-attempts "$(mock_stat primary requests)" 3
	finish "python: fork: parent and child both call after the fork"
}

p_threads() {
	mock_reset
	py_call threads "$OAI" -t 8 -n 20
	expect_eq client-exit "$PY_RC" 0
	expect_eq summary "$(grep '^SUMMARY' <<<"$OUT")" \
	    "SUMMARY ok=160 total=160"
	expect_eq primary-attempts "$(mock_stat primary requests)" 160
	finish "python: threads: 8 threads x 20 calls"
}

p_daemon_absent() {
	local hostsdir=$STACK_DIR/absent why=""
	local url="https://api.openai.com:$MOCK_PORT/v1/chat/completions"
	# api.openai.com must reach the mock without the shim: a hosts file
	# bound over /etc/hosts in a mount namespace of the client's own.
	{ cat /etc/hosts; echo "127.0.0.1 api.openai.com"; } >"$STACK_DIR/hosts"
	# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
	PY_WRAP=(unshare --mount sh -c \
	    'mount --bind "$0" /etc/hosts && exec "$@"' "$STACK_DIR/hosts")
	if [ "$(id -u)" != 0 ]; then
		why="not root"
	elif [ "$("${PY_WRAP[@]}" getent hosts api.openai.com 2>/dev/null |
	    cut -d' ' -f1)" != 127.0.0.1 ]; then
		why="no private /etc/hosts (unshare --mount or mount --bind failed)"
	fi
	if [ -n "$why" ]; then
		PY_WRAP=()
		skip "python: daemon absent" "$why"
		return
	fi
	mkdir -p "$hostsdir"
	# The shim is told to intercept, but no daemon listens there.
	echo api.openai.com >"$hostsdir/llmfb.sock.hosts"
	mock_reset
	SHIM_ENV=()
	py_call requests "$url" --cacert "$STACK_DIR/certs/ca.pem"
	expect_eq no-shim-status "$CODE" 200
	expect_eq no-shim-served-directly "$PROVIDER" default
	expect_eq no-shim-no-llmfb-headers "$TARGET" -
	shim_on "$hostsdir/llmfb.sock"
	py_call requests "$url" --cacert "$STACK_DIR/certs/ca.pem"
	shim_on
	PY_WRAP=()
	expect_eq client-exit "$PY_RC" 0
	expect_eq status "$CODE" 200
	expect_eq served-directly "$PROVIDER" default
	expect_eq no-llmfb-headers "$TARGET" -
	expect_eq direct-attempts "$(mock_stat default requests)" 2
	finish "python: daemon absent -> the call goes out as without the shim"
}

p_tls_other() {
	mock_reset
	py_call tls-other "$OAI" --other "$MOCK_URL/_mock/stats" \
	    --cacert "$STACK_DIR/certs/ca.pem"
	expect_eq client-exit "$PY_RC" 0
	expect_eq llm-status "$CODE" 200
	expect_eq llm-target "$TARGET" primary
	py_line T1
	expect_eq other-status "$CODE" 200
	expect_eq other-not-routed "$TARGET" -
	# Real TLS, verified against the test CA (pyclient percent-encodes
	# the spaces of "llmfb test CA", see tests/gen-certs.sh).
	expect_eq other-issuer "$ISSUER" 'llmfb%20test%20CA'
	finish "python: TLS to a host that is not intercepted is untouched"
}

p_plain_http() {
	mock_reset
	py_call httpclient http://api.openai.com/v1/chat/completions
	expect_eq client-exit "$PY_RC" 0
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" primary
	expect_eq primary-attempts "$(mock_stat primary requests)" 1
	finish "python: http.client: plain http:// to an intercepted host"
}

python_cases() {
	local m
	p_requests
	p_stream requests
	for m in urllib httpclient httpx; do
		p_client "$m"
	done
	p_stream httpx
	p_anthropic
	p_async
	p_keepalive
	p_ladder
	p_fork
	p_threads
	p_daemon_absent
	p_tls_other
	p_plain_http
}
