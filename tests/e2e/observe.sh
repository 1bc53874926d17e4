# Observability and control end to end: llmfbctl status and events under
# real traffic, trip/reset/drain, injected faults, hot reload, metrics,
# the event log, and who may use the control socket.  The route "obs"
# (oa > ob) and its targets are used by these cases alone, so their
# counters count these calls only.  Sourced by run.sh.

ctl() { "$B/llmfbctl" -s "$STACK_DIR/control.sock" "$@"; }
oreq() { lreq "${1:-case-obs}" "${2:-}"; }

# jget JSON FILTER: one value out of a document.
jget() { jq -r "$2" <<<"$1"; }

# Readiness checks for wait_for (which runs its command again each time).
is_following() { [ "$(ctl --json status | jq .followers)" -ge 1 ]; }
mock_count_is() { [ "$(mock_stat "$1" requests)" == "$2" ]; }
no_faults() { [ "$(ctl --json status | jq '.faults|length')" == 0 ]; }

route_stat() { ctl --json status | jq -r ".routes[]|select(.name==\"$1\")|$2"; }
target_stat() { ctl --json status | jq -r ".targets[]|select(.name==\"$1\")|$2"; }

o_status_events() {
	local st ev i before_calls before_fb
	mock_reset
	before_calls=$(route_stat obs .calls)
	before_fb=$(route_stat obs .fallbacks)
	mock_script oa 'status=503'
	for i in 1 2 3; do
		call "$LK" "$OAI" "$(oreq)"
	done
	mock_script oa 'text=fine'
	call "$LK" "$OAI" "$(oreq)"
	expect_eq last-served "$TARGET" oa
	st=$(ctl --json status)
	expect_eq route-calls "$(jget "$st" '.routes[]|select(.name=="obs")|.calls')" \
	    $((before_calls + 4))
	expect_eq route-fallbacks "$(jget "$st" '.routes[]|select(.name=="obs")|.fallbacks')" \
	    $((before_fb + 3))
	expect_match fallback-rate "$(jget "$st" '.routes[]|select(.name=="obs")|.fallback_rate_by_class.technical')" \
	    '^0\.[0-9]+$'
	expect_eq oa-attempts "$(jget "$st" '.targets[]|select(.name=="oa")|.attempts')" 4
	expect_eq oa-failures "$(jget "$st" '.targets[]|select(.name=="oa")|.failures_by_kind.technical')" 3
	expect_eq oa-error-rate "$(jget "$st" '.targets[]|select(.name=="oa")|.error_rate_by_class.technical')" 0.75
	expect_eq ob-served "$(jget "$st" '.targets[]|select(.name=="ob")|.served')" 3
	expect_eq ob-as-fallback "$(jget "$st" '.targets[]|select(.name=="ob")|.fallback_served')" 3
	expect_eq oa-breaker "$(jget "$st" '.targets[]|select(.name=="oa")|.breaker.state')" closed
	expect_match ob-ttft-p50 "$(jget "$st" '.targets[]|select(.name=="ob")|.latency.first_token_p50_ms')" '^[0-9]+$'
	expect_match ob-total-p95 "$(jget "$st" '.targets[]|select(.name=="ob")|.latency.total_p95_ms')" '^[0-9]+$'
	expect_eq ob-spend "$(jget "$st" '.targets[]|select(.name=="ob")|.spend_usd > 0')" true
	expect_ge caller-calls "$(jget "$st" "[.callers[]|select(.program|test(\"$LK|lcclient\"))|.calls]|add")" 4
	expect_eq no-faults "$(jget "$st" '.faults|length')" 0

	ev=$(ctl --json events -n 4 --route obs)
	expect_eq four-records "$(wc -l <<<"$ev")" 4
	ev=$(head -1 <<<"$ev")
	expect_eq ev-route "$(jget "$ev" .route)" obs
	expect_eq ev-result "$(jget "$ev" .result)" fallback
	expect_eq ev-served "$(jget "$ev" .served)" ob
	expect_eq ev-fallback "$(jget "$ev" .fallback)" true
	expect_eq ev-a0 "$(jget "$ev" '.attempts[0]|"\(.target) \(.class) \(.kind) \(.status) \(.error)"')" \
	    "oa technical technical 503 http-503"
	expect_eq ev-a1 "$(jget "$ev" '.attempts[1]|"\(.target) \(.kind) \(.status)"')" "ob none 200"
	expect_eq ev-reasons "$(jget "$ev" .reasons)" oa=http-503
	expect_match ev-caller "$(jget "$ev" .caller.comm)" "curl|lcclient"
	expect_eq ev-cost "$(jget "$ev" '.cost_usd > 0')" true
	expect_eq ev-cost-diff-cheaper "$(jget "$ev" '.cost_diff_usd < 0')" true
	# Filters: by target, class and program; one that matches nothing.
	expect_eq by-target "$(ctl --json events -n 4 --target ob | jq -s 'length')" 3
	expect_eq by-class "$(ctl --json events -n 256 --route obs --class technical | jq -s 'length')" \
	    "$((before_fb + 3))"
	expect_eq by-policy "$(ctl --json events -n 256 --route obs --class policy | jq -s 'length')" 0
	expect_eq by-caller "$(ctl --json events -n 4 --route obs --caller "$(jget "$ev" .caller.comm)" | jq -s 'length')" 4
	expect_eq by-other-caller "$(ctl --json events -n 4 --caller no-such-program | jq -s 'length')" 0
	expect_match text "$(ctl events -n 1 --route obs)" \
	    ' obs .* served +served=oa attempts=oa:none '
	expect_match status-text "$(ctl status)" 'obs +[0-9]+ +[0-9]+ .*tech'
	finish "llmfbctl status and events under traffic with fallbacks, field by field"
}

o_follow() {
	local f=$STACK_DIR/follow.out ev pid
	mock_reset
	: >"$f"
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" --json events -n 0 -f \
	    --route obs >"$f" 2>"$f.err" &
	pid=$!
	wait_for "the subscription" is_following
	mock_script oa 'status=429'
	call "$LK" "$OAI" "$(oreq)"
	call "$LK" "$OAI" '{"model":"case-class","messages":[{"role":"user","content":"hi"}]}'
	wait_for "the record" test -s "$f"
	ev=$(head -1 "$f")
	expect_eq live-route "$(jget "$ev" .route)" obs
	expect_eq live-a0 "$(jget "$ev" '.attempts[0].error')" http-429
	expect_eq live-served "$(jget "$ev" .served)" ob
	kill -INT "$pid"
	wait "$pid"
	expect_eq follow-rc "$?" 0
	expect_eq only-obs "$(jq -s 'map(select(.route != "obs"))|length' "$f")" 0
	expect_eq bad-option "$(ctl events -f --class 2>/dev/null; echo "rc=$?")" "rc=2"
	finish "llmfbctl events -f: records arrive as calls end, filtered; Ctrl-C ends it"
}

o_trip_drain() {
	mock_reset
	ctl trip oa >/dev/null
	call "$LK" "$OAI" "$(oreq)"
	expect_eq tripped-served "$TARGET" ob
	expect_eq tripped-reason "$REASONS" oa=breaker-open
	expect_eq tripped-no-attempt "$(mock_stat oa requests)" 0
	ctl reset oa >/dev/null
	call "$LK" "$OAI" "$(oreq)"
	expect_eq reset-served "$TARGET" oa
	expect_match drain-says "$(ctl drain oa)" 'oa: breaker closed, drained'
	expect_eq drained-flag "$(target_stat oa .drained)" true
	call "$LK" "$OAI" "$(oreq)"
	expect_eq drained-served "$TARGET" ob
	expect_eq drained-reason "$REASONS" oa=drained
	expect_eq drained-attempts "$(mock_stat oa requests)" 1
	ctl undrain oa >/dev/null
	call "$LK" "$OAI" "$(oreq)"
	expect_eq undrained-served "$TARGET" oa
	expect_eq unknown "$(ctl drain nosuch 2>&1; echo "rc=$?")" \
	    "llmfbctl: drain nosuch: no such target"$'\n'"rc=1"
	finish "trip, reset, drain and undrain change routing at once"

	# A call already on a target that is drained finishes there.
	mock_reset
	mock_script oa 'delay_ms=500'
	bg_call drain "$(oreq)" &
	local pid=$!
	wait_for "the call at oa" mock_count_is oa 1
	ctl drain oa >/dev/null
	wait "$pid"
	ctl undrain oa >/dev/null
	expect_eq in-flight-kept "$(cat "$STACK_DIR/bg.drain")" "200 oa"
	expect_eq in-flight-one-attempt "$(mock_stat ob requests)" 0
	finish "drain: a call in flight on the drained target finishes there"
}

# faults_active: how many faults status lists.
faults_active() { ctl --json status | jq '.faults|length'; }

o_inject() {
	local t0 ended ev
	mock_reset
	expect_match inject "$(ctl inject oa status=503 --for 2s --route obs)" \
	    '^fault [0-9]+: status=503 on oa for 2s \(route obs, caller any\)'
	t0=$(ms_now)
	call "$LK" "$OAI" "$(oreq)"
	expect_eq served "$TARGET" ob
	expect_eq reason "$REASONS" oa=http-503
	expect_eq provider-untouched "$(mock_stat oa requests)" 0
	ev=$(ctl --json events -n 1 --route obs)
	expect_eq record "$(jget "$ev" '.attempts[0]|"\(.kind) \(.status) \(.injected)"')" \
	    "technical 503 status=503"
	expect_eq listed "$(ctl --json status | jq -r '.faults[0]|"\(.target) \(.fault) \(.route) \(.hits)"')" \
	    "oa status=503 obs 1"
	# Another route's calls at oa are not touched.
	call "$LK" "$OAI" "$(oreq case-obs-stream)"
	expect_eq other-route "$TARGET" oa
	wait_for "the fault to end" no_faults
	ended=$(( $(ms_now) - t0 ))
	expect_ge "ended after (ms)" "$ended" 1900
	expect_lt "ended after (ms)" "$ended" 4000
	call "$LK" "$OAI" "$(oreq)"
	expect_eq after "$TARGET" oa
	finish "inject status: the ladder moves on as for a real 503, and the fault ends on time"

	# A refusal walks to the next rung where the route says a refusal
	# is a failure; a delay past the first-token timeout is a timeout.
	mock_reset
	ctl inject oa refusal --for 30s --route obs-stream >/dev/null
	call "$LK" "$OAI" "$(oreq case-obs-stream '"stream":true')"
	expect_eq refusal-served "$TARGET" ob
	expect_eq refusal-reason "$REASONS" oa=refusal
	expect_eq refusal-text "$(sse_text "$BODY")" "Hello from ob"
	ctl inject oa delay=3000 --route obs >/dev/null
	call "$LK" "$OAI" "$(oreq)"
	expect_eq delay-served "$TARGET" ob
	expect_eq delay-reason "$REASONS" oa=timeout-first-token
	expect_lt "delay: time (ms)" "$ELAPSED" 2500
	expect_eq delay-attempted "$(mock_stat oa requests)" 0
	ctl uninject all >/dev/null
	expect_eq uninjected "$(faults_active)" 0
	# A cut stream, before its first content: unseen, the next rung.
	ctl inject oa cut=10 --route obs-stream >/dev/null
	call "$LK" "$OAI" "$(oreq case-obs-stream '"stream":true')"
	expect_eq cut-served "$TARGET" ob
	expect_eq cut-reason "$REASONS" oa=broken
	expect_eq cut-reached-provider "$(mock_stat oa requests)" 1
	# One program only: another program's calls pass.
	ctl uninject all >/dev/null
	ctl inject oa status=500 --caller no-such-program >/dev/null
	call "$LK" "$OAI" "$(oreq)"
	expect_eq caller-scoped "$TARGET" oa
	ctl uninject all >/dev/null
	expect_eq bad-fault "$(ctl inject oa status=99 2>&1; echo "rc=$?")" \
	    "llmfbctl: inject oa status=99: status=CODE takes an HTTP status from 100 to 599"$'\n'"rc=1"
	finish "inject refusal, delay, cut and per-program faults walk the ladder as real ones"
}

# A copy of the running config, edited by sed expressions, reloaded.
config_edit() {
	local cfg=$STACK_DIR/llmfb.yaml
	[ -f "$cfg.orig" ] || cp "$cfg" "$cfg.orig"
	sed -i "$@" "$cfg"
}
config_restore() {
	local cfg=$STACK_DIR/llmfb.yaml
	[ -f "$cfg.orig" ] && mv "$cfg.orig" "$cfg"
	ctl reload >/dev/null
}

# bg_call N DATA: a call of its own (for running several at once); its
# "CODE TARGET" lands in $STACK_DIR/bg.N.
bg_call() {
	local out=$STACK_DIR/bg.$1 line
	if [ "$LK" == curl ]; then
		line=$(env "${SHIM_ENV[@]}" curl -sS -o /dev/null -D "$out.h" \
		    -w '%{http_code}' -H 'Content-Type: application/json' \
		    -d "$2" "$OAI")
		echo "$line $(grep -i '^x-llmfb-target:' "$out.h" |
		    tr -d '\r' | cut -d' ' -f2)" >"$out"
	else
		line=$(env "${SHIM_ENV[@]}" "$B/lcclient" --mode easy \
		    --data "$2" "$OAI" 2>/dev/null)
		echo "$(field code "$line") $(field target "$line")" >"$out"
	fi
}

o_reload() {
	local pids="" i ok=0 pid
	mock_reset
	# Calls in flight started on the old config: oa fails after 1.5 s
	# and they fall back to ob, its second rung then.
	mock_script oa 'delay_ms=1500 status=503'
	mock_script oc 'text=from-oc'
	for i in 1 2 3 4 5 6; do
		bg_call "$i" "$(oreq)" &
		pids="$pids $!"
	done
	wait_for "six calls at oa" mock_count_is oa 6
	config_edit -e 's/^    ladder: \[oa, ob\]$/    ladder: [oa, oc]/'
	kill -HUP "$DAEMON_PID"
	ctl reload >/dev/null
	ctl reload >/dev/null
	for pid in $pids; do
		wait "$pid"
	done
	for i in 1 2 3 4 5 6; do
		[ "$(cat "$STACK_DIR/bg.$i")" == "200 ob" ] && ok=$((ok + 1))
	done
	expect_eq in-flight-on-old-config "$ok" 6
	call "$LK" "$OAI" "$(oreq)"
	expect_eq new-calls-on-new-config "$TARGET" oc
	expect_ge reloads "$(ctl --json status | jq .reloads)" 3
	config_restore
	finish "reload under load: six calls in flight finish on their config, none lost"
}

o_bad_reload() {
	local out failures
	failures=$(ctl --json status | jq .reload_failures)
	config_edit -e 's/^    ladder: \[oa, ob\]$/    ladder: [oa, ob/'
	out=$(ctl reload 2>&1; echo "rc=$?")
	expect_match error "$out" "llmfb.yaml:[0-9]+:[0-9]+: .*"$'\n'"rc=1$"
	kill -HUP "$DAEMON_PID"
	wait_for "the refused SIGHUP" grep -q 'reload refused, keeping the running config: .*llmfb.yaml:[0-9]*:[0-9]*' \
	    "$STACK_DIR/llmfbd.log"
	expect_eq counted "$(ctl --json status | jq .reload_failures)" $((failures + 2))
	mock_reset
	call "$LK" "$OAI" "$(oreq)"
	expect_eq still-serving "$CODE $TARGET" "200 oa"
	expect_eq check-bad "$(ctl check "$STACK_DIR/llmfb.yaml" 2>&1 >/dev/null | grep -c 'llmfb.yaml:[0-9]*:[0-9]*:')" 1
	config_restore
	expect_match check-good "$(ctl check "$STACK_DIR/llmfb.yaml"; echo "rc=$?")" \
	    'configuration OK .*rc=0$'
	finish "a bad reload is refused with file:line:column; the running config stays"
}

# The config mistakes that used to load (issue 19): a bare duration, an
# unset api_key_env, a key from another tool.  Each is refused with
# file:line:column and a hint, by llmfbd -n and by a reload, which keeps
# the running config.  A likely mistake that loads is a warning: llmfbd
# -n prints it and a reload logs it.
o_config_mistakes() {
	local cfg=$STACK_DIR/llmfb.yaml out failures
	failures=$(ctl --json status | jq .reload_failures)

	config_edit -e 's/first_byte: 800ms/first_byte: 800/'
	out=$(ctl reload 2>&1; echo "rc=$?")
	expect_match bare-reload "$out" "llmfb.yaml:[0-9]+:[0-9]+: timeouts.first_byte: '800' has no unit: write 800s or 800ms .*"$'\n'"rc=1$"
	out=$("$B/llmfbd" -n -c "$cfg" 2>&1; echo "rc=$?")
	expect_match bare-check "$out" "llmfb.yaml:[0-9]+:[0-9]+: timeouts.first_byte: '800' has no unit.*"$'\n'"rc=1$"
	config_restore

	config_edit -e 's/api_key_env: LLMFB_TEST_BACKUP_KEY/api_key_env: LLMFB_TEST_UNSET_KEY/'
	out=$(env -u LLMFB_TEST_UNSET_KEY "$B/llmfbd" -n -c "$cfg" 2>&1; echo "rc=$?")
	expect_match unset-check "$out" "llmfb.yaml:[0-9]+:[0-9]+: provider backup: api_key_env LLMFB_TEST_UNSET_KEY is not set \(or empty\) in llmfbd's environment: .*"$'\n'"rc=1$"
	out=$(ctl reload 2>&1; echo "rc=$?")
	expect_match unset-reload "$out" "api_key_env LLMFB_TEST_UNSET_KEY is not set.*"$'\n'"rc=1$"
	config_restore

	config_edit -e 's/^    ladder: \[oa, ob\]$/    fallbacks: [oa, ob]/'
	out=$(ctl reload 2>&1; echo "rc=$?")
	expect_match hint "$out" "llmfb.yaml:[0-9]+:5: unknown key 'fallbacks' in route: llmfb calls it 'ladder' .*"$'\n'"rc=1$"
	expect_eq counted "$(ctl --json status | jq .reload_failures)" $((failures + 3))
	mock_reset
	call "$LK" "$OAI" "$(oreq)"
	expect_eq still-serving "$CODE $TARGET" "200 oa"
	config_restore

	# Warnings load: said by llmfbd -n (rc 0) and logged on reload.
	config_edit -e 's/^    ladder: \[oa, ob\]$/    ladder: [oa, ob]\n    retry_on: [503]/'
	out=$("$B/llmfbd" -n -c "$cfg" 2>&1; echo "rc=$?")
	expect_match warn-check "$out" "llmfb.yaml:[0-9]+:15: warning: retry_on replaces the defaults; 429, 500, 501, 502, 504, 505, 506, 507 and 94 more are no longer retried: list them to keep them"
	expect_match warn-check-ok "$out" "configuration OK .*rc=0$"
	expect_match warn-ctl-check "$(ctl check "$cfg" 2>&1)" "warning: retry_on replaces the defaults"
	out=$(ctl reload 2>&1; echo "rc=$?")
	expect_match warn-reload "$out" "llmfb.yaml:[0-9]+:15: warning: retry_on replaces the defaults.*"$'\n'"reloaded .*rc=0$"
	expect_eq warn-reload-json "$(ctl --json reload | jq '.warnings|length')" 2
	expect_match warn-logged "$(cat "$STACK_DIR/llmfbd.log")" "reload: .*llmfb.yaml:[0-9]+:15: warning: retry_on replaces the defaults"
	config_restore

	# At start too: a daemon of its own, with a route nobody reaches.
	local d=$STACK_DIR/warnstart pid
	mkdir -p "$d/state"
	cat >"$d/llmfb.yaml" <<-EOF
	listen: $d/llmfb.sock
	control: $d/control.sock
	state_dir: $d/state
	ebpf: off
	network_watch: false
	intercept: [api.openai.com]
	providers:
	  p: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/oa/v1" }
	targets: { t: { provider: p } }
	routes:
	  - { name: dead, match: { host: api.deepseek.com }, ladder: [t] }
	EOF
	"$B/llmfbd" -c "$d/llmfb.yaml" >"$d/log" 2>&1 &
	pid=$!
	wait_for "llmfbd (warnings)" "$B/llmfbctl" -s "$d/control.sock" status
	kill -TERM "$pid"
	wait "$pid"
	expect_match start-logged "$(cat "$d/log")" "llmfb.yaml:11:34: warning: route dead: match.host api.deepseek.com is not in intercept, so no call for it reaches llmfbd and the route never matches: add it to intercept"
	finish "config mistakes: bare durations, unset keys, other tools' keys refused with a hint; warnings said and logged"
}

o_carry_over() {
	mock_reset
	call "$LK" "$OAI" "$(oreq)"
	ctl trip oa >/dev/null
	local samples
	samples=$(target_stat ob .latency.samples)
	config_edit -e 's/^  oc: .*/  oc:     { provider: op-c, context: 5000 }/'
	ctl reload >/dev/null
	expect_eq unchanged-breaker "$(target_stat oa .breaker.state)" open
	expect_eq unchanged-latency "$(target_stat ob .latency.samples)" "$samples"
	config_edit -e 's/^  oa: .*/  oa:     { provider: op-a, price: { input: 11, output: 30 } }/'
	ctl reload >/dev/null
	expect_eq changed-breaker "$(target_stat oa .breaker.state)" closed
	expect_eq changed-latency "$(target_stat oa .latency.samples)" 0
	expect_eq other-kept "$(target_stat ob .latency.samples)" "$samples"
	config_restore
	ctl reset oa >/dev/null
	finish "reload keeps breaker and latency state of unchanged targets only"
}

# prom_value METRICS SERIES: one sample's value (0 when absent).
prom_value() { jq -r --arg k "$2" '.[$k] // 0' <<<"$1"; }

o_metrics() {
	local m0 m1 k d
	mock_reset
	m0=$(ctl metrics | /usr/bin/python3 tests/e2e/promcheck.py -)
	expect_match valid-before "$m0" '^\{'
	mock_script oa 'status=503'
	for k in 1 2 3; do
		call "$LK" "$OAI" "$(oreq)"
	done
	mock_reset
	call "$LK" "$OAI" "$(oreq)"
	m1=$(ctl metrics | /usr/bin/python3 tests/e2e/promcheck.py -)
	expect_match valid-after "$m1" '^\{'
	for k in \
	    'llmfb_requests_total{route="obs",target="ob",outcome="fallback"} 3' \
	    'llmfb_requests_total{route="obs",target="oa",outcome="served"} 1' \
	    'llmfb_attempts_total{route="obs",target="oa",outcome="technical"} 3' \
	    'llmfb_attempts_total{route="obs",target="oa",outcome="ok"} 1' \
	    'llmfb_attempts_total{route="obs",target="ob",outcome="ok"} 3' \
	    'llmfb_fallbacks_total{route="obs",from="oa",to="ob",class="technical",kind="technical"} 3' \
	    'llmfb_attempt_seconds_count{target="ob"} 3' \
	    'llmfb_first_token_seconds_count{target="ob"} 3' \
	    'llmfb_shim_to_daemon_seconds_count 4'; do
		d=$(/usr/bin/python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1])))' \
		    "$(prom_value "$m0" "${k% *}")" "$(prom_value "$m1" "${k% *}")")
		expect_eq "${k% *}" "$d" "${k##* }"
	done
	expect_eq breaker-gauge "$(prom_value "$m1" 'llmfb_breaker_state{target="oa"}')" 0
	# A Python call, through the socket and TLS layers: stamped too.
	py_call requests "$OAI" --data "$(oreq)"
	m0=$(ctl metrics | /usr/bin/python3 tests/e2e/promcheck.py -)
	expect_eq python-served "$TARGET" oa
	expect_eq python-stamped "$(( $(prom_value "$m0" llmfb_shim_to_daemon_seconds_count) -
	    $(prom_value "$m1" llmfb_shim_to_daemon_seconds_count) ))" 1
	expect_eq spend "$(/usr/bin/python3 -c 'import sys; print(float(sys.argv[1]) > 0)' \
	    "$(prom_value "$m1" 'llmfb_target_spend_usd_total{target="ob"}')")" True
	# The loopback listener serves the same exposition.
	expect_match http "$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics" |
	    /usr/bin/python3 tests/e2e/promcheck.py - | head -c 1)" '^\{$'
	expect_eq http-404 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/nope")" 404
	finish "metrics: valid Prometheus exposition; counters match the calls sent"
}

o_event_log() {
	local log=$STACK_DIR/events.log n
	mock_reset
	call "$LK" "$OAI" "$(oreq)"
	mv "$log" "$log.1"
	kill -USR1 "$DAEMON_PID"
	wait_for "the reopen" grep -q 'event log reopened' "$STACK_DIR/llmfbd.log"
	call "$LK" "$OAI" "$(oreq)"
	wait_for "a record in the new file" test -s "$log"
	expect_eq new-file "$(jq -r .route "$log" | tail -1)" obs
	n=$(wc -l <"$log.1")
	expect_ge old-file-kept "$n" 1
	# The journal: records as journald's native datagrams.
	/usr/bin/python3 - "$STACK_DIR/journal.sock" >"$STACK_DIR/journal.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(10)
sys.stdout.write(s.recv(65536).decode()); sys.stdout.flush()
PY
	local jpid=$!
	wait_for "the journal socket" test -S "$STACK_DIR/journal.sock"
	config_edit -e "s|^events: .*|events: \"journal:$STACK_DIR/journal.sock\"|"
	ctl reload >/dev/null
	call "$LK" "$OAI" "$(oreq)"
	wait "$jpid"
	expect_eq journal-id "$(grep -c '^SYSLOG_IDENTIFIER=llmfbd$' "$STACK_DIR/journal.out")" 1
	expect_eq journal-record "$(sed -n 's/^MESSAGE=//p' "$STACK_DIR/journal.out" | jq -r .route)" obs
	config_restore
	finish "event log: reopened on SIGUSR1 for rotation; or sent to the journal"
}

o_secrets() {
	local where
	# Calls carried the caller's key in two headers, and the config's
	# keys went to the providers: none of them is written anywhere.
	mock_reset
	mock_script primary 'status=503'
	call "$LK" "$OAI" "$CHAT"
	expect_eq backup-key-used "$(mock_stat secondary last_authorization)" \
	    "Bearer $LLMFB_TEST_BACKUP_KEY"
	expect_ge records-there "$(cat "$STACK_DIR"/events.log* | wc -l)" 1
	for where in "$STACK_DIR"/events.log* "$STACK_DIR/llmfbd.log" \
	    "$STACK_DIR"/journal.out; do
		[ -f "$where" ] || continue
		expect_eq "no key in $(basename "$where")" \
		    "$(grep -c -e "$CALLER_KEY" -e "$LLMFB_TEST_BACKUP_KEY" \
		    -e "$LLMFB_TEST_ABACKUP_KEY" "$where")" 0
	done
	expect_ge metrics-there "$(ctl metrics | wc -l)" 50
	expect_eq no-key-in-metrics "$(ctl metrics | grep -c -e sk- -e Bearer)" 0
	expect_eq no-key-in-status "$(ctl --json status | grep -c -e sk- -e Bearer)" 0
	expect_eq no-key-in-events "$(ctl --json events -n 256 | grep -c -e sk- -e Bearer)" 0
	finish "no API key in the event log, the journal, metrics, status or events"
}

o_access() {
	local sock=$STACK_DIR/control.sock
	if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
		skip "control socket access" "needs root and setpriv"
		return
	fi
	expect_eq socket-mode "$(stat -c '%a %G' "$sock")" "660 adm"
	# Let anyone reach the socket: the daemon's own check still holds.
	chmod 0755 "$STACK_DIR"
	chmod 0666 "$sock"
	expect_eq nobody "$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$B/llmfbctl" -s "$sock" status 2>&1; echo "rc=$?")" \
	    "llmfbctl: status: permission denied"$'\n'"rc=1"
	expect_eq nobody-trip "$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$B/llmfbctl" -s "$sock" trip oa >/dev/null 2>&1; echo "rc=$?")" "rc=1"
	expect_eq breaker-untouched "$(target_stat oa .breaker.state)" closed
	expect_eq admin-group "$(setpriv --reuid=nobody --regid=nogroup --groups=adm \
	    "$B/llmfbctl" -s "$sock" --json version | jq -r .llmfbd)" 0.1.0
	chmod 0660 "$sock"
	chmod 0700 "$STACK_DIR"
	expect_eq by-mode "$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    "$B/llmfbctl" -s "$sock" status 2>&1; echo "rc=$?")" \
	    "llmfbctl: $sock: Permission denied"$'\n'"rc=1"
	finish "control socket: a non-admin user is refused, control_group members are let in"
}

o_cli() {
	expect_eq usage "$(ctl 2>/dev/null; echo "rc=$?")" "rc=2"
	expect_eq unknown "$(ctl frobnicate 2>/dev/null; echo "rc=$?")" "rc=2"
	expect_eq extra-arg "$(ctl status now 2>&1; echo "rc=$?")" \
	    "llmfbctl: status takes no argument but --fleet"$'\n'"rc=2"
	expect_match help "$(ctl --help)" 'inject TARGET FAULT'
	# Options go anywhere, as in every other command.
	expect_eq json-after "$("$B/llmfbctl" status --json -s \
	    "$STACK_DIR/control.sock" | jq -r .version)" 0.1.0
	expect_eq socket-eq-after "$("$B/llmfbctl" status \
	    --socket="$STACK_DIR/control.sock" -j | jq -r .version)" 0.1.0
	expect_eq socket-missing "$(ctl status -s 2>&1; echo "rc=$?")" \
	    "llmfbctl: -s needs a socket path"$'\n'"rc=2"
	expect_eq version "$(ctl --json version | jq -r '"\(.llmfbctl) \(.llmfbd)"')" "0.1.0 0.1.0"
	expect_eq unreachable "$("$B/llmfbctl" -s /nonexistent.sock status 2>/dev/null; echo "rc=$?")" "rc=1"
	expect_eq check-usage "$(ctl check 2>/dev/null; echo "rc=$?")" "rc=2"
	# run: a program under the shim, its calls through llmfbd.
	mock_reset
	local out
	if [ "$LK" == curl ]; then
		out=$(LLMFB_CONTROL=$STACK_DIR/control.sock "$B/llmfbctl" run -- \
		    curl -sS -D - -o /dev/null \
		    -H 'Content-Type: application/json' -d "$(oreq)" "$OAI")
	else
		out=$(ASAN_OPTIONS=verify_asan_link_order=0 \
		    LLMFB_CONTROL=$STACK_DIR/control.sock "$B/llmfbctl" run -- \
		    "$B/lcclient" --mode easy --data "$(oreq)" "$OAI")
	fi
	expect_match run-through-llmfb "$out" 'x-llmfb-target: oa|target=oa'
	expect_eq run-reached "$(mock_stat oa requests)" 1
	expect_eq run-missing "$(ctl run -- /nonexistent 2>/dev/null; echo "rc=$?")" "rc=127"
	finish "llmfbctl: exit codes, help, version, check, run"
}

observe_cases() {
	o_status_events
	o_follow
	o_trip_drain
	o_inject
	o_reload
	o_bad_reload
	o_config_mistakes
	o_carry_over
	o_metrics
	o_event_log
	o_secrets
	o_access
	o_cli
}
