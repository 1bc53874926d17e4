#!/bin/bash
# End-to-end tests: real, unmodified clients (the curl CLI, and lcclient,
# an ordinary libcurl program in easy and multi mode) call
# https://api.openai.com and https://api.anthropic.com under LD_PRELOAD;
# the shim hands the calls to a real llmfbd on a Unix socket, which walks
# its ladder over real HTTPS to the mock provider.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
# E2E_HOSTS=debian: the run, in a mount namespace of its own, with the
# /etc/hosts of a stock Debian 12 (localhost is ::1 first), so that no
# case can lean on this machine's (issue 24).  Root only.
if [ "${E2E_HOSTS:-}" = debian ] && [ -z "${E2E_HOSTS_IN:-}" ]; then
	hosts=$(mktemp)
	printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n' \
	    "$(hostname)" >"$hosts"
	chmod 0644 "$hosts"	# read by the cases that run as nobody
	E2E_HOSTS_IN=1 exec unshare -m sh -c 'mount --bind "$1" /etc/hosts &&
	    rm -f "$1" && shift && exec "$@"' sh "$hosts" "$0" "$@"
fi
. tests/e2e/stack.sh
. tests/e2e/python.sh
. tests/e2e/guest.sh
. tests/e2e/ladder.sh
. tests/e2e/dialect.sh
. tests/e2e/observe.sh
. tests/e2e/top.sh
. tests/e2e/kernel.sh
. tests/e2e/deploy.sh
. tests/e2e/deb.sh
. tests/e2e/nspawn.sh
. tests/e2e/harden.sh
. tests/e2e/reach.sh
. tests/e2e/providers.sh
. tests/e2e/ca.sh
. tests/e2e/fleet.sh
. tests/e2e/otel.sh

PASS=0
FAIL=0
SKIP=0
ERRS=""
CALLER_KEY="sk-caller-secret-0123"
export LLMFB_TEST_BACKUP_KEY="sk-backup-from-config"
export LLMFB_TEST_ABACKUP_KEY="sk-ant-backup-from-config"
export LLMFB_TEST_AZURE_KEY="azure-key-from-config-0123"
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
STREAM='{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}'
MSG='{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
OAI=https://api.openai.com/v1/chat/completions
ANT=https://api.anthropic.com/v1/messages

# ---- assertions: a case passes when all its expectations hold ----------

expect_eq() {	# what got want
	[ "$2" == "$3" ] || ERRS="$ERRS; $1: got '$2', want '$3'"
}
expect_match() {	# what text regex
	[[ "$2" =~ $3 ]] || ERRS="$ERRS; $1: '${2:0:200}' does not match /$3/"
}
expect_lt() {	# what got limit
	[ "$2" -lt "$3" ] 2>/dev/null || ERRS="$ERRS; $1: $2 is not below $3"
}
expect_ge() {	# what got floor
	[ "$2" -ge "$3" ] 2>/dev/null || ERRS="$ERRS; $1: $2 is below $3"
}
# skip NAME WHY: a case that cannot run here says so, by name.
skip() {
	SKIP=$((SKIP + 1))
	echo "skip - $1 ($2)"
}
finish() {
	if [ -z "$ERRS" ]; then
		PASS=$((PASS + 1))
		echo "ok - $1"
	else
		FAIL=$((FAIL + 1))
		echo "FAIL - $1${ERRS}"
	fi
	ERRS=""
}

ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- clients -------------------------------------------------------------

SHIM_ENV=()
shim_on() {
	SHIM_ENV=(LD_PRELOAD="$B/libllmfb.so"
	    LLMFB_SOCKET="${1:-$STACK_DIR/llmfb.sock}")
	# A sanitized shim in a sanitized client: the runtime is the
	# client's own, loaded after the preload.
	[ -z "${LLMFB_TEST_SANITIZED:-}" ] ||
	    SHIM_ENV+=(ASAN_OPTIONS=verify_asan_link_order=0)
}

# call KIND URL DATA [client args...]: one call by an unmodified client.
# Sets CODE TARGET ATTEMPTS FALLBACK PROVIDER EFFURL BODY ELAPSED FIRST_NS
# REASONS RETRY_AFTER.
call() {
	local kind=$1 url=$2 data=$3 t0 line
	shift 3
	rm -rf "$STACK_DIR/out" && mkdir -p "$STACK_DIR/out"
	t0=$(ms_now)
	case $kind in
	curl)
		env "${SHIM_ENV[@]}" curl -sS -D "$STACK_DIR/out/h" \
		    -o "$STACK_DIR/out/0.body" -w '%{http_code} %{url_effective}' \
		    -H "Authorization: Bearer $CALLER_KEY" \
		    -H "x-api-key: $CALLER_KEY" \
		    -H 'Content-Type: application/json' \
		    "$@" ${data:+-d "$data"} "$url" >"$STACK_DIR/out/w" \
		    2>"$STACK_DIR/out/err"
		read -r CODE EFFURL <"$STACK_DIR/out/w"
		TARGET=$(hdr x-llmfb-target)
		ATTEMPTS=$(hdr x-llmfb-attempts)
		FALLBACK=$(hdr x-llmfb-fallback)
		PROVIDER=$(hdr x-mock-provider)
		REASONS=$(hdr x-llmfb-reasons)
		RETRY_AFTER=$(hdr retry-after)
		FIRST_NS=0
		;;
	easy|multi)
		line=$(env "${SHIM_ENV[@]}" "$B/lcclient" --mode "$kind" \
		    --body-dir "$STACK_DIR/out" \
		    -H "Authorization: Bearer $CALLER_KEY" \
		    -H "x-api-key: $CALLER_KEY" \
		    "$@" ${data:+--data "$data"} "$url" 2>"$STACK_DIR/out/err")
		report_fields "$line"
		EFFURL=$(field url "$line")
		;;
	esac
	ELAPSED=$(( $(ms_now) - t0 ))
	BODY=$(cat "$STACK_DIR/out/0.body" 2>/dev/null)
	# Sanitizer reports from the shim inside the client, kept for the end.
	grep -h -A20 -E 'Sanitizer|runtime error' "$STACK_DIR/out/err" \
	    >>"$STACK_DIR/sanitizer.log" 2>/dev/null || true
}

hdr() {
	local v
	v=$(grep -i "^$1:" "$STACK_DIR/out/h" 2>/dev/null | tail -1 |
	    cut -d: -f2- | tr -d '\r' | sed 's/^ *//')
	echo "${v:--}"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# report_fields LINE: the fields every test client's report line has in
# common (lcclient's and pyclient's "T<i> code=... target=..." lines).
report_fields() {
	CODE=$(field code "$1")
	TARGET=$(field target "$1")
	ATTEMPTS=$(field attempts "$1")
	FALLBACK=$(field fallback "$1")
	PROVIDER=$(field provider "$1")
	FIRST_NS=$(field first_ns "$1")
	REASONS=$(field reasons "$1")
	RETRY_AFTER=$(field retry_after "$1")
}

KINDS="curl easy multi"
# Debian's curl hangs with a sanitizer runtime preloaded; lcclient covers
# libcurl there.
NO_CURL=""
[ -z "${LLMFB_TEST_SANITIZED:-}" ] ||
	NO_CURL="sanitized build: Debian's curl hangs with the ASan runtime preloaded"

# ---- the cases -----------------------------------------------------------

t_primary_answers() {
	mock_reset
	call "$1" "$OAI" "$CHAT"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" primary
	expect_eq fallback "$FALLBACK" 0
	expect_eq effective-url "$EFFURL" "$OAI"
	expect_match body "$BODY" '"Hello from primary"'
	expect_eq primary-attempts "$(mock_stat primary requests)" 1
	expect_eq caller-key-to-own-provider \
	    "$(mock_stat primary last_authorization)" "Bearer $CALLER_KEY"
	finish "$1: primary answers"
}

t_primary_503() {
	mock_reset
	mock_script primary 'status=503'
	call "$1" "$OAI" "$CHAT"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" secondary
	expect_eq fallback "$FALLBACK" 1
	expect_eq attempts "$ATTEMPTS" 2
	expect_match body "$BODY" '"Hello from secondary"'
	expect_match served-model "$BODY" '"model":"backup-model"'
	expect_eq primary-attempts "$(mock_stat primary requests)" 1
	expect_eq secondary-attempts "$(mock_stat secondary requests)" 1
	expect_eq config-key-to-other-provider \
	    "$(mock_stat secondary last_authorization)" \
	    "Bearer $LLMFB_TEST_BACKUP_KEY"
	expect_eq no-caller-key-elsewhere \
	    "$(mock_str secondary last_x_api_key)" null
	finish "$1: primary 503 -> second rung"
}

t_refused() {
	mock_reset
	call "$1" "$OAI" '{"model":"case-refused","messages":[]}'
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" secondary
	expect_eq fallback "$FALLBACK" 1
	expect_eq attempts "$ATTEMPTS" 2
	expect_eq secondary-attempts "$(mock_stat secondary requests)" 1
	finish "$1: primary refuses connections -> second rung"
}

t_hang() {
	mock_reset
	mock_script primary 'delay_ms=5000'
	call "$1" "$OAI" "$CHAT"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" secondary
	expect_eq fallback "$FALLBACK" 1
	# first_byte is 800ms in e2e.yaml; the margin allows a loaded box.
	expect_ge "time (ms)" "$ELAPSED" 800
	expect_lt "time (ms)" "$ELAPSED" 2500
	expect_eq primary-attempts "$(mock_stat primary requests)" 1
	expect_eq secondary-attempts "$(mock_stat secondary requests)" 1
	finish "$1: primary hangs past first-byte timeout -> second rung"
}

t_all_fail() {
	mock_reset
	mock_script primary 'status=503'
	mock_script secondary 'status=500'
	call "$1" "$OAI" "$CHAT"
	expect_eq status "$CODE" 503
	expect_eq target "$TARGET" none
	expect_match openai-error-shape "$(jq -r .error.message <<<"$BODY")" \
	    'no target could serve'
	expect_lt "time (ms)" "$ELAPSED" 2000
	expect_eq primary-attempts "$(mock_stat primary requests)" 1
	expect_eq secondary-attempts "$(mock_stat secondary requests)" 1
	finish "$1: every rung fails -> safe failure (OpenAI shape)"
}

t_anthropic() {
	mock_reset
	mock_script aprimary 'status=529'
	call "$1" "$ANT" "$MSG"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" asecondary
	expect_eq fallback "$FALLBACK" 1
	expect_match body "$BODY" '"type":"message"'
	expect_eq config-key-to-other-provider \
	    "$(mock_stat asecondary last_x_api_key)" "$LLMFB_TEST_ABACKUP_KEY"
	mock_script asecondary 'status=503'
	call "$1" "$ANT" "$MSG"
	expect_eq all-fail-status "$CODE" 503
	expect_eq anthropic-error-shape "$(jq -r .type <<<"$BODY")" error
	# 503, as docs/dialects.md maps it: what Anthropic says when it
	# cannot take a request now.
	expect_eq anthropic-error-type "$(jq -r .error.type <<<"$BODY")" \
	    overloaded_error
	expect_match anthropic-error-message \
	    "$(jq -r .error.message <<<"$BODY")" 'no target could serve'
	finish "$1: api.anthropic.com: 529 -> second rung; all fail (Anthropic shape)"
}

t_stream() {
	local first_ns last_ns
	mock_reset
	mock_script primary 'chunks=4 pace_ms=400'
	if [ "$1" == curl ]; then
		# Stamp each line as it reaches the unmodified curl's stdout.
		first_ns=$(env "${SHIM_ENV[@]}" curl -sS -N \
		    -H 'Content-Type: application/json' -d "$STREAM" "$OAI" |
		    { first=""; while IFS= read -r l; do
			[ -z "$first" ] && [ -n "$l" ] &&
			    first="${EPOCHREALTIME/./}000"
		    done; echo "$first"; })
		CODE=200
	else
		call "$1" "$OAI" "$STREAM"
		first_ns=$FIRST_NS
		expect_match events "$BODY" 'data: \[DONE\]'
	fi
	last_ns=$(mock_stat primary last_chunk_ns)
	expect_eq status "$CODE" 200
	expect_ge first-chunk-seen "${first_ns:-0}" 1
	expect_lt "first chunk at client before mock's last chunk" \
	    "${first_ns:-0}" "$last_ns"
	finish "$1: streamed answer reaches the client while it streams"
}

t_stream_coalesced() {
	# 200 chunks sent back to back: llmfbd sends the client what one
	# loop turn read in one write (the turn's first piece at once, the
	# rest when the turn is done), not one write per upstream TLS record.
	# Its writes to the client, seen by strace: about 200 before.  The
	# response head goes in the same write as the first chunk (it was a
	# write of its own, and a wake-up of the client of its own).
	local spid n head
	if ! command -v strace >/dev/null; then
		skip "stream writes coalesced" "no strace"
		return
	fi
	mock_reset
	mock_script primary 'chunks=200'
	strace -f -e trace=sendto -e signal=none -s 1024 -o "$STACK_DIR/st" \
	    -p "$DAEMON_PID" 2>"$STACK_DIR/st.err" &
	spid=$!
	wait_for "strace attached" grep -q attached "$STACK_DIR/st.err"
	BODY=$(curl -sS --unix-socket "$STACK_DIR/llmfb.sock" \
	    -H 'Content-Type: application/json' -d "$STREAM" \
	    http://api.openai.com/v1/chat/completions)
	kill "$spid"
	wait "$spid" 2>/dev/null || true
	n=$(grep -c 'sendto(.*data: ' "$STACK_DIR/st")
	head=$(grep -m1 'sendto(.*HTTP/1.1 200' "$STACK_DIR/st" || true)
	expect_match all-there "$BODY" 'data: \[DONE\]'
	expect_eq content-pieces "$(grep -c '"content":"' <<<"$BODY")" 200
	expect_ge writes "$n" 1
	expect_lt writes "$n" 100
	expect_match head-with-first-chunk "$head" 'HTTP/1.1 200.*data: '
	finish "a burst of 200 stream chunks reaches the client in few writes ($n)"
}

t_ca_read_once() {
	# 20 streams at once, each on a new upstream connection: llmfbd
	# reads its CA file once, not once per connection.  libcurl keeps
	# the store of a CA file only where no CA directory is set, and
	# Debian's libcurl sets one: every connection parsed the file again
	# and held a store of its own (with the system bundle, about 900 KiB
	# per open stream instead of 90; issue 25).
	local spid held hold_pid n
	if ! command -v strace >/dev/null; then
		skip "CA file read once" "no strace"
		return
	fi
	mock_reset
	mock_script primary 'chunks=2 pace_ms=20000'
	strace -f -e trace=openat -e signal=none -o "$STACK_DIR/ca.st" \
	    -p "$DAEMON_PID" 2>"$STACK_DIR/ca.err" &
	spid=$!
	wait_for "strace attached" grep -q attached "$STACK_DIR/ca.err"
	coproc HOLD { /usr/bin/python3 bench/peers.py hold \
	    "unix:$STACK_DIR/llmfb.sock" /v1/chat/completions 20; }
	hold_pid=$HOLD_PID
	read -r held <&"${HOLD[0]}" || held=
	echo >&"${HOLD[1]}"
	wait "$hold_pid" 2>/dev/null || true
	kill "$spid"
	wait "$spid" 2>/dev/null || true
	n=$(grep -c 'certs/ca.pem' "$STACK_DIR/ca.st" || true)
	expect_eq held "$held" "held 20"
	expect_ge primary-requests "$(mock_stat primary requests)" 20
	expect_lt ca-file-opens "$n" 2
	mock_reset
	finish "20 new upstream connections read the CA file once ($n opens)"
}

t_burst_memory() {
	# 300 streams at once, then none: llmfbd gives back what they held
	# (server_trim, 200 ms after a burst).  Without it glibc kept most
	# of it: RSS grew from burst to burst (issue 25).
	local base held rss i hold_pid
	if [ -n "${LLMFB_TEST_SANITIZED:-}" ]; then
		skip t_burst_memory "sanitized build: ASan's allocator keeps freed memory in quarantine, so RSS does not fall"
		return
	fi
	rss_now() { awk '/VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
	mock_reset
	mock_script primary 'chunks=2 pace_ms=20000'
	base=$(rss_now)
	coproc HOLD { /usr/bin/python3 bench/peers.py hold \
	    "unix:$STACK_DIR/llmfb.sock" /v1/chat/completions 300; }
	hold_pid=$HOLD_PID
	read -r held <&"${HOLD[0]}" || held=
	rss=$(rss_now)
	echo >&"${HOLD[1]}"
	wait "$hold_pid" 2>/dev/null || true
	expect_eq held "$held" "held 300"
	expect_ge grew-kib "$((rss - base))" 10000
	# Back to within a quarter of the growth, within 5 s.
	for i in $(seq 50); do
		[ "$(rss_now)" -le $((base + (rss - base) / 4)) ] && break
		sleep 0.1
	done
	expect_lt rss-after-kib "$(rss_now)" $((base + (rss - base) / 4 + 1))
	mock_reset
	finish "memory held by 300 streams is given back once they end ($base -> $rss -> $(rss_now) KiB)"
}

t_daemon_absent() {
	local hostsdir=$STACK_DIR/absent
	mkdir -p "$hostsdir"
	# The shim is told to intercept, but no daemon listens there.
	echo api.openai.com >"$hostsdir/llmfb.sock.hosts"
	mock_reset
	shim_on "$hostsdir/llmfb.sock"
	call "$1" "https://api.openai.com:$MOCK_PORT/v1/chat/completions" \
	    "$CHAT" --cacert "$STACK_DIR/certs/ca.pem" \
	    --resolve "api.openai.com:$MOCK_PORT:127.0.0.1"
	shim_on
	expect_eq status "$CODE" 200
	expect_eq served-directly "$PROVIDER" default
	expect_eq no-llmfb-headers "$TARGET" -
	expect_eq effective-url "$EFFURL" \
	    "https://api.openai.com:$MOCK_PORT/v1/chat/completions"
	expect_eq direct-attempts "$(mock_stat default requests)" 1
	finish "$1: daemon absent -> the call goes out as without the shim"
}

t_keepalive_admit() {
	# Three calls on one libcurl handle: one connection to llmfbd, kept
	# alive, and nothing else.  The connection is its own admission (the
	# shim's libcurl layer asks llmfbd on it before libcurl uses it); a
	# probe connection per call would make four.
	local before after line
	accepted() {
		"$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
		    jq .accepted
	}
	mock_reset
	before=$(accepted)
	line=$(env "${SHIM_ENV[@]}" "$B/lcclient" --mode easy \
	    -H "Authorization: Bearer $CALLER_KEY" --data "$CHAT" \
	    "$OAI" "$OAI" "$OAI" 2>/dev/null)
	after=$(accepted)
	expect_eq answered "$(grep -c 'code=200 .*target=primary ' <<<"$line")" 3
	expect_eq primary-attempts "$(mock_stat primary requests)" 3
	expect_eq connections-to-llmfbd "$((after - before))" 1
	finish "libcurl: three calls, one kept-alive connection to llmfbd, no probe"
}

t_passthrough() {
	mock_reset
	call "$1" https://api.llmfb.test/v1/chat/completions "$CHAT"
	expect_eq status "$CODE" 200
	expect_eq original-host-served "$PROVIDER" default
	expect_eq no-ladder "$TARGET" -
	expect_eq effective-url "$EFFURL" \
	    https://api.llmfb.test/v1/chat/completions
	expect_eq attempts "$(mock_stat default requests)" 1
	expect_eq caller-key-to-own-host \
	    "$(mock_stat default last_authorization)" "Bearer $CALLER_KEY"
	finish "$1: intercepted host with no route -> passthrough"
}

t_not_llm() {
	# A call the shim has no business with is left alone entirely.
	mock_reset
	call "$1" "$MOCK_URL/v1/models" '{}' --cacert "$STACK_DIR/certs/ca.pem"
	expect_eq status "$CODE" 200
	expect_eq direct "$PROVIDER" default
	expect_eq no-llmfb-headers "$TARGET" -
	finish "$1: a host that is not intercepted is untouched"
}

t_hsts() {
	# The libcurl layer leaves a handle with an HSTS cache file alone;
	# such a call still reaches llmfb, a layer lower: curl resolves and
	# connects (redirected), and its TLS session, over curl's own BIO,
	# is virtual.
	mock_reset
	rm -f "$STACK_DIR/hsts"
	call curl "$OAI" "$CHAT" --hsts "$STACK_DIR/hsts"
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" primary
	expect_eq effective-url "$EFFURL" "$OAI"
	expect_eq primary-attempts "$(mock_stat primary requests)" 1
	finish "curl: a handle the libcurl layer leaves alone (--hsts) still goes through llmfb"
}

t_retry_after() {
	# Short (under retry_after_max, 1s by default): wait, same rung.
	mock_reset
	mock_script primary 'status=429 retry_after_ms=300' 'status=200'
	call easy "$OAI" "$CHAT"
	expect_eq short-status "$CODE" 200
	expect_eq short-served-by-same-rung "$TARGET" primary
	expect_eq short-attempts "$ATTEMPTS" 2
	expect_eq short-primary-requests "$(mock_stat primary requests)" 2
	expect_ge "short: waited (ms)" "$ELAPSED" 300
	# Long: no waiting 30 s; the next rung at once.
	mock_reset
	mock_script primary 'status=429 retry_after=30'
	call easy "$OAI" "$CHAT"
	expect_eq long-status "$CODE" 200
	expect_eq long-served-by-next-rung "$TARGET" secondary
	expect_eq long-primary-requests "$(mock_stat primary requests)" 1
	expect_lt "long: did not wait (ms)" "$ELAPSED" 2000
	# That 429 keeps primary passed over for 30 s (its rate limit);
	# llmfbctl reset forgets it, and primary serves at once.
	call easy "$OAI" "$CHAT"
	expect_eq held-back "$TARGET $REASONS" "secondary primary=rate-limit"
	mock_reset
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" reset primary >/dev/null
	call easy "$OAI" "$CHAT"
	expect_eq after-reset "$TARGET $REASONS" "primary -"
	finish "429 with Retry-After: a short wait is waited on the same rung, a long one moves on"
}

# breaker_get TARGET FIELD: a field of its breaker, as llmfbctl status says.
breaker_get() {
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq -r --arg t "$1" --arg f "$2" \
	    '.targets[] | select(.name == $t) | .breaker[$f]'
}
breaker_state() { breaker_get "$1" state; }
breaker_is() { [ "$(breaker_state "$1")" == "$2" ]; }

# A breaker's rules are about time: it half-opens a cooldown after it
# opened, and a probe holds its place for a cooldown at most.  So that no
# expectation here depends on how fast a loaded machine runs the case,
# flaky (e2e.yaml) has a cooldown that outlasts the case: it is open for
# as long as the case says, and the Retry-After is checked against what
# llmfbctl status says is left.  probed has a cooldown of 2 s, waited for
# by polling its state; its three half-open calls leave one lcclient
# together (multi mode), so that llmfbd decides all three within
# milliseconds, while the probe, held 2 s at the mock, is out.
t_breaker() {
	local data='{"model":"case-breaker","messages":[]}' i out left opens
	local probe='{"model":"case-breaker-probe","messages":[]}'
	mock_reset
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" reset flaky >/dev/null
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" reset probed >/dev/null
	mock_script flaky 'status=503'
	for i in 1 2 3; do
		call easy "$OAI" "$data"
		expect_eq "call $i served by the next rung" "$TARGET" secondary
	done
	expect_eq flaky-attempts-before-open "$(mock_stat flaky requests)" 3
	expect_eq state-after-3-failures "$(breaker_state flaky)" open
	# Open: the rung is passed over, at no attempt.
	call easy "$OAI" "$data"
	expect_eq open-served-by "$TARGET" secondary
	expect_eq open-no-attempt "$(mock_stat flaky requests)" 3
	expect_match open-reason "$REASONS" 'flaky=breaker-open'
	# Nothing qualifies: the safe failure says when to come back, that
	# is when flaky half-opens: no sooner than status says now, no later
	# than its cooldown (10 minutes).
	mock_script secondary 'status=500'
	call easy "$OAI" "$data"
	left=$(breaker_get flaky half_open_in_ms)
	expect_eq safe-failure "$CODE" 503
	expect_ge retry-after-from-breaker "$RETRY_AFTER" \
	    $(( (left + 999) / 1000 ))
	expect_lt retry-after-within-cooldown "$RETRY_AFTER" 601
	expect_eq still-open "$(breaker_state flaky)" open
	mock_script secondary 'status=200'
	# By hand: reset closes it; tripped, it stays open until reset (no
	# cooldown ends it) and costs no attempt.
	mock_script flaky 'status=200'
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" reset flaky >/dev/null
	call easy "$OAI" "$data"
	expect_eq reset-served-by "$TARGET" flaky
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" trip flaky >/dev/null
	call easy "$OAI" "$data"
	expect_eq tripped-served-by "$TARGET" secondary
	expect_eq tripped-state "$(breaker_state flaky)" open
	expect_eq tripped-until-reset "$(breaker_get flaky half_open_in_ms)" -1
	expect_eq tripped-no-attempt "$(mock_stat flaky requests)" 4
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" reset flaky >/dev/null
	call easy "$OAI" "$data"
	expect_eq reset-again-served-by "$TARGET" flaky
	# Half-open: one failure opens probed; after its cooldown, of three
	# calls at once exactly one is the probe (held 2 s at the mock) and
	# the other two go straight to the next rung.
	opens=$(breaker_get probed opens)
	mock_script probed 'status=503' 'status=200 delay_ms=2s' 'status=200'
	call easy "$OAI" "$probe"
	expect_eq probed-failed-over "$TARGET" secondary
	expect_eq probed-opened "$(breaker_get probed opens)" $((opens + 1))
	wait_for "probed half-open" breaker_is probed half-open
	out=$(env "${SHIM_ENV[@]}" "$B/lcclient" --mode multi \
	    -H "Authorization: Bearer $CALLER_KEY" --data "$probe" \
	    "$OAI" "$OAI" "$OAI")
	expect_eq probes "$(mock_stat probed requests)" 2
	expect_eq probe-served "$(grep -c 'code=200 .*target=probed ' \
	    <<<"$out")" 1
	expect_eq others-served-by-next "$(grep -c \
	    'code=200 .*target=secondary .*reasons=probed=breaker-open' \
	    <<<"$out")" 2
	expect_eq closed-after-probe "$(breaker_state probed)" closed
	expect_eq unknown-target "$("$B/llmfbctl" -s "$STACK_DIR/control.sock" \
	    trip nosuch 2>&1; echo "rc=$?")" \
	    "llmfbctl: trip nosuch: no such target"$'\n'"rc=1"
	finish "breaker: opens after 3 failures, costs no attempt, half-opens to one probe, trips and resets by hand"
}

t_big_body() {
	local f=$STACK_DIR/big.json size
	mock_reset
	{
		printf '{"model":"gpt-4o","messages":[{"role":"user","content":"'
		head -c 1200000 /dev/zero | tr '\0' a
		printf '"}]}'
	} >"$f"
	size=$(stat -c %s "$f")
	if [ "$1" == curl ]; then
		call curl "$OAI" "@$f"
	else
		call "$1" "$OAI" "" --data-file "$f"
	fi
	expect_eq status "$CODE" 200
	expect_eq target "$TARGET" primary
	expect_eq bytes-at-provider "$(mock_stat primary last_body_bytes)" "$size"
	finish "$1: request body over 1 MB ($size bytes)"
}

t_parallel() {
	local out n urls=""
	mock_reset
	mock_script primary 'delay_ms=400'
	if [ "$1" == curl ]; then
		local t0; t0=$(ms_now)
		out=$(env "${SHIM_ENV[@]}" curl -sS --no-progress-meter -Z --parallel-max 8 \
		    -H 'Content-Type: application/json' -d "$CHAT" \
		    -w '%{http_code} %header{x-llmfb-target}\n' -o /dev/null \
		    "$OAI" -o /dev/null "$OAI" -o /dev/null "$OAI" \
		    -o /dev/null "$OAI")
		ELAPSED=$(( $(ms_now) - t0 ))
		n=$(grep -c '^200 primary$' <<<"$out")
	else
		local t0; t0=$(ms_now)
		out=$(env "${SHIM_ENV[@]}" "$B/lcclient" --mode "$1" \
		    --data "$CHAT" "$OAI" "$OAI" "$OAI" "$OAI")
		ELAPSED=$(( $(ms_now) - t0 ))
		n=$(grep -c 'code=200 .* target=primary' <<<"$out")
	fi
	expect_eq answered "$n" 4
	expect_eq primary-attempts "$(mock_stat primary requests)" 4
	if [ "$1" != easy ]; then
		# Four 400 ms answers at once, not one after another.
		expect_lt "time (ms)" "$ELAPSED" 1400
	fi
	finish "$1: four calls in one run ($([ "$1" == easy ] &&
	    echo 'one handle, kept alive' || echo 'at once'))"
}

first_call_seen() { [ "$(mock_stat default requests)" == 1 ]; }

t_hosts_change() {
	# A running program picks up a new intercepted host from a reload,
	# without restarting: curl --rate spaces two calls 3 s apart.
	local cfg=$STACK_DIR/llmfb.yaml url=https://late.llmfb.test/v1/chat/completions
	mock_reset
	env "${SHIM_ENV[@]}" curl -sS --no-progress-meter --rate 20/m \
	    --cacert "$STACK_DIR/certs/ca.pem" \
	    --connect-to \
	    "late.llmfb.test:443:127.0.0.1:$MOCK_PORT" -D "$STACK_DIR/late.h" \
	    -o /dev/null -o /dev/null "$url" "$url" &
	local pid=$!
	wait_for "the first call" first_call_seen
	cp "$cfg" "$cfg.orig"
	sed -i -e 's/^intercept:/intercept:\n  - late.llmfb.test/' \
	    -e "s/^  connect_to:/  connect_to:\n    - \"late.llmfb.test:443:127.0.0.1:$MOCK_PORT\"/" \
	    "$cfg"
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" reload >/dev/null
	wait "$pid"
	expect_eq calls-served "$(mock_stat default requests)" 2
	expect_eq first-direct-second-through-llmfb \
	    "$(grep -ci '^x-llmfb-passthrough: 1' "$STACK_DIR/late.h")" 1
	mv "$cfg.orig" "$cfg"
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" reload >/dev/null
	finish "curl: a host added by reload is intercepted by a running program"
}

# raw REQUEST: send bytes to the daemon's socket as they are, print the
# status line of the answer ("closed" when it closed without one).
raw() {
	/usr/bin/python3 - "$STACK_DIR/llmfb.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode().decode('unicode_escape').encode('latin-1'))
data = b''
try:
    while b'\r\n' not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    print('hung'); sys.exit()
print(data.split(b'\r\n')[0].decode() if data else 'closed')
PY
}

t_malformed() {
	expect_eq garbage "$(raw 'HELLO THERE\r\n\r\n')" \
	    'HTTP/1.1 400 Bad Request'
	expect_eq bad-chunking "$(raw 'POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')" \
	    'HTTP/1.1 400 Bad Request'
	expect_eq body-too-large "$(raw 'POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 999999999999\r\n\r\n')" \
	    'HTTP/1.1 413 Content Too Large'
	expect_eq odd-expectation "$(raw 'POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nExpect: magic\r\nContent-Length: 2\r\n\r\n')" \
	    'HTTP/1.1 417 Expectation Failed'
	expect_eq absolute-target "$(raw 'GET http://evil.example/ HTTP/1.1\r\nHost: api.openai.com\r\n\r\n')" \
	    'HTTP/1.1 400 Bad Request'
	call curl "$OAI" '{"model": '
	expect_eq bad-json "$CODE" 400
	expect_match bad-json-shape "$(jq -r .error.message <<<"$BODY")" \
	    'not a JSON object'
	call curl "$ANT" '[1,2]'
	expect_eq anthropic-shape "$(jq -r .type <<<"$BODY")" error
	expect_eq still-serving "$(raw 'GET /v1/models HTTP/1.1\r\nHost: api.llmfb.test\r\nConnection: close\r\n\r\n')" \
	    'HTTP/1.1 200 OK'
	finish "malformed requests get protocol-correct errors; llmfbd keeps serving"
}

t_status() {
	local st
	st=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status)
	expect_eq config "$(jq -r .config <<<"$st")" "$STACK_DIR/llmfb.yaml"
	expect_ge calls "$(jq -r .calls <<<"$st")" 10
	expect_ge chat-fallbacks \
	    "$(jq -r '.routes[]|select(.name=="chat")|.fallbacks' <<<"$st")" 3
	expect_eq ladder \
	    "$(jq -r '.routes[]|select(.name=="chat")|.ladder|join(">")' <<<"$st")" \
	    "primary>secondary"
	expect_match text "$("$B/llmfbctl" -s "$STACK_DIR/control.sock" status)" \
	    'chat +[0-9]+ +[0-9]+'
	expect_eq no-secret-in-status "$(grep -c "$LLMFB_TEST_BACKUP_KEY" <<<"$st")" 0
	expect_eq no-secret-in-log "$(grep -c "sk-" "$STACK_DIR/llmfbd.log")" 0
	finish "llmfbctl status shows routes, targets and counters; no secrets"
}

# ---- run -----------------------------------------------------------------

stack_init
mock_start
# The cases in the order they run.  The client cases run once per kind
# of client (CASE:KIND runs one); a *_cases name is a group, and any case
# function inside one may be named alone too:
#   tests/e2e/run.sh [CASE...]     (or E2E_ONLY="CASE ...")
# A name that is not a case fails the run before it starts; a case a
# group names that does not exist fails it at the end.  Nothing is
# counted by hand: a case that cannot run here says so with skip.
KIND_CASES="t_primary_answers t_primary_503 t_refused t_hang t_all_fail
    t_anthropic t_stream t_daemon_absent t_passthrough t_not_llm t_big_body
    t_parallel"
CURL_CASES="t_hosts_change t_hsts"	# the curl CLI only
CASES="$KIND_CASES $CURL_CASES t_keepalive_admit t_stream_coalesced
    t_burst_memory t_ca_read_once t_malformed t_status
    t_breaker t_retry_after
    harden_cases reach_cases ca_cases ladder_cases dialect_cases provider_cases
    observe_cases top_cases kernel_cases deploy_cases deb_cases nspawn_cases
    python_cases guest_cases fleet_cases otel_cases"

# run_case NAME[:KIND]
run_case() {
	local name=${1%%:*} kind k
	[ "$name" != "$1" ] && kind=${1#*:}
	if [[ " ${KIND_CASES//$'\n'/ } " == *" $name "* ]]; then
		for k in ${kind:-$KINDS}; do
			if [ "$k" = curl ] && [ -n "$NO_CURL" ]; then
				skip "$name curl" "$NO_CURL"
			else
				"$name" "$k"
			fi
		done
	elif [[ " $CURL_CASES " == *" $name "* ]] && [ -n "$NO_CURL" ]; then
		skip "$name" "$NO_CURL"
	else
		"$name"
	fi
}

# A command a case names that does not exist: bash runs this handler in a
# subshell, so it leaves a note for the end of the run.
command_not_found_handle() {
	echo "$1" >>"$STACK_DIR/not-found"
	echo "$0: $1: no such case or command" >&2
	return 127
}

SELECTED=${*:-${E2E_ONLY:-$CASES}}
for t in $SELECTED; do
	t=${t%%:*}
	if [ "$(type -t "$t")" != function ]; then
		echo "no such case: $t (cases: $(echo $CASES))" >&2
		exit 2
	fi
done

render_config tests/e2e/e2e.yaml "$STACK_DIR/llmfb.yaml"
if ! daemon_start "$STACK_DIR/llmfb.yaml" -d; then
	echo "FAIL - llmfbd did not start; its log:"
	tail -20 "$STACK_DIR/llmfbd.log"
	exit 1
fi
shim_on

for t in $SELECTED; do
	run_case "$t"
done
[ ! -s "$STACK_DIR/not-found" ] ||
	ERRS="; named but not found: $(sort -u "$STACK_DIR/not-found" | paste -sd' ')"
finish "every case and command the run names exists"

# Stop the daemon cleanly (it frees everything on SIGTERM), then look at
# what it and the shim said: a sanitizer finding fails the suite.
daemon_stop
grep -h -A30 -E 'Sanitizer|runtime error' "$STACK_DIR/llmfbd.log" \
    >>"$STACK_DIR/sanitizer.log" 2>/dev/null || true
if [ -s "$STACK_DIR/sanitizer.log" ]; then
	ERRS="; $(head -40 "$STACK_DIR/sanitizer.log")"
fi
finish "no sanitizer findings in llmfbd or the shim; llmfbd stops cleanly"

if [ "$FAIL" -gt 0 ]; then
	echo "--- llmfbd log (last 30 lines)"
	tail -30 "$STACK_DIR/llmfbd.log"
fi
echo "$PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" -eq 0 ]
