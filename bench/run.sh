#!/bin/bash
# make bench: what the shim and llmfbd add to a call.  The same keep-alive
# libcurl client (llmfb-bench) calls the mock provider directly and then
# through the shim and the daemon, alternating, several rounds; the table
# gives the medians of the rounds.  Not a test: nothing here can fail
# the build.
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
. tests/e2e/stack.sh
ROUNDS=${ROUNDS:-3}
N=${N:-2000}

stack_init
mock_start
render_config tests/e2e/e2e.yaml "$STACK_DIR/llmfb.yaml"
daemon_start "$STACK_DIR/llmfb.yaml"
DPID=$DAEMON_PID

REQ='{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
DIRECT=(--url "https://api.openai.com:$MOCK_PORT/primary/v1/chat/completions"
    --resolve "api.openai.com:$MOCK_PORT:127.0.0.1"
    --cacert "$STACK_DIR/certs/ca.pem")
VIA=(--url https://api.openai.com/v1/chat/completions)
SHIM=(env LD_PRELOAD="$B/libllmfb.so" LLMFB_SOCKET="$STACK_DIR/llmfb.sock")

# run LABEL C [env...] -- bench args: one line of key=value figures.
run() {
	local c=$1
	shift
	"$@" -c "$c" -n $((N / c < 200 ? 200 : N / c)) --warmup 50 --data "$REQ"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

declare -A res
for round in $(seq "$ROUNDS"); do
	for c in 1 16; do
		res[direct,$c]+="$(run "$c" "$B/llmfb-bench" "${DIRECT[@]}")"$'\n'
		res[llmfb,$c]+="$(run "$c" "${SHIM[@]}" "$B/llmfb-bench" "${VIA[@]}")"$'\n'
	done
done

fig() {	# fig PATH C FIELD: the median of FIELD over the rounds
	grep . <<<"${res[$1,$2]}" | while read -r l; do get "$3" "$l"; done |
	    median
}

rss=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")
cpu=$(grep -c ^processor /proc/cpuinfo)
model=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)

{
echo "llmfb benchmark, $(date -u +%Y-%m-%d), $cpu cores ($model), $ROUNDS rounds, medians"
echo
echo "| concurrency | path | p50 µs | p99 µs | req/s | added p50 µs | added p99 µs |"
echo "|---|---|---|---|---|---|---|"
for c in 1 16; do
	dp50=$(fig direct $c p50_us); dp99=$(fig direct $c p99_us)
	lp50=$(fig llmfb $c p50_us); lp99=$(fig llmfb $c p99_us)
	echo "| $c | direct to the mock | $dp50 | $dp99 | $(fig direct $c rps) | | |"
	echo "| $c | shim + llmfbd | $lp50 | $lp99 | $(fig llmfb $c rps) | $((lp50 - dp50)) | $((lp99 - dp99)) |"
done
echo
echo "llmfbd RSS after the runs: ${rss} KiB (peak ${hwm} KiB)"
}
