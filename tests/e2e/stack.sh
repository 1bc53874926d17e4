# Shared by the end-to-end tests and the demo: a test CA, the mock
# provider and llmfbd, each started with a readiness check (never a bare
# sleep), and stopped on exit.  Source it; set B to the build directory.

: "${B:=build}"
B=$(cd "$B" && pwd)
STACK_PIDS=""

stack_init() {
	STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/llmfb.XXXXXX")
	trap stack_stop EXIT
	trap 'exit 130' INT TERM
	bash "$(dirname "${BASH_SOURCE[0]}")/../gen-certs.sh" "$STACK_DIR/certs"
}

stack_stop() {
	local p
	for p in $STACK_PIDS; do
		kill "$p" 2>/dev/null || true
	done
	for p in $STACK_PIDS; do
		wait "$p" 2>/dev/null || true
	done
	STACK_PIDS=""
	# What a case made outside STACK_DIR (network namespaces), should
	# the run end before the case takes it down.
	[ -z "${STACK_ATEXIT:-}" ] || eval "$STACK_ATEXIT"
	[ -n "${STACK_KEEP:-}" ] || rm -rf "$STACK_DIR"
}

# wait_for DESCRIPTION COMMAND...: poll a readiness check, up to 10 s.
wait_for() {
	local what=$1 i
	shift
	for i in $(seq 200); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "timed out waiting for $what" >&2
	return 1
}

mock_start() {
	rm -f "$STACK_DIR/mock.port"
	"$B/llmfb-mock" --cert "$STACK_DIR/certs/server.pem" \
	    --key "$STACK_DIR/certs/server.key" \
	    --ready-file "$STACK_DIR/mock.port" >"$STACK_DIR/mock.log" 2>&1 &
	STACK_PIDS="$STACK_PIDS $!"
	wait_for "the mock provider" test -s "$STACK_DIR/mock.port"
	MOCK_PORT=$(cat "$STACK_DIR/mock.port")
	MOCK_URL="https://127.0.0.1:$MOCK_PORT"
}

# A TCP port free on the loopback now.
free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket();
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Fill a config template: @DIR@ the stack's directory, @MOCK_PORT@, and
# @METRICS_PORT@ (a free port, chosen once).
render_config() {
	: "${METRICS_PORT:=$(free_port)}"
	sed -e "s|@DIR@|$STACK_DIR|g" -e "s|@MOCK_PORT@|$MOCK_PORT|g" \
	    -e "s|@METRICS_PORT@|$METRICS_PORT|g" "$1" >"$2"
}

daemon_start() {
	local cfg=$1
	shift
	"$B/llmfbd" -c "$cfg" "$@" >>"$STACK_DIR/llmfbd.log" 2>&1 &
	DAEMON_PID=$!
	STACK_PIDS="$STACK_PIDS $DAEMON_PID"
	wait_for "llmfbd" "$B/llmfbctl" -s "$STACK_DIR/control.sock" status
}

daemon_stop() {
	kill "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
}

mockc() {
	curl -sS --cacert "$STACK_DIR/certs/ca.pem" "$@"
}

# mock_script NAME 'key=value ...' [more steps...]
mock_script() {
	local name=$1
	shift
	printf '%s\n' "$@" | mockc -X POST --data-binary @- \
	    "$MOCK_URL/_mock/script/$name" >/dev/null
}

# mock_str NAME FIELD: a field as it is ("null" when absent).
mock_str() {
	mockc "$MOCK_URL/_mock/stats" | jq -r --arg n "$1" --arg f "$2" \
	    '.[$n][$f]'
}

mock_reset() {
	mockc -X POST "$MOCK_URL/_mock/reset" >/dev/null
}

# mock_stat NAME FIELD: one counter of the mock's (0 when absent).
mock_stat() {
	mockc "$MOCK_URL/_mock/stats" | jq -r --arg n "$1" --arg f "$2" \
	    '.[$n][$f] // 0'
}

# mock_requests_ge NAME N: the mock's NAME had N requests or more.  For
# wait_for, which runs its command again each time: `wait_for ... test
# "$(mock_stat ...)" -ge N` would compare one value, read once.
mock_requests_ge() { [ "$(mock_stat "$1" requests)" -ge "$2" ]; }
