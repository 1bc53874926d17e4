# The kernel's view (issue 7), sourced by run.sh:
# - eBPF timing of llmfbd's upstream sockets: the mock waits 200 ms before
#   its first byte, and the call's record puts those 200 ms on the
#   provider, not on the network;
# - the bypass watch: Python calling api.openai.com past llmfb is listed
#   with its pid, and a call through llmfb is not;
# - llmfbd without privileges runs, serves, and says why eBPF is off;
#   with `ebpf: on` it refuses to start and says why;
# - the netlink watch, in network namespaces: the remote target's link
#   goes down, and the next call goes straight to the local target with
#   no attempt at the remote; the link comes back, a probe goes, traffic
#   returns; the same for a route deleted and added back.
# Each needs root; without it, it says so and counts as skipped.

k_root() {	# WHAT: 0 when the case can run, else counted as skipped
	if [ "$(id -u)" != 0 ]; then
		skip "$1" "needs root"
		return 1
	fi
}

# The latest record of ROUTE, from the daemon on control socket SOCK.
last_record() {
	"$B/llmfbctl" -s "${2:-$STACK_DIR/control.sock}" --json events -n 1 \
	    --route "$1" | tail -1
}

# jtrue JSON FILTER: "true" when the filter holds.
jtrue() { jq -r "$2" <<<"$1"; }

k_timing() {
	local rec st
	k_root "eBPF timing of upstream calls" || return
	st=$(ctl --json status)
	expect_eq timing-on "$(jtrue "$st" '.ebpf.network_timing.on')" true
	mock_reset
	mock_script ka 'delay_ms=200' 'text=fast'
	call "$LK" "$OAI" "$(lreq case-kernel)"
	expect_eq status "$CODE" 200
	rec=$(last_record kernel)
	expect_eq net-in-record "$(jtrue "$rec" '.attempts[0].net != null')" true
	expect_eq provider-about-200ms "$(jtrue "$rec" \
	    '.attempts[0].net.provider_ms | . >= 180 and . < 400')" true
	expect_eq network-small "$(jtrue "$rec" \
	    '.attempts[0].net.network_ms | . > 0 and . < 20')" true
	# The wait starts as the mock reads the request: never below 200.
	expect_eq wait-is-both "$(jtrue "$rec" '.attempts[0].net | .wait_ms >= 199
	    and .wait_ms >= .provider_ms and .wait_ms < .provider_ms + 20')" true
	# No delay now: the provider's share follows the script.
	call "$LK" "$OAI" "$(lreq case-kernel)"
	rec=$(last_record kernel)
	expect_eq provider-fast "$(jtrue "$rec" \
	    '.attempts[0].net.provider_ms < 100')" true
	st=$(ctl --json status | jq '.targets[]|select(.name=="ka")|.network')
	expect_eq status-samples "$(jtrue "$st" '.samples')" 2
	expect_eq status-p95 "$(jtrue "$st" '.provider_ms_p95 >= 180')" true
	expect_eq status-address "$(jtrue "$st" '.address')" 127.0.0.1
	# Valid exposition (observe.sh's checker), with the new families.
	st=$(ctl metrics | /usr/bin/python3 tests/e2e/promcheck.py -)
	expect_eq metric-count \
	    "$(prom_value "$st" 'llmfb_provider_seconds_count{target="ka"}')" 2
	expect_eq metric-sum "$(prom_value "$st" \
	    'llmfb_provider_seconds_sum{target="ka"}' |
	    awk '{ print ($1 >= 0.18 && $1 < 0.5) }')" 1
	expect_eq metric-reachable \
	    "$(prom_value "$st" 'llmfb_target_reachable{target="ka"}')" 1
	finish "kernel: eBPF puts a 200 ms wait on the provider, not the network"
}

bypass_has() {	# PID: the bypass list has it
	ctl --json bypass | jq -e --argjson p "$1" \
	    '.programs[]|select(.pid==$p and .answered==2)' >/dev/null
}

k_bypass() {
	local out pid rec list url
	k_root "bypass watch" || return
	# A name that resolves here, for this program alone.
	echo "127.0.0.1 api.openai.com" >"$STACK_DIR/hosts.bypass"
	url="https://api.openai.com:$MOCK_PORT/kb/v1/chat/completions"
	out=$(unshare -m sh -c 'mount --bind "$1" /etc/hosts && shift &&
	    exec /usr/bin/python3 "$@"' sh "$STACK_DIR/hosts.bypass" \
	    tests/e2e/bypass_client.py "$url" "$STACK_DIR/certs/ca.pem" 2)
	pid=$(head -1 <<<"$out")
	expect_eq answers "$(tail -n +2 <<<"$out" | tr '\n' ' ')" "200 200 "
	expect_eq mock-saw-them "$(mock_stat kb requests)" 2
	wait_for "the bypass list" bypass_has "$pid" || true
	list=$(ctl --json bypass)
	rec=$(jq -c --argjson p "$pid" '.programs[]|select(.pid==$p)' <<<"$list")
	expect_eq host "$(jtrue "$rec" .host)" api.openai.com
	expect_eq calls "$(jtrue "$rec" .calls)" 2
	expect_match exe "$(jtrue "$rec" .exe)" 'python3'
	expect_eq latency "$(jtrue "$rec" '.last_ms > 0 and .max_ms < 5000')" true
	# The same program through llmfb is no bypass.
	out=$(env "${SHIM_ENV[@]}" /usr/bin/python3 tests/e2e/bypass_client.py \
	    https://api.openai.com/v1/chat/completions "$STACK_DIR/certs/ca.pem" 1)
	expect_eq via-llmfb "$(tail -1 <<<"$out")" 200
	list=$(ctl --json bypass)
	expect_eq shimmed-not-listed "$(jq --argjson p "$(head -1 <<<"$out")" \
	    '[.programs[]|select(.pid==$p)]|length' <<<"$list")" 0
	expect_eq daemon-not-listed "$(jq --argjson p "$DAEMON_PID" \
	    '[.programs[]|select(.pid==$p)]|length' <<<"$list")" 0
	expect_eq no-secret "$(grep -c sk-bypass-secret <<<"$list")" 0
	expect_match text "$(ctl bypass)" "$pid .*api.openai.com"
	finish "kernel: a program calling an LLM host past llmfb is listed (pid, exe, host, latency)"
}

k_unprivileged() {
	local dir=$STACK_DIR/nobody st rc out
	k_root "llmfbd without privileges" || return
	mkdir -p "$dir"
	install -m 0644 "$STACK_DIR/certs/ca.pem" "$dir/ca.pem"
	chown nobody:nogroup "$dir"
	chmod 0755 "$STACK_DIR"
	cat >"$dir/llmfb.yaml" <<-EOF
	listen: $dir/llmfb.sock
	control: $dir/control.sock
	state_dir: $dir/state
	intercept: [api.openai.com]
	upstream: { ca_file: $dir/ca.pem }
	providers:
	  p: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/kn/v1" }
	targets: { kn: { provider: p } }
	routes:
	  - { name: all, match: { host: api.openai.com }, ladder: [kn] }
	EOF
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$B/llmfbd" -c "$dir/llmfb.yaml" >"$dir/log" 2>&1 &
	local upid=$!
	wait_for "llmfbd as nobody" "$B/llmfbctl" -s "$dir/control.sock" status
	st=$("$B/llmfbctl" -s "$dir/control.sock" --json status)
	expect_eq timing-off "$(jtrue "$st" '.ebpf.network_timing.on')" false
	expect_match timing-why "$(jtrue "$st" '.ebpf.network_timing.why')" \
	    'no permission.*CAP_BPF'
	expect_eq bypass-off "$(jtrue "$st" '.ebpf.bypass_watch.on')" false
	expect_eq netlink-on "$(jtrue "$st" '.network.on')" true
	expect_match text "$("$B/llmfbctl" -s "$dir/control.sock" status)" \
	    'network timing off: no permission'
	shim_on "$dir/llmfb.sock"
	call "$LK" "$OAI" "$CHAT"
	shim_on
	expect_eq serves "$CODE $TARGET" "200 kn"
	kill "$upid"
	wait "$upid" 2>/dev/null
	# ebpf: on wants the probes or nothing.
	echo "ebpf: on" >>"$dir/llmfb.yaml"
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$B/llmfbd" -c "$dir/llmfb.yaml" 2>&1)
	rc=$?
	expect_eq on-refuses "$rc" 1
	expect_match on-says-why "$out" \
	    'ebpf: on, but the network timing cannot start: no permission'
	chmod 0700 "$STACK_DIR"
	finish "kernel: llmfbd without privileges runs with eBPF off and says why; ebpf: on refuses"
}

# llmfbd built without eBPF (`make nobpf`, as a machine without clang
# builds it): runs, serves, and says why.
k_nobpf() {
	local d=$STACK_DIR/nobpf st
	if [ ! -x "$B/nobpf/llmfbd" ]; then
		skip "llmfbd built without eBPF" "no $B/nobpf/llmfbd: make nobpf"
		return
	fi
	mkdir -p "$d"
	sed -e "s|^listen: .*|listen: $d/llmfb.sock|" \
	    -e "s|^control: .*|control: $d/control.sock|" \
	    -e '/^metrics_listen/d' "$STACK_DIR/llmfb.yaml" >"$d/llmfb.yaml"
	"$B/nobpf/llmfbd" -c "$d/llmfb.yaml" >"$d/log" 2>&1 &
	local pid=$!
	wait_for "llmfbd without eBPF" "$B/llmfbctl" -s "$d/control.sock" status
	st=$("$B/llmfbctl" -s "$d/control.sock" --json status)
	expect_eq timing-off "$(jtrue "$st" '.ebpf.network_timing.on')" false
	expect_match why "$(jtrue "$st" '.ebpf.network_timing.why')" \
	    'built without eBPF'
	expect_match bypass-why "$(jtrue "$st" '.ebpf.bypass_watch.why')" \
	    'built without eBPF'
	expect_eq no-bypass-list "$("$B/llmfbctl" -s "$d/control.sock" --json \
	    bypass | jq '.programs|length')" 0
	shim_on "$d/llmfb.sock"
	call "$LK" "$OAI" "$CHAT"
	shim_on
	expect_eq serves "$CODE $TARGET" "200 primary"
	kill "$pid"
	wait "$pid" 2>/dev/null
	finish "kernel: llmfbd built without eBPF runs, serves, and says why eBPF is off"
}

# ---- the netlink watch, in two network namespaces ----------------------
#
#	ns H: llmfbd, and the local mock on 127.0.0.1 (the "local model")
#	ns R: the remote mock on 10.77.0.2
#	H vh 10.77.0.1/24 <-veth-> vr 10.77.0.2/24 R

NSH=llmfb-h-$$
NSR=llmfb-r-$$

netns_down() {
	ip netns del "$NSH" 2>/dev/null
	ip netns del "$NSR" 2>/dev/null
	true
}

# ns_mock NS ADDR NAME: a mock in NS on ADDR; sets NAME_PORT.
ns_mock() {
	rm -f "$STACK_DIR/$3.port"
	ip netns exec "$1" "$B/llmfb-mock" --cert "$STACK_DIR/certs/server.pem" \
	    --key "$STACK_DIR/certs/server.key" --bind "$2" \
	    --ready-file "$STACK_DIR/$3.port" >"$STACK_DIR/$3.log" 2>&1 &
	STACK_PIDS="$STACK_PIDS $!"
	wait_for "mock $3" test -s "$STACK_DIR/$3.port"
}

# remote_count: how many requests the remote mock has had.
remote_count() {
	ip netns exec "$NSR" curl -sS --cacert "$STACK_DIR/certs/ca.pem" \
	    --resolve "remote.llmfb.test:$RPORT:10.77.0.2" \
	    "https://remote.llmfb.test:$RPORT/_mock/stats" |
	    jq -r '.nr.requests // 0'
}

nctl() { "$B/llmfbctl" -s "$STACK_DIR/ns/control.sock" "$@"; }
net_reachable() {	# TARGET yes|no
	local r
	r=$(nctl --json status | jq -r ".targets[]|select(.name==\"$1\")|
	    .network.reachable")
	[ "$r" == "$([ "$2" == yes ] && echo true || echo false)" ]
}
nbreaker() {
	nctl --json status | jq -r ".targets[]|select(.name==\"$1\")|
	    .breaker.state"
}

# ncall: one call through the namespaced llmfbd; sets CODE TARGET...
ncall() {
	shim_on "$STACK_DIR/ns/llmfb.sock"
	call "$LK" "$OAI" "$CHAT"
	shim_on
}

k_netns() {
	local d=$STACK_DIR/ns rec
	k_root "network-aware failover (network namespaces)" || return
	netns_down
	ip netns add "$NSH" && ip netns add "$NSR" &&
	    ip -n "$NSH" link set lo up && ip -n "$NSR" link set lo up &&
	    ip -n "$NSH" link add vh type veth peer name vr netns "$NSR" &&
	    ip -n "$NSH" addr add 10.77.0.1/24 dev vh &&
	    ip -n "$NSR" addr add 10.77.0.2/24 dev vr &&
	    ip -n "$NSH" link set vh up && ip -n "$NSR" link set vr up || {
		ERRS="; cannot make the namespaces"
		finish "kernel: network namespaces"
		netns_down
		return
	}
	ns_mock "$NSR" 10.77.0.2 remote
	ns_mock "$NSH" 127.0.0.1 local
	RPORT=$(cat "$STACK_DIR/remote.port")
	LPORT=$(cat "$STACK_DIR/local.port")
	mkdir -p "$d"
	cat >"$d/llmfb.yaml" <<-EOF
	listen: $d/llmfb.sock
	control: $d/control.sock
	state_dir: $d/state
	intercept: [api.openai.com]
	upstream:
	  ca_file: $STACK_DIR/certs/ca.pem
	  connect_to: [ "remote.llmfb.test:443:10.77.0.2:$RPORT" ]
	breaker: { failures: 0, ratio: 0% }
	providers:
	  remote: { dialect: openai, base_url: "https://remote.llmfb.test/nr/v1" }
	  local:  { dialect: openai, base_url: "https://127.0.0.1:$LPORT/nl/v1" }
	targets:
	  nr: { provider: remote }
	  nl: { provider: local }
	routes:
	  - name: chat
	    match: { host: api.openai.com }
	    ladder: [nr, nl]
	    timeouts: { connect: 3s }
	EOF
	ip netns exec "$NSH" "$B/llmfbd" -c "$d/llmfb.yaml" >>"$d/log" 2>&1 &
	local npid=$!
	STACK_PIDS="$STACK_PIDS $npid"
	wait_for "llmfbd in $NSH" nctl status

	ncall
	expect_eq first "$CODE $TARGET" "200 nr"
	expect_eq remote-once "$(remote_count)" 1
	wait_for "nr's address" net_reachable nr yes
	expect_eq address "$(nctl --json status | jq -r \
	    '.network.targets[]|select(.target=="nr")|"\(.address) \(.link)"')" \
	    "10.77.0.2 vh"

	# The link goes down: the breaker opens at once, no timeout waited.
	ip -n "$NSH" link set vh down
	wait_for "nr unreachable" net_reachable nr no
	expect_eq open "$(nbreaker nr)" open
	ncall
	expect_eq link-down "$CODE $TARGET" "200 nl"
	expect_eq no-attempt-at-remote "$(remote_count)" 1
	rec=$(last_record chat "$d/control.sock")
	expect_eq attempts "$(jq -c '[.attempts[].target]' <<<"$rec")" '["nl"]'
	expect_match skipped "$(jq -r .reasons <<<"$rec")" 'nr=unreachable'
	expect_lt quick "$(jq .duration_ms <<<"$rec")" 1000
	expect_match why "$(nctl --json status | jq -r \
	    '.targets[]|select(.name=="nr")|.network.why')" 'no route to 10\.77\.0\.2|vh'
	expect_match text "$(nctl status)" 'nr .*10\.77\.0\.2 .*NO'

	# Back up: half-open, one probe to the remote, and traffic returns.
	ip -n "$NSH" link set vh up
	wait_for "nr reachable" net_reachable nr yes
	expect_eq half-open "$(nbreaker nr)" half-open
	ncall
	expect_eq probe "$CODE $TARGET" "200 nr"
	expect_eq closed "$(nbreaker nr)" closed
	ncall
	expect_eq back "$CODE $TARGET" "200 nr"
	expect_eq remote-thrice "$(remote_count)" 3
	finish "kernel: link down -> straight to the local target; link up -> probe -> back"

	ip -n "$NSH" route del 10.77.0.0/24 dev vh
	wait_for "no route to nr" net_reachable nr no
	ncall
	expect_eq route-gone "$CODE $TARGET" "200 nl"
	expect_eq still-thrice "$(remote_count)" 3
	expect_match route-why "$(nctl --json status | jq -r \
	    '.targets[]|select(.name=="nr")|.network.why')" 'no route'
	ip -n "$NSH" route add 10.77.0.0/24 dev vh
	wait_for "a route to nr" net_reachable nr yes
	ncall
	expect_eq route-back "$CODE $TARGET" "200 nr"
	expect_eq four "$(remote_count)" 4
	finish "kernel: route deleted -> local target; route added back -> remote again"

	kill "$npid" 2>/dev/null
	wait "$npid" 2>/dev/null
	netns_down
}

kernel_cases() {
	k_timing
	k_bypass
	k_unprivileged
	k_nobpf
	k_netns
}
