#!/bin/bash
# make bench: what the shim and llmfbd add to a call.  Six parts, one
# stack (the mock provider and llmfbd, as in the end-to-end tests):
#
# 1. libcurl: the same keep-alive client (llmfb-bench) calls the mock
#    directly and then through the shim and the daemon, alternating,
#    ROUNDS rounds; medians of the rounds.
# 2. The hot path (issue 3): what the shim costs on calls that are not LLM
#    calls.  llmfb-hotpath times tight loops of the hooked calls (socket,
#    name and TLS calls on connections the shim leaves alone) without the
#    shim, with it (llmfbd up, api.openai.com intercepted) and with it
#    while a redirected connection is held open; HOT_ROUNDS rounds,
#    interleaved, the order reversed every other round.
# 3. Python (issue 3): requests.post, kept-alive and not, directly to the
#    mock and through the shim to https://api.openai.com (served by the
#    mock via llmfbd); PY_ROUNDS rounds, interleaved; percentiles over all
#    the calls of all rounds.
# 4. Dialect translation (issue 5): llmfb-xlate times the daemon's own
#    translation code in-process on a 2 KB request and a 100-event stream,
#    both ways, beside the parsing and reading every call already pays.
# 4b. Dynamic routing (issue 22): a primary with a heavy tail of time to
#    first token (90% at 200 ms, 10% at 3 s) through llmfb with hedging
#    off and on (p50/p95/p99, the share of calls hedged, spend per call),
#    against the healthy provider alone; and calls failed at the client
#    against providers that advertise a rate limit, direct and through
#    llmfb (one target, an ordered ladder of two, a weighted group of
#    two).  About a minute.
#
# 5. eBPF (issue 7): llmfbd with its probes on and off, ROUNDS rounds,
#    one daemon at a time (the libssl uprobes are host-wide, so an eBPF
#    daemon that is merely running slows every TLS program, the other
#    daemon and the mock included), the order swapped every round; and
#    what a program that never goes through llmfb pays for the bypass
#    watch: llmfb-bench straight to the mock, with the eBPF daemon up and
#    with the other one.  Needs root.
# 6. Host-wide preload (issue 8): what loading the shim into every
#    program (/etc/ld.so.preload) costs programs that never call an LLM,
#    with llmfbd up and api.openai.com intercepted.  Without the shim and
#    with it in LD_PRELOAD, PRELOAD_ROUNDS rounds, interleaved, the order
#    reversed every other round: start + exit of /bin/true (PRELOAD_N
#    times, timed by bench/spawn.c, compiled here), of python3 -c pass
#    and of curl on a file: URL and on https://127.0.0.1 (PRELOAD_M
#    times each), and llmfb-bench kept alive to https://127.0.0.1, a host
#    not intercepted.  /bin/true also runs with the shim in
#    /etc/ld.so.preload: a file bind-mounted there in a private mount
#    namespace (root only; the real file is never written), and with an
#    empty shared object in LD_PRELOAD, for scale.  The mock is named by
#    its literal address, not as localhost: which address localhost
#    gives first is the host's business (::1 on a stock Debian, where
#    the mock does not listen); and the file is the bench's own, not
#    /etc/hostname, which a host need not have.
#
# 7. The relay (issue 18): a program with its own TLS (NodeSource's node)
#    calling an intercepted host through the shim is carried to the origin
#    by llmfbd, untouched; against the same program going direct.  Kept
#    alive (RELAY_N requests on one connection) and a new connection per
#    request (RELAY_M), RELAY_ROUNDS rounds, interleaved; medians.
# 8. Terminated TLS (issue 20): the same node program through the shim to
#    an llmfbd with the local CA on (its TLS terminated by llmfbd), against
#    it going direct and against Debian's Node 18 (system libssl: virtual
#    TLS, the same V8 and http stack) through the shim; kept alive and a
#    new connection per request, as part 7; and llmfbd's CPU time per
#    request for each path.
#
# 9. A fleet (issue 23): llmfb-bench through an llmfbd with a shared:
#    block (a local redis-server) and one without, FLEET_ROUNDS rounds,
#    alternating, on a priced route under a budget and on a target with
#    an rpm (counted fleet-wide); Redis commands per call, as llmfbd
#    counts them and as Redis does (INFO stats); and how long a breaker
#    opened on one llmfbd, and an account seen spent there, take to
#    reach another (FLEET_OPENS each, p50 and p99 of the message's age
#    on arrival).
#
# The tools (llmfb-bench, llmfb-hotpath, llmfb-xlate) come from `make
# tools`.  Not a test: nothing here can fail the build.  SKIP_CURL=1,
# SKIP_HOT=1, SKIP_PY=1, SKIP_XLATE=1, SKIP_EBPF=1, SKIP_PRELOAD=1,
# SKIP_RELAY=1, SKIP_TERM=1, SKIP_FLEET=1, SKIP_PEERS=1, SKIP_ROUTING=1
# leave a part out.
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
. tests/e2e/stack.sh
# The end-to-end config's providers read their keys from these.
export LLMFB_TEST_BACKUP_KEY=sk-backup-bench
export LLMFB_TEST_ABACKUP_KEY=sk-ant-backup-bench
export LLMFB_TEST_AZURE_KEY=azure-key-bench
ROUNDS=${ROUNDS:-3}
N=${N:-2000}
HOT_ROUNDS=${HOT_ROUNDS:-16}
HOT_SCALE=${HOT_SCALE:-0.5}
PY_ROUNDS=${PY_ROUNDS:-4}
PY_N=${PY_N:-1000}
PY_FRESH_N=${PY_FRESH_N:-300}
PY=/usr/bin/python3


stack_init
# The shim under test, as it is now: a rebuild while the bench runs must
# not mix two versions into one table.
cp "$B/libllmfb.so" "$STACK_DIR/libllmfb.so"
mock_start
render_config tests/e2e/e2e.yaml "$STACK_DIR/llmfb.yaml"
# The tests turn the bypass watch on; its uprobes would slow every TLS
# program in the runs, the direct baselines included (part 5 measures it).
sed -i '/^bypass_watch:/d' "$STACK_DIR/llmfb.yaml"
daemon_start "$STACK_DIR/llmfb.yaml"
DPID=$DAEMON_PID

REQ='{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
REQ_FO='{"model":"case-refused","messages":[{"role":"user","content":"hi"}]}'
DIRECT=(--url "https://api.openai.com:$MOCK_PORT/primary/v1/chat/completions"
    --resolve "api.openai.com:$MOCK_PORT:127.0.0.1"
    --cacert "$STACK_DIR/certs/ca.pem")
VIA=(--url https://api.openai.com/v1/chat/completions)
SHIM=(env LD_PRELOAD="$STACK_DIR/libllmfb.so" LLMFB_SOCKET="$STACK_DIR/llmfb.sock")
NOSHIM=(env -u LD_PRELOAD)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
cpu=$(grep -c ^processor /proc/cpuinfo)
model=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
echo "llmfb benchmark, $(date -u +%Y-%m-%d), $cpu cores ($model)"
echo "shim: $B/libllmfb.so, sha256 $(sha256sum "$STACK_DIR/libllmfb.so" | cut -c1-12), copied at the start"

# ---- 1. libcurl, direct and through llmfb -------------------------------

# run C [env...] -- bench args: one line of key=value figures.
run() {
	local c=$1
	shift
	"$@" -c "$c" -n $((N / c < 200 ? 200 : N / c)) --warmup 50 --data "$REQ"
}

declare -A res
fig() {	# fig PATH C FIELD: the median of FIELD over the rounds
	grep . <<<"${res[$1,$2]}" | while read -r l; do get "$3" "$l"; done |
	    median
}

curl_part() {
	local c dp50 dp99 lp50 lp99 rss hwm
	for _ in $(seq "$ROUNDS"); do
		for c in 1 16; do
			res[direct,$c]+="$(run "$c" "$B/llmfb-bench" "${DIRECT[@]}")"$'\n'
			res[llmfb,$c]+="$(run "$c" "${SHIM[@]}" "$B/llmfb-bench" "${VIA[@]}")"$'\n'
		done
	done
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$DPID/status")

	echo
	echo "## libcurl (llmfb-bench), $ROUNDS rounds, medians"
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

# ---- 2. the hot path: hooked calls that are not LLM calls ----------------

# hot_run VARIANT ROUND: one llmfb-hotpath run, its lines prefixed with
# the variant and the round.  plain: no shim; shim: the shim with llmfbd
# up; held: the same, with a redirected connection held open.
hot_run() {
	local v=$1 r=$2 out=$STACK_DIR/hot.$1.$2 want
	case $v in
	plain)	"${NOSHIM[@]}" "$B/llmfb-hotpath" --scale "$HOT_SCALE" ;;
	shim)	"${SHIM[@]}" "$B/llmfb-hotpath" --scale "$HOT_SCALE" ;;
	held)	"${SHIM[@]}" "$B/llmfb-hotpath" --scale "$HOT_SCALE" \
		    --hold-redirect api.openai.com ;;
	esac >"$out"
	# The run must have been what it says: the shim in it or not, a
	# connection redirected or not.
	case $v in
	plain)	want="shim=0 redirected=0" ;;
	shim)	want="shim=1 redirected=0" ;;
	held)	want="shim=1 redirected=1" ;;
	esac
	if ! head -1 "$out" | grep -q "^# $want "; then
		echo "bench: hotpath ($v) was not as meant: $(head -1 "$out")" >&2
		exit 1
	fi
	grep -v '^#' "$out" | sed "s/^/$v	$r	/" >>"$STACK_DIR/hot.all"
}

hot_part() {
	local r
	: >"$STACK_DIR/hot.all"
	for r in $(seq "$HOT_ROUNDS"); do
		if ((r % 2)); then
			hot_run plain "$r"; hot_run shim "$r"; hot_run held "$r"
		else
			hot_run held "$r"; hot_run shim "$r"; hot_run plain "$r"
		fi
	done

	echo
	echo "## Hot path (llmfb-hotpath): ns per iteration, $HOT_ROUNDS rounds, medians"
	echo
	echo "Each figure is the median over the rounds of one run's median of"
	echo "$(head -1 "$STACK_DIR/hot.plain.1" | sed 's/.*reps=\([0-9]*\).*/\1/') repetitions. added: the median over the rounds of"
	echo "(with - without) in the same round; ±: the median absolute deviation"
	echo "of those differences.  The verdict divides both by the hooked calls"
	echo "per iteration; unresolved: the noise exceeds 50 ns per call, so a"
	echo "50 ns difference could not be seen.  shim: LD_PRELOAD with llmfbd"
	echo "up and api.openai.com intercepted; +redir: the same while the"
	echo "process holds a connection redirected to llmfbd."
	echo
	echo "| loop | hooked calls per iteration | without shim | with shim | with shim + redirected fd | added | added (+redir) | ratio (+redir) | added per hooked call < 50 ns |"
	echo "|---|---|---|---|---|---|---|---|---|"
	awk -F'\t' -v rounds="$HOT_ROUNDS" '
	function med(a, n,    i, j, t) {	# sorts a[1..n] in place
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j-1] > a[j]; j--) {
				t = a[j]; a[j] = a[j-1]; a[j-1] = t
			}
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	function vmed(id, v,    a, r, n) {
		n = 0
		for (r = 1; r <= rounds; r++)
			if ((id, v, r) in x) a[++n] = x[id, v, r]
		return med(a, n)
	}
	# median and MAD of (v - plain) over the rounds
	function dmed(id, v,    a, b, r, n, m) {
		n = 0
		for (r = 1; r <= rounds; r++)
			if ((id, v, r) in x && (id, "plain", r) in x)
				a[++n] = x[id, v, r] - x[id, "plain", r]
		m = med(a, n)
		for (r = 1; r <= n; r++) b[r] = a[r] < m ? m - a[r] : a[r] - m
		mad[id, v] = med(b, n)
		return m
	}
	function ns(v) {
		if (v >= 10000 || v <= -10000) return sprintf("%.1f µs", v / 1000)
		return sprintf("%.0f", v)
	}
	{
		if (!($3 in seen)) { seen[$3] = 1; order[++nid] = $3 }
		x[$3, $1, $2] = $4; hooked[$3] = $7; desc[$3] = $8
	}
	END {
		for (i = 1; i <= nid; i++) {
			id = order[i]; h = hooked[id]
			p = vmed(id, "plain"); s = vmed(id, "shim")
			hd = vmed(id, "held")
			ds = dmed(id, "shim"); dh = dmed(id, "held")
			noise = mad[id, "shim"]
			if (mad[id, "held"] > noise) noise = mad[id, "held"]
			noise /= h
			worst = ds
			if (dh > worst) worst = dh
			worst /= h
			if (noise > 50)
				verdict = sprintf("unresolved (noise ±%s)", ns(noise))
			else if (worst < 50)
				verdict = "yes"
			else
				verdict = "**no**"
			printf "| %s | %d | %s | %s | %s | %+.0f ±%.0f | %+.0f ±%.0f | %.2f | %s |\n",
			    desc[id], h, ns(p), ns(s), ns(hd),
			    ds, mad[id, "shim"], dh, mad[id, "held"],
			    (p > 0 ? hd / p : 0), verdict
		}
	}' "$STACK_DIR/hot.all"
}

# ---- 3. Python requests, direct and through llmfb -----------------------

# py_run PATH ROUND: one pylat run, kept-alive and fresh calls.
py_run() {
	local out=$STACK_DIR/py.$1.$2
	case $1 in
	direct)	"${NOSHIM[@]}" "$PY" bench/pylat.py \
		    "$MOCK_URL/primary/v1/chat/completions" --llmfb 0 \
		    --cacert "$STACK_DIR/certs/ca.pem" --out "$out" \
		    -n "$PY_N" --fresh-n "$PY_FRESH_N" >/dev/null ;;
	llmfb)	"${SHIM[@]}" "$PY" bench/pylat.py \
		    https://api.openai.com/v1/chat/completions --llmfb 1 \
		    --cacert "$STACK_DIR/certs/ca.pem" --out "$out" \
		    -n "$PY_N" --fresh-n "$PY_FRESH_N" >/dev/null ;;
	esac
}

# py_pct PATH MODE P: the P-th percentile (nearest rank) of every call
# of every round, in µs.
py_pct() {
	cat "$STACK_DIR"/py."$1".*."$2" | sort -n |
	    awk -v p="$3" '{a[NR]=$1} END {
		r = int((p * NR + 99) / 100); if (r < 1) r = 1
		printf "%d\n", a[r] / 1000 }'
}

py_part() {
	local r mode dp50 dp99 lp50 lp99 n
	if ! "$PY" -c 'import requests' 2>/dev/null; then
		echo
		echo "## Python: skipped ($PY cannot import requests)"
		return
	fi
	for r in $(seq "$PY_ROUNDS"); do
		if ((r % 2)); then
			py_run direct "$r"; py_run llmfb "$r"
		else
			py_run llmfb "$r"; py_run direct "$r"
		fi
	done

	echo
	echo "## Python requests ($("$PY" -c 'import requests; print(requests.__version__)')), sequential calls, $PY_ROUNDS rounds, all calls pooled"
	echo
	echo "| client | path | calls | p50 µs | p99 µs | added p50 µs | added p99 µs |"
	echo "|---|---|---|---|---|---|---|"
	for mode in session fresh; do
		n=$(cat "$STACK_DIR"/py.direct.*."$mode" | wc -l)
		dp50=$(py_pct direct "$mode" 50); dp99=$(py_pct direct "$mode" 99)
		lp50=$(py_pct llmfb "$mode" 50); lp99=$(py_pct llmfb "$mode" 99)
		if [ "$mode" = session ]; then
			mode="one Session (kept alive)"
		else
			mode="requests.post (new connection)"
		fi
		echo "| $mode | direct to the mock | $n | $dp50 | $dp99 | | |"
		echo "| $mode | shim + llmfbd | $n | $lp50 | $lp99 | $((lp50 - dp50)) | $((lp99 - dp99)) |"
	done
}

[ -n "${SKIP_CURL:-}" ] || curl_part
[ -n "${SKIP_HOT:-}" ] || hot_part
[ -n "${SKIP_PY:-}" ] || py_part

xlate_part() {
	echo
	echo "## Dialect translation (llmfb-xlate), µs, in-process"
	echo
	"$B/llmfb-xlate"
}

[ -n "${SKIP_XLATE:-}" ] || xlate_part

# ---- 4b. Dynamic routing (issue 22): hedging and rate limits ------------

# route_json ROUTE FILTER: a route's status through llmfbctl.
route_json() {
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq -r --arg r "$1" ".routes[] | select(.name == \$r) | $2"
}

# hedge_run ROUTE: llmfb-bench through the shim, model ROUTE (the bench
# routes of e2e.yaml are matched by model); its line of figures.
hedge_run() {
	"${SHIM[@]}" "$B/llmfb-bench" "${VIA[@]}" -c "$ROUTING_C" \
	    -n "$ROUTING_N" --warmup 1 --label "$1" \
	    --data "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" || true
}

# rl_script NAME: a provider that advertises ROUTING_RL requests a
# minute, counts them down, then answers 429 until the window resets.
rl_script() {
	local i steps=()
	for i in $(seq $((ROUTING_RL - 1)) -1 0); do
		steps+=("rl_requests=$i rl_reset=60s")
	done
	steps+=("status=429 rl_requests=0 rl_reset=60s")
	mock_script "$1" "${steps[@]}"
}

routing_part() {
	local r l calls hedges spend base rows row name h a b four
	ROUTING_C=${ROUTING_C:-8}
	ROUTING_N=${ROUTING_N:-25}
	ROUTING_RL=${ROUTING_RL:-40}
	mock_reset
	mock_script btail 'ttft_ms=200ms tail_ms=3s tail_pct=10'
	mock_script bok 'ttft_ms=200ms'

	echo
	echo "## Dynamic routing (issue 22): hedged requests, rate limits"
	echo
	echo "A primary whose time to first token is 200 ms for 90% of calls and"
	echo "3 s for 10% (the mock's tail_ms/tail_pct), a healthy provider at"
	echo "200 ms; $ROUTING_C clients, $((ROUTING_C * ROUTING_N)) calls in all per route,"
	echo "through the shim and llmfbd (time to first token = time to the"
	echo "whole answer here: the mock holds the body for its ttft).  hedged:"
	echo "hedges started per call of the route; spend: the route's spend per"
	echo "call (a cancelled attempt's prompt counted) over the unhedged one's."
	echo
	echo "| route | hedge | p50 ms | p95 ms | p99 ms | hedged | cancelled | spend per call vs no hedge | p99 / healthy p99 |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for r in bench-healthy bench-tail bench-hedge bench-hedge-fast; do
		l=$(hedge_run "$r")
		calls=$(route_json "$r" .calls)
		hedges=$(route_json "$r" '.hedge.started // 0')
		spend=$(route_json "$r" .spend_usd)
		res[route,$r]="$l calls=$calls hedges=$hedges cancelled=$(route_json "$r" '.hedge.cancelled // 0') spend=$spend"
	done
	base=$(get p99_us "${res[route,bench-healthy]}")
	for r in bench-healthy bench-tail bench-hedge bench-hedge-fast; do
		l=${res[route,$r]}
		case $r in
		bench-healthy)	h="(healthy provider alone)" ;;
		bench-tail)	h=off ;;
		bench-hedge)	h="after 250ms, max 20%" ;;
		bench-hedge-fast) h="after 20ms, max 100%" ;;
		esac
		echo "| $r | $h | $(($(get p50_us "$l") / 1000)) | $(($(get p95_us "$l") / 1000)) | $(($(get p99_us "$l") / 1000)) |" \
		    "$(awk -v h="$(get hedges "$l")" -v c="$(get calls "$l")" 'BEGIN { printf "%.1f%%", c ? 100 * h / c : 0 }') |" \
		    "$(get cancelled "$l") |" \
		    "$(awk -v s="$(get spend "$l")" -v c="$(get calls "$l")" -v S="$(get spend "${res[route,bench-tail]}")" -v C="$(get calls "${res[route,bench-tail]}")" 'BEGIN { printf "%.2fx", (s / c) / (S / C) }') |" \
		    "$(awk -v a="$(get p99_us "$l")" -v b="$base" 'BEGIN { printf "%.2fx", a / b }') |"
	done

	echo
	echo "Advertised rate limits: each provider says it takes $ROUTING_RL requests"
	echo "a minute (x-ratelimit-remaining-requests counting down, then 429s);"
	echo "$((ROUTING_RL * 3 / 2)) calls by 4 clients.  Direct: the same client to one"
	echo "provider, with no llmfb."
	echo
	echo "| path | calls failed at the client | 429s the providers answered | served by a / b |"
	echo "|---|---|---|---|"
	rows=("direct to one provider|direct|" "llmfb, one target|bench-rl-one|br1a"
	    "llmfb, ordered ladder a, b|bench-rl-ladder|br2a br2b"
	    "llmfb, weighted group of a, b|bench-rl-group|br3a br3b")
	for row in "${rows[@]}"; do
		IFS='|' read -r name r _ <<<"$row"
		mock_reset
		rl_script bra
		rl_script brb
		if [ "$r" == direct ]; then
			l=$("$B/llmfb-bench" --url "https://api.openai.com:$MOCK_PORT/bra/v1/chat/completions" \
			    --resolve "api.openai.com:$MOCK_PORT:127.0.0.1" \
			    --cacert "$STACK_DIR/certs/ca.pem" -c 4 \
			    -n $((ROUTING_RL * 3 / 8)) --warmup 0 --data "$REQ" \
			    2>/dev/null || true)
		else
			l=$("${SHIM[@]}" "$B/llmfb-bench" "${VIA[@]}" -c 4 \
			    -n $((ROUTING_RL * 3 / 8)) --warmup 0 \
			    --data "{\"model\":\"$r\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
			    2>/dev/null || true)
		fi
		a=$(mock_stat bra requests)
		b=$(mock_stat brb requests)
		four=$(( (a > ROUTING_RL ? a - ROUTING_RL : 0) + (b > ROUTING_RL ? b - ROUTING_RL : 0) ))
		echo "| $name | $(get errors "$l") of $(get n "$l") | $four | $((a < ROUTING_RL ? a : ROUTING_RL)) / $((b < ROUTING_RL ? b : ROUTING_RL)) |"
	done
}

[ -n "${SKIP_ROUTING:-}" ] || routing_part

# ---- 5. eBPF on and off -------------------------------------------------

# ebpf_daemon MODE: start llmfbd with `ebpf: MODE` on sockets of its own.
ebpf_daemon() {
	local cfg=$STACK_DIR/e-$1.yaml
	sed -e "s|^listen: .*|listen: $STACK_DIR/e-$1.sock|" \
	    -e "s|^control: .*|control: $STACK_DIR/e-$1.ctl|" \
	    -e '/^metrics_listen/d' "$STACK_DIR/llmfb.yaml" >"$cfg"
	case $1 in
	off)	echo "ebpf: off" >>"$cfg" ;;
	on)	printf 'ebpf: on\nbypass_watch: true\n' >>"$cfg" ;;
	timing)	printf 'ebpf: on\nbypass_watch: false\n' >>"$cfg" ;;
	esac
	"$B/llmfbd" -c "$cfg" >>"$STACK_DIR/e-$1.log" 2>&1 &
	EPID=$!
	wait_for "llmfbd (ebpf: $1)" "$B/llmfbctl" -s "$STACK_DIR/e-$1.ctl" status
	if [ "$1" != off ] && ! "$B/llmfbctl" -s "$STACK_DIR/e-$1.ctl" --json \
	    status | jq -e --arg m "$1" '.ebpf.network_timing.on and
	    .ebpf.bypass_watch.on == ($m == "on")' \
	    >/dev/null; then
		echo "bench: eBPF is not as meant; see $STACK_DIR/e-$1.log" >&2
		exit 1
	fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ebpf_name() {
	case $1 in
	off)	echo "ebpf: off" ;;
	timing)	echo "eBPF timing only (bypass_watch: false)" ;;
	on)	echo "ebpf: on (timing and bypass watch)" ;;
	esac
}

ebpf_part() {
	local r m c x via
	if [ "$(id -u)" != 0 ]; then
		echo; echo "(eBPF part left out: it needs root)"
		return
	fi
	daemon_stop	# its own probes would be in every run
	for r in $(seq "$ROUNDS"); do
		for m in $( ((r % 2)) && echo on timing off ||
		    echo off timing on); do
			ebpf_daemon "$m"
			via=(env LD_PRELOAD="$STACK_DIR/libllmfb.so"
			    LLMFB_SOCKET="$STACK_DIR/e-$m.sock")
			for c in 1 16; do
				res[e$m,$c]+="$(run "$c" "${via[@]}" "$B/llmfb-bench" "${VIA[@]}")"$'\n'
			done
			res[d$m,1]+="$(run 1 "$B/llmfb-bench" "${DIRECT[@]}")"$'\n'
			kill "$EPID"
			wait "$EPID" 2>/dev/null || true
		done
	done
	echo
	echo "## eBPF on and off (llmfb-bench through llmfbd), $ROUNDS rounds, medians"
	echo
	echo "| concurrency | path | p50 µs | p99 µs | req/s | on/off p50 | on/off req/s |"
	echo "|---|---|---|---|---|---|---|"
	for c in 1 16; do
		for m in off timing on; do
			[ "$m" = off ] && x="| | |" ||
			    x="| $(ratio "$(fig e$m $c p50_us)" "$(fig eoff $c p50_us)") | $(ratio "$(fig e$m $c rps)" "$(fig eoff $c rps)") |"
			echo "| $c | shim + llmfbd, $(ebpf_name "$m") | $(fig e$m $c p50_us) | $(fig e$m $c p99_us) | $(fig e$m $c rps) $x"
		done
	done
	for m in off timing on; do
		[ "$m" = off ] && x="| | |" ||
		    x="| $(ratio "$(fig d$m 1 p50_us)" "$(fig doff 1 p50_us)") | $(ratio "$(fig d$m 1 rps)" "$(fig doff 1 rps)") |"
		echo "| 1 | direct to the mock, beside llmfbd with $(ebpf_name "$m") | $(fig d$m 1 p50_us) | $(fig d$m 1 p99_us) | $(fig d$m 1 rps) $x"
	done
}

[ -n "${SKIP_EBPF:-}" ] || ebpf_part

# ---- 6. host-wide preload: what programs that never call an LLM pay -----

PRELOAD_ROUNDS=${PRELOAD_ROUNDS:-8}
PRELOAD_N=${PRELOAD_N:-1000}	# /bin/true starts per run
PRELOAD_M=${PRELOAD_M:-50}	# python3 and curl starts per run
PRE_LIST=$STACK_DIR/preload.list
SPAWN=$STACK_DIR/llmfb-spawn

# pre_ns CMD...: CMD in a private mount namespace whose /etc/ld.so.preload
# is $PRE_LIST, bind-mounted.  The real file is never written: when the
# host has none, the namespace first gets an overlay of /etc whose upper
# layer (in $STACK_DIR) holds an empty one to mount on.  Both mounts die
# with the namespace.
pre_ns() {
	unshare -m --propagation private -- /bin/bash -c '
		set -e
		list=$1 ovl=$2
		shift 2
		if [ ! -e /etc/ld.so.preload ]; then
			mount -t overlay llmfb-bench \
			    -o "lowerdir=/etc,upperdir=$ovl/upper,workdir=$ovl/work" /etc
		fi
		mount --bind "$list" /etc/ld.so.preload
		exec "$@"' pre_ns "$PRE_LIST" "$STACK_DIR/ovl" "$@"
}

# pre_run WORKLOAD VARIANT ROUND: one run, its figure(s) appended to
# pre.all as "workload variant round value".  plain: no preload; shim:
# LD_PRELOAD=libllmfb.so; etc: libllmfb.so in /etc/ld.so.preload (pre_ns);
# empty: LD_PRELOAD of an empty shared object, for scale.  LLMFB_SOCKET
# names the running llmfbd in every variant.
pre_run() {
	local w=$1 v=$2 r=$3 out cmd env=(--env "LLMFB_SOCKET=$STACK_DIR/llmfb.sock")
	local -a pre=("${NOSHIM[@]}")
	case $v in
	shim)	env+=(--env "LD_PRELOAD=$STACK_DIR/libllmfb.so") ;;
	empty)	env+=(--env "LD_PRELOAD=$STACK_DIR/empty.so") ;;
	etc)	pre=(pre_ns "${NOSHIM[@]}") ;;
	esac
	case $w in
	true)	cmd=(-n "$PRELOAD_N" --warmup 50 -- /bin/true) ;;
	python)	cmd=(-n "$PRELOAD_M" --warmup 3 -- "$PY" -c pass) ;;
	file)	cmd=(-n "$PRELOAD_M" --warmup 3 -- curl -s -o /dev/null \
		    "file://$STACK_DIR/curl-file") ;;
	https)	cmd=(-n "$PRELOAD_M" --warmup 3 -- curl -sSf -o /dev/null \
		    --cacert "$STACK_DIR/certs/ca.pem" \
		    "https://127.0.0.1:$MOCK_PORT/_mock/stats") ;;
	bench)	# a keep-alive libcurl client, to a host not intercepted
		if [ "$v" = shim ]; then pre=("${SHIM[@]}"); fi
		out=$(run 1 "${pre[@]}" "$B/llmfb-bench" \
		    --url "https://127.0.0.1:$MOCK_PORT/primary/v1/chat/completions" \
		    --cacert "$STACK_DIR/certs/ca.pem")
		if [ "$(get errors "$out")" != 0 ]; then
			echo "bench: llmfb-bench ($v) failed: $out" >&2
			exit 1
		fi
		echo "bench_p50 $v $r $(get p50_us "$out")" >>"$STACK_DIR/pre.all"
		echo "bench_rps $v $r $(get rps "$out")" >>"$STACK_DIR/pre.all"
		return ;;
	esac
	out=$("${pre[@]}" "$SPAWN" "${env[@]}" "${cmd[@]}")
	echo "$w $v $r $(get p50_us "$out")" >>"$STACK_DIR/pre.all"
}

# pre_stat WORKLOAD VARIANT: without, with, added (the median of the
# rounds' differences), its median absolute deviation, and the median of
# the rounds' ratios.
pre_stat() {
	awk -v w="$1" -v v="$2" '
	function med(a, n,    i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j-1] > a[j]; j--) {
				t = a[j]; a[j] = a[j-1]; a[j-1] = t
			}
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	$1 == w { x[$2, $3] = $4; if ($3 > nr) nr = $3 }
	END {
		for (r = 1; r <= nr; r++) {
			if (!((v, r) in x) || !(("plain", r) in x)) continue
			n++
			p[n] = x["plain", r]; s[n] = x[v, r]
			d[n] = s[n] - p[n]; q[n] = p[n] > 0 ? s[n] / p[n] : 0
		}
		m = med(d, n)
		for (i = 1; i <= n; i++) e[i] = d[i] < m ? m - d[i] : d[i] - m
		printf "%s %s %s %s %s\n", med(p, n), med(s, n), m, med(e, n), med(q, n)
	}' "$STACK_DIR/pre.all"
}

# pre_row LABEL WORKLOAD VARIANT: one table row.
pre_row() {
	local f
	read -ra f <<<"$(pre_stat "$2" "$3")"
	awk -v l="$1" -v p="${f[0]}" -v s="${f[1]}" -v d="${f[2]}" \
	    -v e="${f[3]}" -v q="${f[4]}" 'BEGIN {
		fmt = (p < 100 && s < 100) ? "%.1f" : "%.0f"
		printf "| %s | " fmt " | " fmt " | %+" substr(fmt, 2) " ±" fmt " | %.2f |\n",
		    l, p, s, d, e, q
	}'
}

preload_part() {
	local r w v vs order etc_note="" before after accepted ebpf
	cc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$SPAWN" bench/spawn.c
	printf 'int llmfb_bench_empty;\n' |
	    cc -shared -fPIC -O2 -x c -o "$STACK_DIR/empty.so" -
	echo "$STACK_DIR/libllmfb.so" >"$PRE_LIST"
	echo llmfb-bench >"$STACK_DIR/curl-file"
	mkdir -p "$STACK_DIR/ovl/upper" "$STACK_DIR/ovl/work"
	: >"$STACK_DIR/ovl/upper/ld.so.preload"
	before=$(stat -c '%d %i %s %Y' /etc/ld.so.preload 2>&1 || true)

	# Part 5 stops the stack's llmfbd: this part wants one up.
	if ! kill -0 "$DPID" 2>/dev/null; then
		daemon_start "$STACK_DIR/llmfb.yaml"
		DPID=$DAEMON_PID
	fi
	# The shim is live: a call to api.openai.com goes through llmfbd.
	if ! "${SHIM[@]}" curl -sS -o /dev/null -D - \
	    -H 'content-type: application/json' --data "$REQ" \
	    https://api.openai.com/v1/chat/completions |
	    grep -qi '^x-llmfb-route:'; then
		echo "bench: the shim did not redirect api.openai.com" >&2
		exit 1
	fi
	# Each way of loading it does load it.
	if ! "${NOSHIM[@]}" LD_PRELOAD="$STACK_DIR/libllmfb.so" \
	    grep -q libllmfb /proc/self/maps; then
		echo "bench: LD_PRELOAD did not load the shim" >&2
		exit 1
	fi
	vs="plain shim etc empty"
	if [ "$(id -u)" != 0 ]; then
		etc_note="left out: the private mount namespace needs root"
	elif ! pre_ns "${NOSHIM[@]}" grep -q libllmfb /proc/self/maps \
	    2>"$STACK_DIR/pre_ns.err"; then
		etc_note="left out: the namespace failed ($(head -1 "$STACK_DIR/pre_ns.err"))"
	fi
	[ -z "$etc_note" ] || vs="plain shim empty"
	accepted=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq -c '[.accepted, .calls]')
	# With root, llmfbd's eBPF is on by default (ebpf: auto), and its
	# bypass watch slows every TLS call on the host (part 5): in both
	# columns alike, but it belongs in the table's caption.
	ebpf=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq -r 'def s(x): if x then "on" else "off" end;
		"network timing \(s(.ebpf.network_timing.on // false)), bypass watch \(s(.ebpf.bypass_watch.on // false))"')

	: >"$STACK_DIR/pre.all"
	for r in $(seq "$PRELOAD_ROUNDS"); do
		for w in true python file https bench; do
			if [ "$w" = true ]; then order=$vs; else order="plain shim"; fi
			((r % 2)) || order=$(tr ' ' '\n' <<<"$order" | tac)
			for v in $order; do
				pre_run "$w" "$v" "$r"
			done
		done
	done

	# None of it went to llmfbd, and the host's file is as it was.
	if [ "$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq -c '[.accepted, .calls]')" != "$accepted" ]; then
		echo "bench: a program of the host-wide part reached llmfbd" >&2
		exit 1
	fi
	after=$(stat -c '%d %i %s %Y' /etc/ld.so.preload 2>&1 || true)
	if [ "$before" != "$after" ]; then
		echo "bench: /etc/ld.so.preload changed ($before -> $after)" >&2
		exit 1
	fi

	echo
	echo "## Host-wide preload: programs that never call an LLM, $PRELOAD_ROUNDS rounds, medians"
	echo
	fmt -w 72 <<-EOT
	without: no preload; with: LD_PRELOAD=libllmfb.so, llmfbd up and
	api.openai.com intercepted; llmfbd's eBPF, in both columns: $ebpf.
	Start + exit: posix_spawn + waitpid, the median of $PRELOAD_N
	(/bin/true) or $PRELOAD_M (python3, curl) starts per run.  added: the
	median of the rounds' (with - without), ± its median absolute
	deviation; ratio: the median of the rounds' ratios.
	EOT
	if grep -qv '^[[:space:]]*\(#\|$\)' /etc/ld.so.preload 2>/dev/null; then
		echo
		echo "Note: this host's /etc/ld.so.preload is not empty; what it"
		echo "lists is in every run, both columns included."
	fi
	echo
	echo "| what | without shim | with shim | added | ratio |"
	echo "|---|---|---|---|---|"
	pre_row "/bin/true, start + exit, µs" true shim
	if [ -z "$etc_note" ]; then
		pre_row "/bin/true, start + exit, µs, the shim in /etc/ld.so.preload (bind mount, private mount namespace)" true etc
	else
		echo "| /bin/true, the shim in /etc/ld.so.preload | $etc_note | | | |"
	fi
	pre_row "/bin/true, start + exit, µs, an empty .so in LD_PRELOAD instead (for scale)" true empty
	pre_row "python3 -c pass, start + exit, µs" python shim
	pre_row "curl file: (a 12-byte file), start + exit, µs" file shim
	pre_row "curl https://127.0.0.1 (not intercepted), new TLS connection, start + exit, µs" https shim
	pre_row "llmfb-bench keep-alive to https://127.0.0.1 (not intercepted), p50 µs" bench_p50 shim
	pre_row "llmfb-bench keep-alive to https://127.0.0.1 (not intercepted), req/s" bench_rps shim
}

[ -n "${SKIP_PRELOAD:-}" ] || preload_part

# ---- 7. the relay: a program's own TLS, carried untouched ----------------

RELAY_ROUNDS=${RELAY_ROUNDS:-5}
RELAY_N=${RELAY_N:-1000}
RELAY_M=${RELAY_M:-100}

relay_part() {
	local r out v f
	local url=https://api.llmfb.test/v1/models
	if ! command -v node >/dev/null; then
		echo "(part 7 skipped: no node)"
		return
	fi
	: >"$STACK_DIR/relay.direct"
	: >"$STACK_DIR/relay.relay"
	for r in $(seq "$RELAY_ROUNDS"); do
		for v in direct relay; do
			if [ $v = direct ]; then
				out=$("${NOSHIM[@]}" NODE_EXTRA_CA_CERTS="$STACK_DIR/certs/ca.pem" \
				    node bench/relay.js \
				    "https://api.llmfb.test:$MOCK_PORT/v1/models" \
				    "$RELAY_N" "$RELAY_M" 127.0.0.1) || true
			else
				out=$("${SHIM[@]}" NODE_EXTRA_CA_CERTS="$STACK_DIR/certs/ca.pem" \
				    node bench/relay.js "$url" "$RELAY_N" "$RELAY_M") || true
			fi
			case $out in
			err=*) echo "(part 7, round $r, $v: $out)" ;;
			esac
			echo "$out" >>"$STACK_DIR/relay.$v"
		done
	done
	rfig() { sed -n "s/.*$2=\([0-9]*\).*/\1/p" "$STACK_DIR/relay.$1" | median; }
	cat <<-EOT

	## 7. The relay: a program's own TLS carried untouched (issue 18)

	NodeSource's node (OpenSSL linked in, so its TLS is not virtual),
	GET $url: direct to the mock, and through the shim, where llmfbd
	carries the connection to the origin (an upstream.connect_to pin to
	the mock).  $RELAY_ROUNDS rounds, interleaved; medians of the rounds.

	| what | direct | relayed | added | ratio |
	|---|---|---|---|---|
	EOT
	for f in keepalive_p50_us keepalive_p99_us fresh_p50_us fresh_p99_us \
	    keepalive_rps; do
		local a b
		a=$(rfig direct "$f")
		b=$(rfig relay "$f")
		echo "| $f | $a | $b | $((b - a)) | $(ratio "$b" "$a") |"
	done
}

[ -n "${SKIP_RELAY:-}" ] || relay_part

# ---- 8. terminated TLS: the local CA ----------------------------------------

TERM_ROUNDS=${TERM_ROUNDS:-5}
TERM_N=${TERM_N:-1000}
TERM_M=${TERM_M:-100}

# llmfbd's CPU time so far (user + system), in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

term_part() {
	local r out v f dir=$STACK_DIR/bterm pid n18="" t0 hz
	local url=https://api.llmfb.test/v1/models
	if ! command -v node >/dev/null; then
		echo "(part 8 skipped: no node)"
		return
	fi
	hz=$(getconf CLK_TCK)
	[ "$(id -u)" = 0 ] && n18=$(tests/node18.sh 2>/dev/null) || n18=""
	mkdir -p "$dir"
	cat >"$dir/llmfb.yaml" <<-EOF
	listen: $dir/llmfb.sock
	control: $dir/control.sock
	intercept: [api.llmfb.test]
	ebpf: off
	network_watch: false
	ca: { enabled: true, dir: $dir/ca }
	upstream:
	  ca_file: $STACK_DIR/certs/ca.pem
	  connect_to: ["api.llmfb.test:443:127.0.0.1:$MOCK_PORT"]
	EOF
	"$B/llmfbd" -c "$dir/llmfb.yaml" >"$dir/log" 2>&1 &
	pid=$!
	STACK_PIDS="$STACK_PIDS $pid"
	wait_for "llmfbd with the CA" "$B/llmfbctl" -s "$dir/control.sock" status
	wait_for "its CA" test -s "$dir/llmfb.sock.ca.pem"
	cat "$STACK_DIR/certs/ca.pem" "$dir/llmfb.sock.ca.pem" >"$dir/both.pem"
	for v in direct term virtual; do : >"$STACK_DIR/term.$v"; done
	for r in $(seq "$TERM_ROUNDS"); do
		for v in direct term virtual; do
			t0=$(ticks "$pid")
			case $v in
			direct)
				out=$("${NOSHIM[@]}" NODE_EXTRA_CA_CERTS="$STACK_DIR/certs/ca.pem" \
				    node bench/relay.js \
				    "https://api.llmfb.test:$MOCK_PORT/v1/models" \
				    "$TERM_N" "$TERM_M" 127.0.0.1) || true ;;
			term)
				out=$(env LD_PRELOAD="$STACK_DIR/libllmfb.so" \
				    LLMFB_SOCKET="$dir/llmfb.sock" \
				    NODE_EXTRA_CA_CERTS="$dir/both.pem" \
				    node bench/relay.js "$url" "$TERM_N" "$TERM_M") || true ;;
			virtual)
				[ -n "$n18" ] || continue
				# shellcheck disable=SC2016 # the inner sh's
				out=$(env LD_PRELOAD="$STACK_DIR/libllmfb.so" \
				    LLMFB_SOCKET="$dir/llmfb.sock" \
				    NODE_EXTRA_CA_CERTS="$dir/both.pem" \
				    unshare --mount sh -c \
				    'mount --bind "$0/usr/share/nodejs" /usr/share/nodejs &&
				    LD_LIBRARY_PATH="$0/usr/lib/x86_64-linux-gnu" exec "$0/usr/bin/node" "$@"' \
				    "$n18" bench/relay.js "$url" "$TERM_N" "$TERM_M") || true ;;
			esac
			case $out in
			err=*|"") echo "(part 8, round $r, $v: ${out:-no output})" ;;
			esac
			echo "$out cpu_us=$(( ($(ticks "$pid") - t0) * 1000000 / hz / (TERM_N + TERM_M) ))" \
			    >>"$STACK_DIR/term.$v"
		done
	done
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	tfig() { sed -n "s/.*$2=\([0-9]*\).*/\1/p" "$STACK_DIR/term.$1" | median; }
	cat <<-EOT

	## 8. Terminated TLS: the local CA (issue 20)

	GET $url by a node program, $TERM_N requests on one kept-alive
	connection and $TERM_M each on a new one (TCP and TLS handshake
	included): NodeSource's node direct to the mock; the same through the
	shim to an llmfbd with the CA on, which terminates its TLS and passes
	the request on (passthrough: the same server path a call takes);
	Debian's Node 18 through the shim, its TLS virtual$([ -n "$n18" ] ||
	    echo " (not run: needs root and tests/node18.sh)").  llmfbd's CPU
	is its user and system time over the run, per request.
	$TERM_ROUNDS rounds, interleaved; medians of the rounds.

	| what | direct | terminated | virtual (Node 18) | terminated - direct |
	|---|---|---|---|---|
	EOT
	for f in keepalive_p50_us keepalive_p99_us fresh_p50_us fresh_p99_us \
	    keepalive_rps cpu_us; do
		local a b c
		a=$(tfig direct "$f")
		b=$(tfig term "$f")
		c=$(tfig virtual "$f")
		echo "| $f | ${a:--} | ${b:--} | ${c:--} | $(( ${b:-0} - ${a:-0} )) |"
	done
}

[ -n "${SKIP_TERM:-}" ] || term_part
# ---- 9. a fleet: shared state on Redis ----------------------------------

FLEET_ROUNDS=${FLEET_ROUNDS:-3}
FLEET_OPENS=${FLEET_OPENS:-100}

# fleet_bench_config NAME SHARED(0|1): a daemon of its own, a priced
# target under a budget (so every call reads and feeds the shared spend).
fleet_bench_config() {
	local d=$STACK_DIR/fleet/$1
	mkdir -p "$d"
	cat <<-EOT
	listen: $d/llmfb.sock
	control: $d/control.sock
	state_dir: $d/state
	intercept: [api.openai.com]
	ebpf: off
	bypass_watch: false
	network_watch: false
	upstream: { ca_file: $STACK_DIR/certs/ca.pem }
	breaker: { failures: 1, ratio: 0%, cooldown: 10m }
	providers:
	  p: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/primary/v1" }
	  bad: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/fbfail/v1" }
	  spent: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/fbrl/v1" }
	targets:
	  paid: { provider: p, price: { input: 1, output: 1 } }
	  bad: { provider: bad }
	  # Counted (in a fleet: one script per call), never reached.
	  counted: { provider: p, rpm: 1000000000, tpm: 1000000000000 }
	  spent: { provider: spent }
	routes:
	  - name: fail
	    match: { model: bench-fail }
	    ladder: [bad, paid]
	    attempts: { technical: 1 }
	  - name: rpm
	    match: { model: bench-rpm }
	    ladder: [counted]
	  - name: spent
	    match: { model: bench-spent }
	    ladder: [spent, paid]
	  - name: chat
	    ladder: [paid]
	    budget: { day: 1000000, caller_day: 1000000 }
	EOT
	if [ "$2" = 1 ]; then
		cat <<-EOT
		shared:
		  address: unix:$STACK_DIR/fleet/redis.sock
		  prefix: "bench:"
		  name: $1
		EOT
	fi
}

fleet_ctl() {
	local h=$1
	shift
	"$B/llmfbctl" -s "$STACK_DIR/fleet/$h/control.sock" "$@"
}
fleet_st() { fleet_ctl "$1" --json status | jq -r "$2"; }

fleet_linked() {
	[ "$(fleet_st on .fleet.up)" = true ] &&
	    [ "$(fleet_st peer .fleet.up)" = true ]
}

# Redis's own count of the commands it has run (every client's).
redis_cmds() {
	redis-cli -s "$STACK_DIR/fleet/redis.sock" info stats |
	    sed -n 's/^total_commands_processed:\([0-9]*\).*/\1/p'
}

# fleet_call HOST MODEL: one call through that llmfbd.
fleet_call() {
	env LD_PRELOAD="$STACK_DIR/libllmfb.so" \
	    LLMFB_SOCKET="$STACK_DIR/fleet/$1/llmfb.sock" \
	    curl -sS -o /dev/null -H 'Content-Type: application/json' \
	    -d "{\"model\":\"$2\",\"messages\":[]}" \
	    https://api.openai.com/v1/chat/completions
}

# fleet_lags FIELD COUNTER SETUP MODEL: FLEET_OPENS times, SETUP then a
# call to MODEL on "on"; once peer's COUNTER moves, peer's FIELD (the
# message's age on arrival, µs), one a line.
fleet_lags() {
	local i n t0
	for i in $(seq "$FLEET_OPENS"); do
		$3
		n=$(fleet_st peer "$2")
		fleet_call on "$4"
		t0=$(date +%s%N)
		while [ "$(fleet_st peer "$2")" = "$n" ]; do
			if [ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 5000 ]; then
				echo "(part 9: $4 $i never reached peer)" >&2
				break
			fi
		done
		fleet_st peer "$1"
	done
}

fleet_reset() {
	fleet_ctl on reset "$1" >/dev/null
	fleet_ctl peer reset "$1" >/dev/null
}
fleet_reset_bad() { fleet_reset bad; }
fleet_reset_spent() { fleet_reset spent; }

# spread LIST: min / median / max of a column of numbers.
spread() {
	sort -n | awk '{a[NR]=$1} END {printf "%s / %s / %s", a[1],
	    a[int((NR+1)/2)], a[NR]}'
}

fleet_part() {
	local h c r ops0 ops1 calls0 calls1 rc0 rc1 rops0 rops1 rcalls0
	local rcalls1 rrc0 rrc1 lags rlags
	if ! command -v redis-server >/dev/null; then
		echo "(part 9 skipped: no redis-server)"
		return
	fi
	mkdir -p "$STACK_DIR/fleet"
	redis-server --port 0 --unixsocket "$STACK_DIR/fleet/redis.sock" \
	    --save '' --appendonly no --dir "$STACK_DIR/fleet" \
	    --logfile "$STACK_DIR/fleet/redis.log" &
	STACK_PIDS="$STACK_PIDS $!"
	wait_for redis-server redis-cli -s "$STACK_DIR/fleet/redis.sock" ping
	for h in off:0 on:1 peer:1; do
		fleet_bench_config "${h%:*}" "${h#*:}" \
		    >"$STACK_DIR/fleet/${h%:*}.yaml"
		"$B/llmfbd" -c "$STACK_DIR/fleet/${h%:*}.yaml" \
		    >>"$STACK_DIR/fleet/${h%:*}.log" 2>&1 &
		STACK_PIDS="$STACK_PIDS $!"
		wait_for "llmfbd ${h%:*}" fleet_ctl "${h%:*}" status
	done
	wait_for "the fleet's links" fleet_linked

	ops0=$(fleet_st on .fleet.ops)
	calls0=$(fleet_st on .calls)
	rc0=$(redis_cmds)
	for r in $(seq "$FLEET_ROUNDS"); do
		for c in 1 16; do
			for h in off on; do
				res[fleet_$h,$c]+="$(run "$c" env \
				    LD_PRELOAD="$STACK_DIR/libllmfb.so" \
				    LLMFB_SOCKET="$STACK_DIR/fleet/$h/llmfb.sock" \
				    "$B/llmfb-bench" "${VIA[@]}")"$'\n'
			done
		done
	done
	ops1=$(fleet_st on .fleet.ops)
	calls1=$(fleet_st on .calls)
	rc1=$(redis_cmds)
	# The same on a target with an rpm: each call counted in Redis.
	rops0=$(fleet_st on .fleet.ops)
	rcalls0=$(fleet_st on .calls)
	rrc0=$(redis_cmds)
	for r in $(seq "$FLEET_ROUNDS"); do
		for c in 1 16; do
			for h in off on; do
				res[fleet_rpm_$h,$c]+="$(REQ='{"model":"bench-rpm","messages":[{"role":"user","content":"hi"}]}' \
				    run "$c" env \
				    LD_PRELOAD="$STACK_DIR/libllmfb.so" \
				    LLMFB_SOCKET="$STACK_DIR/fleet/$h/llmfb.sock" \
				    "$B/llmfb-bench" "${VIA[@]}")"$'\n'
			done
		done
	done
	rops1=$(fleet_st on .fleet.ops)
	rcalls1=$(fleet_st on .calls)
	rrc1=$(redis_cmds)

	# Opens: one failing call on "on" opens its breaker of bad; "peer"
	# opens its own on the message.  The figure is the message's age on
	# arrival at peer (sender's and receiver's wall clocks: one host
	# here), as peer's status reports it.  Spent: "on"'s answer from
	# spent says no request is left; "peer" passes spent over on the
	# message, measured the same way.
	mockc -X POST --data-binary 'status=503' \
	    "$MOCK_URL/_mock/script/fbfail" >/dev/null
	mockc -X POST --data-binary 'rl_requests=0 rl_reset=10m' \
	    "$MOCK_URL/_mock/script/fbrl" >/dev/null
	lags=$(fleet_lags .fleet.open_lag_us .fleet.remote_opens \
	    fleet_reset_bad bench-fail)
	rlags=$(fleet_lags .fleet.rate_limits.lag_us .fleet.rate_limits.remote \
	    fleet_reset_spent bench-spent)
	pct() { grep . | sort -n | awk -v p="$1" '{a[NR]=$1}
	    END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print a[i]}'; }

	echo
	echo "## 9. A fleet: shared state on Redis (issue 23), $FLEET_ROUNDS rounds, medians"
	echo
	fmt -w 72 <<-EOT
	llmfb-bench through two llmfbd with the same config, one with a
	shared: block (a local redis-server on a Unix socket, another llmfbd
	on it too) and one without, alternating; a priced route under a day
	budget, so every call reads the spend and feeds the fleet's.
	EOT
	echo
	echo "| concurrency | shared | p50 µs | p99 µs | req/s | added p50 µs | added p99 µs |"
	echo "|---|---|---|---|---|---|---|"
	for c in 1 16; do
		local op50 op99 np50 np99
		op50=$(fig fleet_off $c p50_us); op99=$(fig fleet_off $c p99_us)
		np50=$(fig fleet_on $c p50_us); np99=$(fig fleet_on $c p99_us)
		echo "| $c | off | $op50 | $op99 | $(fig fleet_off $c rps) | | |"
		echo "| $c | on | $np50 | $np99 | $(fig fleet_on $c rps) | $((np50 - op50)) | $((np99 - op99)) |"
	done
	for c in 1 16; do
		local op50 op99 np50 np99
		op50=$(fig fleet_rpm_off $c p50_us); op99=$(fig fleet_rpm_off $c p99_us)
		np50=$(fig fleet_rpm_on $c p50_us); np99=$(fig fleet_rpm_on $c p99_us)
		echo "| $c | off, rpm | $op50 | $op99 | $(fig fleet_rpm_off $c rps) | | |"
		echo "| $c | on, rpm | $np50 | $np99 | $(fig fleet_rpm_on $c rps) | $((np50 - op50)) | $((np99 - op99)) |"
	done
	echo
	echo "Spread: p50 µs per round, off and on (min / median / max), and the"
	echo "added p50 of each round (on - off, run one after the other):"
	echo
	for k in fleet fleet_rpm; do
		for c in 1 16; do
			local offs ons
			offs=$(grep . <<<"${res[${k}_off,$c]}" |
			    while read -r l; do get p50_us "$l"; done)
			ons=$(grep . <<<"${res[${k}_on,$c]}" |
			    while read -r l; do get p50_us "$l"; done)
			echo "- $([ $k = fleet ] && echo budget route || echo rpm target), c=$c: off $(spread <<<"$offs"), on $(spread <<<"$ons"), added $(paste <(echo "$ons") <(echo "$offs") | awk '{print $1 - $2}' | spread)"
		done
	done
	echo
	echo "Redis commands per call, shared on (heartbeats included):"
	echo
	echo "- budget route: llmfbd sent $(awk -v o=$((ops1 - ops0)) \
	    -v c=$((calls1 - calls0)) 'BEGIN { printf "%.2f", c ? o / c : 0 }') ($((ops1 - ops0)) for $((calls1 - calls0)) calls); Redis ran $(awk \
	    -v o=$((rc1 - rc0)) -v c=$((calls1 - calls0)) \
	    'BEGIN { printf "%.2f", c ? o / c : 0 }') (INFO stats: every client's, the peer's heartbeats and the scripts' own calls included)"
	echo "- rpm target: llmfbd sent $(awk -v o=$((rops1 - rops0)) \
	    -v c=$((rcalls1 - rcalls0)) 'BEGIN { printf "%.2f", c ? o / c : 0 }') ($((rops1 - rops0)) for $((rcalls1 - rcalls0)) calls); Redis ran $(awk \
	    -v o=$((rrc1 - rrc0)) -v c=$((rcalls1 - rcalls0)) \
	    'BEGIN { printf "%.2f", c ? o / c : 0 }')"
	echo
	echo "Time to reach the other host, the message's age on arrival ($FLEET_OPENS each):"
	echo
	echo "- a breaker opened: p50 $(pct 50 <<<"$lags") µs, p99 $(pct 99 <<<"$lags") µs"
	echo "- an account seen spent: p50 $(pct 50 <<<"$rlags") µs, p99 $(pct 99 <<<"$rlags") µs"
}

[ -n "${SKIP_FLEET:-}" ] || fleet_part

# ---- 10. peers: nginx and HAProxy in front of the same mock (issue 25) ---
#
# nginx 1.22 and HAProxy 2.6, Debian's packages fetched with apt-get
# download and unpacked into PEER_CACHE (nothing installed), as plain
# reverse proxies: plain HTTP/1.1 on a Unix socket in, HTTPS kept alive
# to the mock out, one worker (llmfbd is one loop).  llmfbd is called on
# its own socket (no shim: what the proxies are) and through the shim.
# Portkey's gateway (npm @portkey-ai/gateway, PORTKEY_VERSION, installed
# into PEER_CACHE/portkey with npm; left out without node and npm) as
# the LLM gateway it is, on TCP, the mock as its custom host.
# PEER_ROUNDS rounds, the paths interleaved; medians of the rounds; the
# ratios are of the rounds' medians.
#
# Failover: the first upstream refuses connections (127.0.0.1:1, where
# nothing listens) and the second answers; each proxy as it is meant to
# be set up for it, with nothing marking the first down between calls
# (llmfb: the e2e config's refused-first route, breakers off; nginx:
# proxy_next_upstream to a backup server, max_fails=0; HAProxy: retries
# 1 with option redispatch), so that every call pays the failover; the
# added p50 at c=1 over direct.  Memory is also read with
# PEER_STREAMS_BIG slow streams (10,000, or what the file limit allows:
# each needs two descriptors in the proxy).

PEER_ROUNDS=${PEER_ROUNDS:-3}
PEER_CACHE=${PEER_CACHE:-/var/cache/llmfb-bench}
PEER_STREAMS=${PEER_STREAMS:-1000}
PEER_FD_MAX=$(ulimit -Hn)
[ "$PEER_FD_MAX" = unlimited ] && PEER_FD_MAX=1048576
PEER_STREAMS_BIG=${PEER_STREAMS_BIG:-$(( (PEER_FD_MAX - 400) / 2 < 10000 ? (PEER_FD_MAX - 400) / 2 : 10000 ))}
PEER_N=${PEER_N:-3000}
PORTKEY_VERSION=${PORTKEY_VERSION:-1.15.2}
PK_JS=$PEER_CACHE/portkey/node_modules/@portkey-ai/gateway/build/start-server.js

peer_fetch() {
	local p
	mkdir -p "$PEER_CACHE"
	[ -x "$PEER_CACHE/root/usr/sbin/nginx" ] &&
	    [ -x "$PEER_CACHE/root/usr/sbin/haproxy" ] && return 0
	(cd "$PEER_CACHE" && apt-get download nginx haproxy liblua5.3-0 \
	    libopentracing-c-wrapper0 libopentracing1 >/dev/null 2>&1) ||
	    return 1
	for p in "$PEER_CACHE"/*.deb; do dpkg-deb -x "$p" "$PEER_CACHE/root"; done
}

# Portkey, pinned, where node and npm are: 0 when it is there.
portkey_fetch() {
	command -v node >/dev/null && command -v npm >/dev/null || return 1
	if ! grep -qs "\"version\": \"$PORTKEY_VERSION\"" \
	    "$PEER_CACHE/portkey/node_modules/@portkey-ai/gateway/package.json"; then
		mkdir -p "$PEER_CACHE/portkey"
		(cd "$PEER_CACHE/portkey" && npm install --no-audit --no-fund \
		    "@portkey-ai/gateway@$PORTKEY_VERSION" >/dev/null 2>&1) ||
		    return 1
	fi
	[ -f "$PK_JS" ]
}

PK_HDR=()
portkey_start() {
	PK_PORT=$(free_port)
	NODE_EXTRA_CA_CERTS=$STACK_DIR/certs/ca.pem node "$PK_JS" \
	    --port="$PK_PORT" --headless >"$STACK_DIR/peers/portkey.log" 2>&1 &
	PK_PID=$!
	STACK_PIDS="$STACK_PIDS $PK_PID"
	PK_HDR=("x-portkey-provider: openai"
	    "x-portkey-custom-host: https://127.0.0.1:$MOCK_PORT/primary/v1"
	    "authorization: Bearer sk-bench")
	wait_for portkey curl -sf -o /dev/null "http://127.0.0.1:$PK_PORT/"
}

peer_start() {
	local d=$STACK_DIR/peers lib=$PEER_CACHE/root/usr/lib/x86_64-linux-gnu
	mkdir -p "$d/ng"
	cat >"$d/nginx.conf" <<-EOC
	daemon off; master_process off; worker_processes 1;
	worker_rlimit_nofile $PEER_FD_MAX; error_log $d/ng/error.log warn;
	pid $d/ng/nginx.pid;
	events { worker_connections $PEER_FD_MAX; }
	http {
	  access_log off; client_body_temp_path $d/ng; proxy_temp_path $d/ng;
	  fastcgi_temp_path $d/ng; uwsgi_temp_path $d/ng; scgi_temp_path $d/ng;
	  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 256; }
	  upstream mockfo {
	    server 127.0.0.1:1 max_fails=0;
	    server 127.0.0.1:$MOCK_PORT max_fails=0 backup;
	    keepalive 256;
	  }
	  server {
	    listen unix:$d/nginx.sock;
	    location / {
	      proxy_pass https://mock; proxy_http_version 1.1;
	      proxy_set_header Connection ""; proxy_buffering off;
	      proxy_ssl_session_reuse on;
	    }
	  }
	  server {
	    listen unix:$d/nginx-fo.sock;
	    location / {
	      proxy_pass https://mockfo; proxy_http_version 1.1;
	      proxy_set_header Connection ""; proxy_buffering off;
	      proxy_ssl_session_reuse on; proxy_next_upstream error timeout;
	    }
	  }
	}
	EOC
	cat >"$d/haproxy.cfg" <<-EOC
	global
	  nbthread 1
	  maxconn $(( PEER_FD_MAX / 2 - 100 ))
	defaults
	  mode http
	  timeout connect 5s
	  timeout client 120s
	  timeout server 120s
	  http-reuse always
	frontend in
	  bind $d/haproxy.sock
	  default_backend mock
	backend mock
	  server m 127.0.0.1:$MOCK_PORT ssl verify none
	frontend fo
	  bind $d/haproxy-fo.sock
	  default_backend mockfo
	backend mockfo
	  balance first
	  retries 1
	  option redispatch 1
	  server dead 127.0.0.1:1 ssl verify none
	  server m 127.0.0.1:$MOCK_PORT ssl verify none
	EOC
	LD_LIBRARY_PATH=$lib "$PEER_CACHE/root/usr/sbin/nginx" -c "$d/nginx.conf" \
	    -p "$d/ng" >"$d/ng.log" 2>&1 &
	NGINX_PID=$!
	LD_LIBRARY_PATH=$lib "$PEER_CACHE/root/usr/sbin/haproxy" -db \
	    -f "$d/haproxy.cfg" >"$d/hap.log" 2>&1 &
	HAP_PID=$!
	STACK_PIDS="$STACK_PIDS $NGINX_PID $HAP_PID"
	wait_for nginx test -S "$d/nginx.sock"
	wait_for haproxy test -S "$d/haproxy.sock"
	wait_for haproxy test -S "$d/haproxy-fo.sock"
}

# peer_pid PATH / peer_sock PATH / peer_url PATH
peer_pid() {
	case $1 in
	nginx) echo "$NGINX_PID" ;; haproxy) echo "$HAP_PID" ;;
	portkey) echo "$PK_PID" ;; *) echo "$DPID" ;;
	esac
}
peer_addr() {
	case $1 in
	direct)	echo "tls:127.0.0.1:$MOCK_PORT:$STACK_DIR/certs/ca.pem" ;;
	nginx|haproxy) echo "unix:$STACK_DIR/peers/$1.sock" ;;
	portkey) echo "tcp:127.0.0.1:$PK_PORT" ;;
	*)	echo "unix:$STACK_DIR/llmfb.sock" ;;
	esac
}
peer_path() {
	case $1 in
	llmfb*|portkey) echo /v1/chat/completions ;;
	*)	echo /primary/v1/chat/completions ;;
	esac
}
# peers_py MODE PATH N: bench/peers.py for that path
peers_py() {
	local h=()
	[ "$2" != portkey ] || h=("${PK_HDR[@]}")
	/usr/bin/python3 bench/peers.py "$1" "$(peer_addr "$2")" \
	    "$(peer_path "$2")" "$3" "${h[@]}"
}
# peer_bench PATH C: one llmfb-bench line
peer_bench() {
	local n=$((PEER_N / $2 < 100 ? 100 : PEER_N / $2)) cmd
	case $1 in
	direct)	cmd=("$B/llmfb-bench" "${DIRECT[@]}") ;;
	llmfb)	cmd=("$B/llmfb-bench" --unix-socket "$STACK_DIR/llmfb.sock"
		    --url http://api.openai.com/v1/chat/completions) ;;
	llmfb-shim) cmd=("${SHIM[@]}" "$B/llmfb-bench" "${VIA[@]}") ;;
	llmfb-fo) cmd=("$B/llmfb-bench" --unix-socket "$STACK_DIR/llmfb.sock"
		    --url http://api.openai.com/v1/chat/completions)
		"${cmd[@]}" -c "$2" -n "$n" --warmup 20 --data "$REQ_FO"
		return ;;
	portkey) cmd=("$B/llmfb-bench"
		    --url "http://127.0.0.1:$PK_PORT/v1/chat/completions"
		    --header "${PK_HDR[0]}" --header "${PK_HDR[1]}"
		    --header "${PK_HDR[2]}") ;;
	*)	cmd=("$B/llmfb-bench" --unix-socket "$STACK_DIR/peers/$1.sock"
		    --url http://api.openai.com/primary/v1/chat/completions) ;;
	esac
	"${cmd[@]}" -c "$2" -n "$n" --warmup 20 --data "$REQ"
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

peers_part() {
	local r p c out t0 n pid base held coproc_pid i
	local paths="direct llmfb llmfb-shim nginx haproxy" mems="llmfb nginx haproxy"
	local spaths="direct llmfb llmfb-shim nginx haproxy"
	if ! peer_fetch; then
		echo; echo "(part 10 skipped: cannot fetch nginx and haproxy into $PEER_CACHE)"
		return
	fi
	# llmfbd without eBPF: its uprobes on every libssl would slow the
	# proxies, the mock and the direct client too (part 5).
	kill "$DPID" 2>/dev/null || true
	wait "$DPID" 2>/dev/null || true
	# The tests' short timeouts would fail a thousand streams at once.
	{ grep -v '^ebpf:' "$STACK_DIR/llmfb.yaml" | sed 's/^  timeouts: { connect: 2s, first_byte: 800ms, total: 20s }/  timeouts: { connect: 10s, first_byte: 60s, total: 120s }/'
	  echo 'ebpf: off'; } >"$STACK_DIR/peers.yaml"
	daemon_start "$STACK_DIR/peers.yaml"
	DPID=$DAEMON_PID
	PEER_MOCK_PID=${STACK_PIDS# }
	PEER_MOCK_PID=${PEER_MOCK_PID%% *}
	peer_start
	if portkey_fetch && portkey_start; then
		paths="$paths portkey"
		# Portkey 1.15.2 fails every stream on Node 20 (a 500, "TypeError:
		# immutable" in its updateHeaders; Portkey-AI/gateway#1389,
		# #1550): streams and memory only where one goes through.
		mock_script primary 'chunks=2'
		if peers_py stream portkey 1 >/dev/null 2>"$STACK_DIR/pk.err"; then
			spaths="$spaths portkey"
			mems="$mems portkey"
		else
			echo "(part 10: Portkey's streams fail: $(head -c 200 "$STACK_DIR/pk.err"))" >&2
		fi
	else
		echo "(part 10: Portkey left out: no node and npm, or it did not install or start)" >&2
	fi
	mock_script primary ''
	for r in $(seq "$PEER_ROUNDS"); do
		for p in $paths; do
			for c in 1 16 64; do
				pid=$(peer_pid "$p")
				t0=$(ticks "$pid")
				out=$(peer_bench "$p" "$c")
				n=$(get n "$out")
				res[p$p,$c]+="$out cpu_s10k=$(awk -v t=$(( $(ticks "$pid") - t0 )) \
				    -v hz="$(getconf CLK_TCK)" -v n="$n" \
				    'BEGIN { printf "%.2f", n ? t / hz * 10000 / n : 0 }')"$'\n'
			done
		done
		# Failover, c=1: the first upstream refuses, the second
		# answers (direct: this round's, for "added").
		res[fdirect,1]+="$(peer_bench direct 1)"$'\n'
		for p in llmfb nginx haproxy; do
			res[f$p,1]+="$(peer_bench "$p-fo" 1 || echo failed)"$'\n'
		done
		mock_script primary 'chunks=200'
		for p in $spaths; do
			res[s$p,1]+="$(peers_py stream "$p" 20 || echo failed)"$'\n'
		done
		mock_script primary ''
	done
	# Memory: PEER_STREAMS slow streams held open at once, then four
	# bursts of as many fast ones.  Not llmfb-shim (the same daemon), not
	# direct (no proxy).
	ulimit -n 20000 2>/dev/null || true
	for p in $mems; do
		pid=$(peer_pid "$p")
		base=$(rss_kib "$pid")
		mock_script primary 'chunks=2 pace_ms=20000'
		coproc HOLD { peers_py hold "$p" "$PEER_STREAMS"; }
		coproc_pid=$HOLD_PID
		read -r held <&"${HOLD[0]}" || held=
		res[m$p,hold]="$(( ($(rss_kib "$pid") - base) * 1024 / PEER_STREAMS ))"
		echo >&"${HOLD[1]}"
		wait "$coproc_pid" 2>/dev/null || true
		[ "$held" = "held $PEER_STREAMS" ] || res[m$p,hold]="failed ($held)"
		mock_script primary 'chunks=20'
		for i in 1 2 3 4; do
			peers_py burst "$p" "$PEER_STREAMS" >/dev/null || true
		done
		res[m$p,base]=$base
		# A second's quiet after the bursts, for each alike: llmfbd
		# gives memory back 200 ms after a burst (server_trim).
		sleep 1
		res[m$p,after]=$(rss_kib "$pid")
		mock_script primary ''
	done
	# The same with PEER_STREAMS_BIG slow streams (not Portkey).  The
	# mock's threads of the last hold sleep out their pace before they
	# see their connection gone: the next hold waits for them, or the
	# mock runs out of descriptors and the next proxy fails for it.
	for p in llmfb nginx haproxy; do
		pid=$(peer_pid "$p")
		for i in $(seq 300); do
			[ "$(ls "/proc/$PEER_MOCK_PID/task" | wc -l)" -lt 200 ] && break
			sleep 0.1
		done
		sleep 1
		base=$(rss_kib "$pid")
		mock_script primary 'chunks=2 pace_ms=20000'
		coproc HOLD { peers_py hold "$p" "$PEER_STREAMS_BIG"; }
		coproc_pid=$HOLD_PID
		read -r held <&"${HOLD[0]}" || held=
		res[b$p,hold]="$(( ($(rss_kib "$pid") - base) * 1024 / PEER_STREAMS_BIG ))"
		# A hold that failed (the proxy refused some) has ended: its
		# pipe is gone, and a write to it must not end the bench.
		trap '' PIPE
		[ -z "${HOLD[1]:-}" ] || echo >&"${HOLD[1]}" 2>/dev/null || true
		trap - PIPE
		wait "$coproc_pid" 2>/dev/null || true
		[ "$held" = "held $PEER_STREAMS_BIG" ] || res[b$p,hold]="failed ($held)"
		mock_script primary ''
	done

	peer_row() {	# LABEL KEY C FIELD: llmfb, shim, nginx, haproxy, ratios
		local l h g s d k=- kr=-
		d=$(fig "$2direct" "$3" "$4")
		l=$(fig "$2llmfb" "$3" "$4"); s=$(fig "$2llmfb-shim" "$3" "$4")
		g=$(fig "$2nginx" "$3" "$4"); h=$(fig "$2haproxy" "$3" "$4")
		[ -z "${res[$2portkey,$3]:-}" ] || k=$(fig "$2portkey" "$3" "$4")
		[ -n "$k" ] || k=-
		[ "$4" != cpu_s10k ] || d=-	# no proxy in the direct path
		if [ "${5:-}" = added ]; then
			l=$((l - d)); s=$((s - d)); g=$((g - d)); h=$((h - d))
			[ "$k" = - ] || k=$((k - d))
		fi
		[ "$k" = - ] || kr=$(ratio "$l" "$k")
		echo "| $1 | $d | $l | $s | $g | $h | $k | $(ratio "$l" "$h") | $(ratio "$l" "$g") | $kr |"
	}
	fo_row() {	# failover: added p50 at c=1 over this part's direct
		local d l g h
		d=$(fig fdirect 1 p50_us)
		l=$(fig fllmfb 1 p50_us); g=$(fig fnginx 1 p50_us)
		h=$(fig fhaproxy 1 p50_us)
		[ -n "$l" ] && l=$((l - d)) || l=failed
		[ -n "$g" ] && g=$((g - d)) || g=failed
		[ -n "$h" ] && h=$((h - d)) || h=failed
		echo "| failover (first upstream refuses): added p50 µs, c=1 | $d | $l | | $g | $h | - | $(ratio "$l" "$h" 2>/dev/null) | $(ratio "$l" "$g" 2>/dev/null) | |"
	}
	mrow() {	# LABEL: the memory rows' Portkey cells
		if [[ " $mems " == *" portkey "* ]]; then
			echo "$1"
		else
			echo "-"
		fi
	}
	cat <<-EOT

	## 9. Peers: llmfbd beside nginx and HAProxy (issue 25)

	Plain reverse proxies in front of the same mock (HTTPS upstream, kept
	alive), one worker each, clients on a Unix socket; llmfb on its own
	socket (no shim) and through the shim.  $PEER_ROUNDS rounds,
	interleaved; medians of the rounds.  "added": over direct (the client
	straight to the mock over TLS), in the same round.  Ratios:
	llmfb (own socket) / HAProxy and / nginx.

	| measure | direct | llmfb | llmfb via shim | nginx | HAProxy | Portkey | llmfb/HAProxy | llmfb/nginx | llmfb/Portkey |
	|---|---|---|---|---|---|---|---|---|---|
	EOT
	for c in 1 16 64; do
		peer_row "added p50 µs, c=$c" p "$c" p50_us added
		peer_row "added p99 µs, c=$c" p "$c" p99_us added
	done
	peer_row "requests/s, c=64" p 64 rps
	peer_row "CPU s per 10k calls, c=64" p 64 cpu_s10k
	peer_row "200-chunk stream: added time to first body byte µs" s 1 ttfb_us added
	peer_row "200-chunk stream: added time to last byte µs" s 1 ttlb_us added
	fo_row
	echo "| RSS per open stream, $PEER_STREAMS slow streams, bytes | | ${res[mllmfb,hold]} | | ${res[mnginx,hold]} | ${res[mhaproxy,hold]} | $(mrow "${res[mportkey,hold]:-}") | $(ratio "${res[mllmfb,hold]}" "${res[mhaproxy,hold]}") | $(ratio "${res[mllmfb,hold]}" "${res[mnginx,hold]}") | $(mrow "$(ratio "${res[mllmfb,hold]}" "${res[mportkey,hold]:-1}")") |"
	echo "| RSS per open stream, $PEER_STREAMS_BIG slow streams, bytes | | ${res[bllmfb,hold]} | | ${res[bnginx,hold]} | ${res[bhaproxy,hold]} | - | $(ratio "${res[bllmfb,hold]}" "${res[bhaproxy,hold]}") | $(ratio "${res[bllmfb,hold]}" "${res[bnginx,hold]}") | |"
	echo "| RSS KiB before -> after 4 bursts of $PEER_STREAMS streams | | ${res[mllmfb,base]} -> ${res[mllmfb,after]} | | ${res[mnginx,base]} -> ${res[mnginx,after]} | ${res[mhaproxy,base]} -> ${res[mhaproxy,after]} | $(mrow "${res[mportkey,base]:-} -> ${res[mportkey,after]:-}") | $(ratio "${res[mllmfb,after]}" "${res[mhaproxy,after]}") | $(ratio "${res[mllmfb,after]}" "${res[mnginx,after]}") | $(mrow "$(ratio "${res[mllmfb,after]}" "${res[mportkey,after]:-1}")") |"
}

[ -n "${SKIP_PEERS:-}" ] || peers_part
