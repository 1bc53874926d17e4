# The fleet cases: three llmfbd (hosts a, b and c), each in its own
# network namespace with its own sockets, config, state and log, share
# one real redis-server (docs/fleet.md).
#
#	this namespace: bridge lfbID, 10.X.Y.1 (the mock provider, through
#	  a forwarder to its loopback) and 10.X.Y.2 (Redis, over TCP)
#	namespace llmfb-ID-H per host H: a veth on the bridge, 10.X.Y.1N
#
# llmfbd reaches Redis and the mock over TCP through its veth (the
# mock's URL stays https://127.0.0.1:PORT for its certificate, and
# upstream.connect_to sends it to the bridge); clients here reach each
# llmfbd on its Unix socket, a path, which no network namespace hides.
# So "Redis partitioned from one host" is a route in that host's
# namespace that drops what goes to Redis, and nothing else.  Sourced by
# run.sh; run them alone with
#   tests/e2e/run.sh fleet_cases

FLEET_HOSTS="a b c"
FLEET_ALL="a b c d e"	# d: a start refused; e: a slow Redis
declare -A FLEET_PID=()	# host -> llmfbd's pid
declare -A FLEET_NS=()	# host -> its network namespace
declare -A FLEET_IP=()	# host -> its address
FLEET_PASS="fleet-pass-$$-$RANDOM"
FLEET_ID=$(( $$ % 100000 ))
FLEET_BR=lfb$FLEET_ID
FLEET_NET=""		# 10.X.Y. once the network is up
FLEET_REDIS_PORT=""	# on an address of this run's own

# fleet_ctl HOST ARGS...: llmfbctl on that host's control socket.
fleet_ctl() {
	local h=$1
	shift
	"$B/llmfbctl" -s "$FD/$h/control.sock" "$@"
}

fleet_breaker() {	# HOST TARGET FIELD
	fleet_ctl "$1" --json status | jq -r --arg t "$2" --arg f "$3" \
	    '.targets[] | select(.name == $t) | .breaker[$f]'
}

fleet_spend() {		# HOST ROUTE: the day's spend there, in USD
	fleet_ctl "$1" --json status | jq -r --arg r "$2" \
	    '.routes[] | select(.name == $r) | .budget.day_usd'
}

fleet_breaker_is() {	# HOST TARGET STATE
	[ "$(fleet_breaker "$1" "$2" state)" = "$3" ]
}

usd() { awk "BEGIN { printf \"%.3f\", ${1:-0} }"; }	# EXPRESSION

fleet_up() { [ "$(fleet_ctl "$1" --json status | jq -r .fleet.up)" = true ]; }

fleet_all_up() {
	local h
	for h in $FLEET_HOSTS; do
		fleet_up "$h" || return 1
	done
}

redis_cli() {
	REDISCLI_AUTH=$FLEET_PASS redis-cli -s "$FD/redis.sock" "$@"
}

# Redis on the bridge for the hosts, and on a Unix socket for the tests.
redis_start() {
	redis-server --port "$FLEET_REDIS_PORT" --bind "${FLEET_NET}2" \
	    --unixsocket "$FD/redis.sock" \
	    --unixsocketperm 700 --save '' --appendonly no \
	    --requirepass "$FLEET_PASS" --dir "$FD" \
	    --logfile "$FD/redis.log" &
	REDIS_PID=$!
	STACK_PIDS="$STACK_PIDS $REDIS_PID"
	wait_for "redis-server" redis_cli ping
}

redis_kill() {
	kill "$REDIS_PID" 2>/dev/null || true
	wait "$REDIS_PID" 2>/dev/null || true
}

# fleet_net_up: the bridge and a namespace per host, or 1 with the
# reason in FLEET_WHY.  The subnet is one no address here is in yet (other
# runs may have theirs).
fleet_net_up() {
	local h i n x y err
	if [ "$(id -u)" != 0 ]; then
		FLEET_WHY="needs root for network namespaces"
		return 1
	fi
	if ! command -v ip >/dev/null; then
		FLEET_WHY="no ip command (iproute2; tests/deps.sh installs it)"
		return 1
	fi
	for i in $(seq 0 50); do
		x=$(( 120 + (FLEET_ID + i) % 100 ))
		y=$(( (FLEET_ID / 100 + i) % 250 ))
		ip -4 -o addr | grep -q " 10\\.$x\\.$y\\." || break
	done
	FLEET_NET=10.$x.$y.
	STACK_ATEXIT="${STACK_ATEXIT:+$STACK_ATEXIT; }fleet_net_down"
	if ! err=$(ip link add "$FLEET_BR" type bridge 2>&1 &&
	    ip addr add "${FLEET_NET}1/24" dev "$FLEET_BR" 2>&1 &&
	    ip addr add "${FLEET_NET}2/24" dev "$FLEET_BR" 2>&1 &&
	    ip link set "$FLEET_BR" up 2>&1); then
		FLEET_WHY="cannot make a bridge: $err"
		return 1
	fi
	n=10
	for h in $FLEET_ALL; do
		n=$((n + 1))
		FLEET_NS[$h]=llmfb-$FLEET_ID-$h
		FLEET_IP[$h]=$FLEET_NET$n
		if ! err=$(ip netns add "${FLEET_NS[$h]}" 2>&1 &&
		    ip link add "lf$FLEET_ID$h" type veth peer name \
		    "lf${FLEET_ID}${h}n" 2>&1 &&
		    ip link set "lf${FLEET_ID}${h}n" netns "${FLEET_NS[$h]}" \
		    2>&1 &&
		    ip link set "lf$FLEET_ID$h" master "$FLEET_BR" up 2>&1 &&
		    ip -n "${FLEET_NS[$h]}" addr add "${FLEET_IP[$h]}/24" \
		    dev "lf${FLEET_ID}${h}n" 2>&1 &&
		    ip -n "${FLEET_NS[$h]}" link set "lf${FLEET_ID}${h}n" up \
		    2>&1 &&
		    ip -n "${FLEET_NS[$h]}" link set lo up 2>&1); then
			FLEET_WHY="cannot make host $h's namespace: $err"
			return 1
		fi
	done
}

fleet_net_down() {
	local h
	for h in $FLEET_ALL; do
		[ -z "${FLEET_NS[$h]:-}" ] ||
		    ip netns del "${FLEET_NS[$h]}" 2>/dev/null || true
	done
	ip link del "$FLEET_BR" 2>/dev/null || true
	FLEET_NS=()
}

# fleet_cut HOST / fleet_heal HOST: Redis partitioned from that host
# alone: in its namespace, a blackhole route drops all it sends to
# Redis's address (nothing answers, nothing is refused), while the mock
# on the bridge's other address and the other hosts are untouched.
fleet_cut() {
	ip -n "${FLEET_NS[$1]}" route add blackhole "${FLEET_NET}2/32"
}
fleet_heal() {
	ip -n "${FLEET_NS[$1]}" route del blackhole "${FLEET_NET}2/32"
}

# fleet_config HOST [PASSWORD_FILE]: host's config, on stdout.
fleet_config() {
	cat <<EOF
listen: $FD/$1/llmfb.sock
control: $FD/$1/control.sock
state_dir: $FD/$1/state
events: $FD/$1/events.log
intercept: [api.openai.com]
ebpf: off
bypass_watch: false
network_watch: false
upstream:
  ca_file: $STACK_DIR/certs/ca.pem
  # The mock's URL names the loopback its certificate covers; from the
  # host's namespace it is on the bridge.
  connect_to: ["127.0.0.1:$MOCK_PORT:${FLEET_NET}1:$MOCK_PORT"]
breaker: { failures: 2, ratio: 0%, cooldown: 4s }
shared:
  address: ${FLEET_NET}2:$FLEET_REDIS_PORT
  password_file: ${2:-$FD/pass}
  prefix: "e2e:"
  name: host-$1
  timeout: 300ms
  reconnect: 100ms
  # Under a loaded CI machine Redis can take more than the default 5 ms
  # to grant a probe lease; e (below) keeps the default, to test it.
  max_wait: 500ms
providers:
  fdown: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/fdown/v1" }
  fup:   { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/fup/v1" }
  fpay:  { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/fpay/v1" }
  fslow: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/fslow/v1" }
  flim:  { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/flim/v1" }
  f429:  { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/f429/v1" }
  frpm:  { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/frpm/v1" }
targets:
  down: { provider: fdown }
  up:   { provider: fup }
  slow: { provider: fslow }
  # The mock counts 10 prompt tokens a call: 0.125 USD, exact in binary.
  paid: { provider: fpay, price: { input: 12500, output: 0 } }
  # Rate limits, shared per account: lim's is named, l429's and rpm5's
  # are their names.
  lim:  { provider: flim, account: acct-lim }
  lim_same:  { provider: flim, account: acct-lim }
  lim_other: { provider: flim, account: acct-other }
  l429: { provider: f429 }
  rpm5: { provider: frpm, rpm: 5 }
routes:
  - name: fleet-breaker
    match: { model: fleet-breaker }
    ladder: [down, up]
    attempts: { technical: 1 }
    timeouts: { first_token: 10s }
  - name: fleet-budget
    match: { model: fleet-budget }
    ladder: [paid, up]
    budget: { day: 1.0 }
  - name: fleet-slo
    match: { model: fleet-slo }
    ladder: [slow, up]
    slo: { first_token_p95: 300ms, min_samples: 3 }
  - name: fleet-outage
    match: { model: fleet-outage }
    ladder: [paid, up]
    budget: { day: 100 }
  - name: fleet-rl
    match: { model: fleet-rl }
    ladder: [lim, up]
  - name: fleet-rl-same
    match: { model: fleet-rl-same }
    ladder: [lim_same, up]
  - name: fleet-rl-other
    match: { model: fleet-rl-other }
    ladder: [lim_other, up]
  - name: fleet-429
    match: { model: fleet-429 }
    ladder: [l429, up]
  - name: fleet-rpm
    match: { model: fleet-rpm }
    ladder: [rpm5, up]
EOF
}

# FLEET_WRAP="valgrind ..." runs host FLEET_WRAP_HOST (default b) under
# it, as harden.sh's HD_WRAP does; FLEET_LLMFBD is the llmfbd every host
# runs (a sanitized build's, say) when it is not $B's.  Each host runs in
# its namespace (ip netns exec execs it: the pid is llmfbd's, or the
# wrapper's).
fleet_start_host() {
	local h=$1 wrap=""
	[ "$h" = "${FLEET_WRAP_HOST:-b}" ] && wrap=${FLEET_WRAP:-}
	# shellcheck disable=SC2086
	ip netns exec "${FLEET_NS[$h]}" $wrap "${FLEET_LLMFBD:-$B/llmfbd}" \
	    -c "$FD/$h/llmfb.yaml" -d >>"$FD/$h/log" 2>&1 &
	FLEET_PID[$h]=$!
	STACK_PIDS="$STACK_PIDS $!"
	wait_for "llmfbd $h" fleet_ctl "$h" status
}

fleet_setup() {
	local h
	FD=$STACK_DIR/fleet
	mkdir -p "$FD"
	printf '%s\n' "$FLEET_PASS" >"$FD/pass"
	# Free on the loopback: not taken by a Redis of this machine's that
	# listens on every address.
	FLEET_REDIS_PORT=$(free_port)
	redis_start
	/usr/bin/python3 tests/e2e/sockproxy.py "tcp:${FLEET_NET}1:$MOCK_PORT" \
	    "tcp:127.0.0.1:$MOCK_PORT" &
	PROXY_PID=$!
	STACK_PIDS="$STACK_PIDS $PROXY_PID"
	wait_for "the mock on the bridge" ip netns exec "${FLEET_NS[a]}" \
	    curl -sS -o /dev/null --cacert "$STACK_DIR/certs/ca.pem" \
	    --connect-to "127.0.0.1:$MOCK_PORT:${FLEET_NET}1:$MOCK_PORT" \
	    "$MOCK_URL/_mock/stats"
	for h in $FLEET_HOSTS; do
		mkdir -p "$FD/$h"
		fleet_config "$h" >"$FD/$h/llmfb.yaml"
		fleet_start_host "$h"
	done
	wait_for "the fleet's links to Redis" fleet_all_up
}

fleet_teardown() {
	local h p
	for h in $FLEET_HOSTS; do
		p=${FLEET_PID[$h]}
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	redis_kill
	kill "$PROXY_PID" 2>/dev/null || true
	wait "$PROXY_PID" 2>/dev/null || true
	fleet_net_down
	shim_on
	# Their sanitizer reports, if any, count at the end of the run.
	grep -h -A30 -E 'Sanitizer|runtime error' "$FD"/*/log \
	    >>"$STACK_DIR/sanitizer.log" 2>/dev/null || true
}

fleet_call() {		# HOST MODEL
	shim_on "$FD/$1/llmfb.sock"
	call curl "$OAI" "{\"model\":\"$2\",\"messages\":[]}"
}

# A breaker opened by failures at a opens at b and c within a second,
# and no call from b or c reaches the failing provider.  After the
# cooldown one host probes for the fleet, not each of them.
fleet_breaker_case() {
	local t0 h open_ms n pids=""
	mock_reset
	mock_script fdown 'status=503'
	fleet_call a fleet-breaker
	fleet_call a fleet-breaker
	expect_eq a-served-by-next "$TARGET" up
	expect_eq a-attempts "$(mock_stat fdown requests)" 2
	expect_eq a-open "$(fleet_breaker a down state)" open
	t0=$(ms_now)
	for h in b c; do
		wait_for "$h: breaker open" fleet_breaker_is "$h" down open
	done
	open_ms=$(( $(ms_now) - t0 ))
	expect_lt opened-on-b-and-c-within-1s "$open_ms" 1000
	expect_eq b-from-fleet "$(fleet_breaker b down from_fleet)" true
	for h in b c; do
		fleet_call "$h" fleet-breaker
		expect_eq "$h-served" "$CODE $TARGET" "200 up"
		expect_match "$h-reason" "$REASONS" 'down=fleet-breaker-open'
	done
	expect_eq none-from-b-or-c "$(mock_stat fdown requests)" 2
	expect_match record-says-fleet \
	    "$(fleet_ctl b --json events 1)" 'fleet-breaker-open'
	expect_match metric-remote-opens "$(fleet_ctl c metrics)" \
	    'llmfb_shared_remote_opens_total 1'
	finish "fleet: a breaker opened on a opens on b and c in ${open_ms} ms, no call from them reaches it"

	# The cooldown (4 s) passes: one host wins the probe lease.  Its
	# probe is slow; calls on every host meanwhile reach fdown once.
	mock_script fdown 'delay_ms=1500'
	wait_for "a probe lease" fleet_one_half_open
	for h in a b c a b c; do
		( shim_on "$FD/$h/llmfb.sock"
		  env "${SHIM_ENV[@]}" curl -sS -o /dev/null \
		      -H 'Content-Type: application/json' \
		      -d '{"model":"fleet-breaker","messages":[]}' "$OAI" ) &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids
	n=$(mock_stat fdown requests)
	expect_eq one-probe-fleet-wide "$n" 3
	for h in $FLEET_HOSTS; do
		wait_for "$h: closed" fleet_breaker_is "$h" down closed
		expect_eq "$h-closed" "$(fleet_breaker "$h" down state)" closed
	done
	finish "fleet: after the cooldown one probe for three hosts; its success closes all"
}

fleet_alone() { [ "$(fleet_ctl "$1" --json status | jq -r .fleet.up)" = false ]; }
fleet_spend_is() { [ "$(usd "$(fleet_spend "$1" "$2")")" = "$3" ]; }

fleet_one_half_open() {
	local h n=0
	for h in $FLEET_HOSTS; do
		[ "$(fleet_breaker "$h" down state)" = half-open ] && n=$((n + 1))
	done
	[ "$n" -ge 1 ]
}

# A day's budget of 1 USD spent at 0.125 a call from three hosts in turn:
# all three stop at the same total, 8 calls, not 8 each.
fleet_budget_case() {
	local i h paid s
	mock_reset
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		for h in $FLEET_HOSTS; do
			fleet_call "$h" fleet-budget
			[ "$CODE" = 200 ] || expect_eq "call $i on $h" "$CODE" 200
		done
	done
	paid=$(mock_stat fpay requests)
	# Within one call's cost: a spend on its way to Redis as the next
	# host decides.
	expect_ge paid-at-least-the-budget "$paid" 8
	expect_lt paid-within-one-call "$paid" 10
	for h in $FLEET_HOSTS; do
		s=$(fleet_spend "$h" fleet-budget)
		expect_eq "$h-spend" "$(usd "$s")" "$(usd "$paid * 0.125")"
	done
	expect_eq redis-total "$(usd "$(redis_cli get \
	    "e2e:budget:d:$(( $(date +%s) / 86400 )):route:fleet-budget")")" \
	    "$(usd "$paid * 0.125")"
	# The caller's spend (curl, as root: one program on three hosts)
	# goes in the same command as the route's.
	expect_eq redis-caller-total "$(usd "$(redis_cli get \
	    "e2e:budget:d:$(( $(date +%s) / 86400 )):caller:uid=$(id -u):$(readlink -f "$(command -v curl)")")")" \
	    "$(usd "$paid * 0.125")"
	finish "fleet: a day budget spent from three hosts stops all three at one total ($paid calls)"
}

# Redis killed mid-run: every call is still answered, each host goes on
# alone and counts it; once Redis is back (empty), spend and breakers
# are resynchronised.
fleet_outage_case() {
	local h t0 el max=0 before want prev
	mock_reset
	mock_script fdown 'status=503'
	for h in $FLEET_HOSTS; do
		fleet_ctl "$h" reset down >/dev/null
	done
	prev=$(fleet_spend a fleet-outage)
	# Scripts flushed by hand: each spend is sent again as EVAL, once.
	redis_cli script flush >/dev/null
	for h in $FLEET_HOSTS; do
		fleet_call "$h" fleet-outage
	done
	# What every host knows was spent before Redis goes.
	before=$(fleet_spend a fleet-outage)
	expect_eq counted-once-after-flush "$(usd "$before")" \
	    "$(usd "$prev + 3 * 0.125")"
	for h in b c; do
		wait_for "$h: spend shared" fleet_spend_is "$h" fleet-outage \
		    "$(usd "$before")" || ERRS="$ERRS; $h: spend not shared"
	done
	want=$(usd "$before + 6 * 0.125")
	redis_kill
	for h in $FLEET_HOSTS; do
		wait_for "$h: alone" fleet_alone "$h"
	done
	for h in $FLEET_HOSTS $FLEET_HOSTS; do
		t0=$(ms_now)
		fleet_call "$h" fleet-outage
		el=$(( $(ms_now) - t0 ))
		[ "$el" -gt "$max" ] && max=$el
		expect_eq "$h-answered-alone" "$CODE $TARGET" "200 paid"
	done
	# Two failures at a while Redis is away: open there only.
	fleet_call a fleet-breaker
	fleet_call a fleet-breaker
	expect_eq a-open-alone "$(fleet_breaker a down state)" open
	expect_eq b-not-told "$(fleet_breaker b down state)" closed
	expect_match metric-down "$(fleet_ctl a metrics)" \
	    'llmfb_shared_up 0'
	expect_match metric-failures "$(fleet_ctl a metrics)" \
	    'llmfb_shared_failures_total\{kind="(lost|timeout)"\} [1-9]'
	expect_match logged "$(cat "$FD/a/log")" 'going on alone'
	# Rate limits alone: a sees acct-lim spent and passes it over; b,
	# not told, goes on with what it knows and calls it.
	for h in $FLEET_HOSTS; do
		fleet_ctl "$h" reset lim >/dev/null
	done
	mock_script flim 'rl_requests=0 rl_reset=30s'
	fleet_call a fleet-rl
	fleet_call a fleet-rl
	expect_eq a-rl-alone "$CODE $TARGET $REASONS" "200 up lim=rate-limit"
	fleet_call b fleet-rl
	expect_eq b-rl-not-told "$CODE $TARGET" "200 lim"
	redis_start
	wait_for "the fleet back on Redis" fleet_all_up
	# a tells the fleet what opened while Redis was away.
	for h in b c; do
		wait_for "$h: breaker from a" fleet_breaker_is "$h" down open ||
		    ERRS="$ERRS; $h: a's breaker not resynced"
	done
	# And what they saw spent: c, which never called lim, hears it.
	wait_for "c: acct-lim from a or b" fleet_rl_heard c lim ||
	    ERRS="$ERRS; c did not hear acct-lim on the return"
	fleet_call c fleet-rl
	expect_eq c-rl-resynced "$CODE $TARGET $REASONS" \
	    "200 up lim=fleet-rate-limit"
	expect_eq lim-two-calls "$(mock_stat flim requests)" 2
	# The spend all knew before, and the 6 calls made alone: Redis
	# restarted empty and has it all back.
	for h in $FLEET_HOSTS; do
		wait_for "$h: spend resynced" fleet_spend_is "$h" \
		    fleet-outage "$want"
		expect_eq "$h-spend-resynced" \
		    "$(usd "$(fleet_spend "$h" fleet-outage)")" "$want"
	done
	expect_eq redis-total-restored "$(usd "$(redis_cli get \
	    "e2e:budget:d:$(( $(date +%s) / 86400 )):route:fleet-outage")")" \
	    "$want"
	finish "fleet: Redis killed: all calls answered alone (slowest ${max} ms); spend, breakers and spent accounts resynced on its return"
}

# A wrong password is a clear error: at start (llmfbd exits) and at
# reload (refused, the running config kept).
fleet_password_case() {
	local out rc
	mkdir -p "$FD/d"
	printf 'not-the-password\n' >"$FD/wrong"
	fleet_config d "$FD/wrong" >"$FD/d/llmfb.yaml"
	out=$(timeout 10 ip netns exec "${FLEET_NS[d]}" "$B/llmfbd" \
	    -c "$FD/d/llmfb.yaml" 2>&1)
	rc=$?
	expect_eq start-refused "$rc" 1
	expect_match start-error "$out" \
	    "shared: Redis at ${FLEET_NET//./\\.}2:$FLEET_REDIS_PORT refused the password \\(from $FD/wrong\\)"
	[[ "$out" == *not-the-password* ]] && ERRS="$ERRS; the password is in the error"
	fleet_config a "$FD/wrong" >"$FD/a/llmfb.yaml"
	out=$(fleet_ctl a reload 2>&1)
	rc=$?
	expect_eq reload-refused "$rc" 1
	expect_match reload-error "$out" 'refused the password'
	[[ "$out" == *not-the-password* ]] && ERRS="$ERRS; the password is in the reload error"
	expect_eq still-linked "$(fleet_ctl a --json status | jq -r .fleet.up)" true
	fleet_call a fleet-outage
	expect_eq still-serving "$CODE" 200
	fleet_config a >"$FD/a/llmfb.yaml"
	expect_eq good-reload "$(fleet_ctl a reload >/dev/null 2>&1; echo $?)" 0
	expect_eq same-link-kept "$(fleet_ctl a --json status |
	    jq -r .fleet.connects)" 1
	# Another prefix is another fleet: a reload relinks under it.
	fleet_config a | sed 's/prefix: "e2e:"/prefix: "e2e-other:"/' \
	    >"$FD/a/llmfb.yaml"
	expect_eq relink-reload "$(fleet_ctl a reload >/dev/null 2>&1; echo $?)" 0
	wait_for "a: relinked" fleet_up a || ERRS="$ERRS; a did not relink"
	expect_eq new-prefix "$(fleet_ctl a --json status | jq -r .fleet.prefix)" \
	    e2e-other:
	fleet_config a >"$FD/a/llmfb.yaml"
	fleet_ctl a reload >/dev/null 2>&1
	wait_for "a: back in the fleet" fleet_up a ||
	    ERRS="$ERRS; a did not come back"
	finish "fleet: a wrong password is refused at start and at reload, without saying it"
}

# Redis partitioned from c alone (a blackhole route to Redis in c's
# namespace: nothing answers, nothing closes, the mock is still
# reached): c goes on alone within shared.timeout while
# a and b stay linked; what happened meanwhile reaches c when the way is
# back.
fleet_partition_case() {
	local h t0 el before
	mock_reset
	mock_script fdown 'status=503'
	for h in $FLEET_HOSTS; do
		fleet_ctl "$h" reset down >/dev/null
	done
	before=$(fleet_spend a fleet-outage)
	fleet_cut c
	# Before c notices: its spend goes out and the answer never comes.
	# Redis may count it when the way is back (TCP sends it again), and
	# c sends it again under its id then: it must count once.
	fleet_call c fleet-outage
	expect_eq c-answered-unknowing "$CODE $TARGET" "200 paid"
	wait_for "c: alone" fleet_alone c || ERRS="$ERRS; c never went alone"
	expect_match c-timeout-counted "$(fleet_ctl c metrics)" \
	    'llmfb_shared_failures_total\{kind="timeout"\} [1-9]'
	fleet_up a || ERRS="$ERRS; a lost Redis too"
	fleet_up b || ERRS="$ERRS; b lost Redis too"
	t0=$(ms_now)
	fleet_call c fleet-outage
	el=$(( $(ms_now) - t0 ))
	expect_eq c-answered "$CODE $TARGET" "200 paid"
	expect_lt c-no-wait-on-redis "$el" 1500
	fleet_call a fleet-breaker
	fleet_call a fleet-breaker
	wait_for "b: open" fleet_breaker_is b down open ||
	    ERRS="$ERRS; b did not follow a"
	expect_eq c-cut-off "$(fleet_breaker c down state)" closed
	fleet_heal c
	wait_for "c: back" fleet_up c || ERRS="$ERRS; c did not come back"
	wait_for "c: open from the fleet" fleet_breaker_is c down open ||
	    ERRS="$ERRS; c did not learn a's open"
	expect_eq c-from-fleet "$(fleet_breaker c down from_fleet)" true
	# c's two calls, each counted once.
	wait_for "a: c's spend" fleet_spend_is a fleet-outage \
	    "$(usd "$before + 0.25")"
	expect_eq a-spend "$(usd "$(fleet_spend a fleet-outage)")" \
	    "$(usd "$before + 0.25")"
	expect_eq c-spend "$(usd "$(fleet_spend c fleet-outage)")" \
	    "$(usd "$before + 0.25")"
	finish "fleet: Redis partitioned from c alone: c goes on alone (call in ${el} ms), learns on return"
}

# Latency: a's first tokens from slow are over the route's SLO; b has
# never called slow, and passes it over on a's samples.
fleet_latency_case() {
	local i
	mock_reset
	mock_script fslow 'delay_ms=500'
	for i in 1 2 3; do
		fleet_call a fleet-slo
		expect_eq "a-call-$i" "$CODE $TARGET" "200 slow"
	done
	fleet_call a fleet-slo
	expect_eq a-passes-over "$TARGET" up
	expect_match a-own-samples "$REASONS" 'slow=slo'
	wait_for "b: a's samples" fleet_p95_known b
	fleet_call b fleet-slo
	expect_eq b-passes-over "$TARGET" up
	expect_match b-fleet-samples "$REASONS" 'slow=fleet-slo'
	expect_eq none-from-b "$(mock_stat fslow requests)" 3
	finish "fleet: a target over its SLO on a is passed over on b, from a's samples"
}

# b holds a's 3 samples of slow in its fleet view.
fleet_p95_known() {
	[ "$(fleet_ctl "$1" --json status | jq -r '.targets[] |
	    select(.name == "slow") | .fleet_latency.samples')" -ge 3 ]
}

# Redis slow for host e (what e sends to it dropped on the way, e's
# timeout 20 s so it does not drop the link): a breaker the fleet holds open asks for the
# probe lease at the end of its cooldown, gets no answer within
# max_wait (5 ms), and half-opens on e alone.
fleet_slow_case() {
	local p
	mkdir -p "$FD/e"
	fleet_config e | sed -e 's/timeout: 300ms/timeout: 20s/' \
	    -e '/max_wait:/d' >"$FD/e/llmfb.yaml"
	fleet_start_host e
	p=${FLEET_PID[e]}
	wait_for "e: linked" fleet_up e || ERRS="$ERRS; e never linked"
	mock_reset
	mock_script fdown 'status=503'
	for h in $FLEET_HOSTS e; do
		fleet_ctl "$h" reset down >/dev/null
	done
	fleet_call a fleet-breaker
	fleet_call a fleet-breaker
	wait_for "e: open" fleet_breaker_is e down open ||
	    ERRS="$ERRS; e did not follow a"
	expect_eq e-held "$(fleet_breaker e down fleet_hold)" true
	fleet_cut e
	wait_for "e: half-open alone" fleet_breaker_is e down half-open ||
	    ERRS="$ERRS; e never half-opened"
	expect_eq e-lease-late "$(fleet_ctl e --json status |
	    jq -r .fleet.leases_late)" 1
	expect_eq e-still-linked "$(fleet_ctl e --json status |
	    jq -r .fleet.up)" true
	fleet_heal e
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	wait_for "the fleet linked again" fleet_all_up ||
	    ERRS="$ERRS; the fleet did not relink"
	finish "fleet: a lease Redis does not answer within max_wait is not waited for"
}

# HOST TARGET FILTER: on the target's .rate_limit there.
fleet_rl() {
	fleet_ctl "$1" --json status | jq -c --arg t "$2" \
	    ".targets[] | select(.name == \$t) | .rate_limit | $3"
}
# HOST TARGET: passed over there on another host's word.
fleet_rl_heard() { [ "$(fleet_rl "$1" "$2" '.fleet.limited_ms > 0')" = true ]; }

# Provider rate limits are an account's: a's answer says acct-lim has no
# request left for 30 s, and b and c pass its targets over on a's word,
# without a request of theirs reaching it (a target of another account
# on that provider is still called); a 429 with a Retry-After at b
# does the same at a and c.
fleet_ratelimit_case() {
	local h t0 ms
	mock_reset
	mock_script flim 'rl_requests=0 rl_reset=30s'
	fleet_call a fleet-rl
	expect_eq a-served "$CODE $TARGET" "200 lim"
	t0=$(ms_now)
	for h in b c; do
		wait_for "$h: a's word on acct-lim" fleet_rl_heard "$h" lim ||
		    ERRS="$ERRS; $h never heard a's word"
	done
	ms=$(( $(ms_now) - t0 ))
	for h in b c; do
		fleet_call "$h" fleet-rl
		expect_eq "$h-passed-over" "$CODE $TARGET $REASONS" \
		    "200 up lim=fleet-rate-limit"
	done
	expect_eq none-from-b-or-c "$(mock_stat flim requests)" 1
	expect_eq b-whose-word "$(fleet_rl b lim \
	    '.fleet | [.account, .from, .why]')" '["acct-lim","host-a","requests"]'
	expect_match b-record "$(fleet_ctl b --json events 1)" \
	    'lim=fleet-rate-limit'
	expect_match c-metric "$(fleet_ctl c metrics)" \
	    'llmfb_shared_rate_limit_words_total\{kind="remote"\} 1'
	expect_match c-metric-limited "$(fleet_ctl c metrics)" \
	    'llmfb_shared_rate_limited\{target="lim",provider="flim"\} 1'
	expect_match b-status-fleet "$(fleet_ctl b status --fleet)" \
	    'rate-limited acct-lim \(lim, requests\) [0-9]+s, from host-a'
	expect_match c-status "$(fleet_ctl c status)" \
	    "  lim rate limit: passed over for [0-9.]+s on host-a's word \\(account acct-lim, requests\\)"
	expect_eq redis-key "$(redis_cli get e2e:rl:acct-lim)" \
	    "host-a requests"
	# The word is the account's: another target of acct-lim is passed
	# over too, one of another account on the same provider is not.
	fleet_call b fleet-rl-same
	expect_eq b-same-account "$CODE $TARGET $REASONS" \
	    "200 up lim_same=fleet-rate-limit"
	fleet_call b fleet-rl-other
	expect_eq b-other-account "$CODE $TARGET" "200 lim_other"
	finish "fleet: an account spent at a (its headers) is passed over on b and c (heard in ${ms} ms), no request from them"

	mock_script f429 'status=429 retry_after=30'
	fleet_call b fleet-429
	expect_eq b-moved-on "$CODE $TARGET $REASONS" "200 up l429=http-429"
	for h in a c; do
		wait_for "$h: b's 429" fleet_rl_heard "$h" l429 ||
		    ERRS="$ERRS; $h never heard b's 429"
		fleet_call "$h" fleet-429
		expect_eq "$h-passed-over" "$CODE $TARGET $REASONS" \
		    "200 up l429=fleet-rate-limit"
	done
	expect_eq one-429 "$(mock_stat f429 requests)" 1
	expect_eq a-whose-word "$(fleet_rl a l429 \
	    '.fleet | [.account, .from, .why, .limited_ms > 20000]')" \
	    '["l429","host-b","429",true]'
	finish "fleet: a 429 with a Retry-After at b keeps a and c off that account too"
}

# rpm5 may take 5 requests a minute from the whole fleet: three hosts
# calling it in turn stop at 5 together (within one call), not 5 each.
fleet_rpm_case() {
	local i h n sum
	mock_reset
	for i in 1 2 3; do
		for h in $FLEET_HOSTS; do
			fleet_call "$h" fleet-rpm
			[ "$CODE" = 200 ] || expect_eq "call $i on $h" "$CODE" 200
		done
	done
	n=$(mock_stat frpm requests)
	expect_ge reached-rpm "$n" 5
	expect_lt within-one-call "$n" 7
	expect_eq last-passed-over "$TARGET $REASONS" "up rpm5=fleet-rate-limit"
	# Redis counted each once, in the minute of its key.
	sum=$(redis_cli --scan --pattern 'e2e:rpm:*:rpm5' |
	    while read -r k; do redis_cli get "$k"; done |
	    awk '{ s += $1 } END { print s + 0 }')
	expect_eq redis-count "$sum" "$n"
	expect_eq c-fleet-count "$(fleet_rl c rpm5 .fleet.requests)" "$n"
	finish "fleet: an rpm of 5 across three hosts stops them all at $n requests"
}

fleet_status_case() {
	local out h n
	# Three hosts, three network namespaces, none of them this one's.
	n=$( { readlink /proc/$$/ns/net
	    for h in $FLEET_HOSTS; do
		readlink "/proc/${FLEET_PID[$h]}/ns/net"
	    done; } | sort -u | wc -l)
	expect_eq own-namespaces "$n" 4
	out=$(fleet_ctl a status --fleet)
	expect_match host-a "$out" 'host-a'
	expect_match peers "$out" 'host-b'
	expect_match peers "$out" 'host-c'
	expect_match linked "$out" 'linked'
	finish "fleet: llmfbctl status --fleet shows each host's view; each host in its own network namespace"
}

fleet_cases() {
	if ! command -v redis-server >/dev/null; then
		skip fleet_cases "no redis-server (tests/deps.sh installs it)"
		return
	fi
	if ! fleet_net_up; then
		fleet_net_down
		skip fleet_cases "each host in its own network namespace: $FLEET_WHY"
		return
	fi
	fleet_setup
	fleet_breaker_case
	fleet_budget_case
	fleet_latency_case
	fleet_ratelimit_case
	fleet_rpm_case
	fleet_status_case
	fleet_password_case
	fleet_slow_case
	fleet_partition_case
	fleet_outage_case
	fleet_teardown
}
