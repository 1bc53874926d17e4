# Deployment (issue 8), sourced by run.sh:
# - socket activation and readiness, as systemd gives them (activate.py
#   stands in for it): READY=1 once calls are served, RELOADING=1/READY=1
#   around a reload, watchdog pings; a restart with a call in flight
#   finishes that call, and a call that arrives meanwhile waits in the
#   socket and is served by the next llmfbd instead of being refused;
# - without systemd: -b returns once llmfbd serves, -p keeps a second one
#   out, a bad config is said on the terminal;
# - the whole host: libllmfb.so in /etc/ld.so.preload (bind-mounted in a
#   private mount namespace): llmfbd leaves itself alone, a plain curl is
#   served, an excluded program and non-LLM programs are untouched;
# - make install into a DESTDIR, systemd-analyze verify on the units, the
#   man pages (tests/man.sh).

# dcall NAME SOCKET: one call by lcclient (easy mode) through the shim to
# SOCKET; its report line goes to $DDIR/NAME.out.
dcall() {
	local env=(LD_PRELOAD="$B/libllmfb.so" LLMFB_SOCKET="$2")
	[ -z "${LLMFB_TEST_SANITIZED:-}" ] ||
	    env+=(ASAN_OPTIONS=verify_asan_link_order=0)
	mkdir -p "$DDIR/$1.body"
	env "${env[@]}" "$B/lcclient" --mode easy --body-dir "$DDIR/$1.body" \
	    -H "Authorization: Bearer $CALLER_KEY" --data "$CHAT" "$OAI" \
	    >"$DDIR/$1.out" 2>"$DDIR/$1.err"
}
dresult() { report_fields "$(cat "$DDIR/$1.out" 2>/dev/null)"; echo "$CODE $TARGET"; }

# deploy_config DIR TARGET: a config for a daemon of its own in DIR.
deploy_config() {
	mkdir -p "$1/state"
	cat >"$1/llmfb.yaml" <<-EOF2
	listen: $1/llmfb.sock
	control: $1/control.sock
	state_dir: $1/state
	stop_timeout: 20s
	ebpf: off
	intercept: [api.openai.com]
	upstream: { ca_file: $STACK_DIR/certs/ca.pem }
	providers:
	  p: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/$2/v1" }
	targets: { $2: { provider: p } }
	routes:
	  - { name: all, match: { host: api.openai.com }, ladder: [$2] }
	EOF2
}

notes() { grep -c "^notify .*$1" "$DDIR/act.log" 2>/dev/null; }

d_activation() {
	DDIR=$STACK_DIR/act
	local log=$DDIR/act.log apid pid1 pid2 c=$DDIR/control.sock
	deploy_config "$DDIR" da
	/usr/bin/python3 tests/e2e/activate.py "$DDIR/llmfb.sock" "$log" \
	    --restarts 1 --watchdog 300000 -- "$B/llmfbd" -c "$DDIR/llmfb.yaml" \
	    >>"$DDIR/llmfbd.log" 2>&1 &
	apid=$!
	wait_for "READY=1" grep -q "READY=1" "$log"
	pid1=$(awk '$1 == "start" { print $2; exit }' "$log")
	# Ready means served: no other wait before the first call.
	dcall first "$DDIR/llmfb.sock"
	expect_eq ready-serves "$(dresult first)" "200 da"
	expect_match handed "$(cat "$DDIR/llmfbd.log")" \
	    'socket activation: 1 socket handed over'
	expect_match status "$(cat "$log")" "notify $pid1 STATUS=serving: 1 routes"
	wait_for "two watchdog pings" test "$(notes WATCHDOG=1)" -ge 2
	"$B/llmfbctl" -s "$c" reload >/dev/null
	wait_for "READY=1 after the reload" test "$(notes READY=1)" -ge 2
	# RELOADING=1 (with the clock), then READY=1 again.
	expect_eq reload-says "$(awk '/RELOADING=1\|MONOTONIC_USEC=[0-9]+$/ {
	    r = NR } /READY=1/ && r { ok = 1 } END { print ok ? "yes" : "no" }' \
	    "$log")" yes

	# A restart: call A is in flight (the mock waits 1.5 s), call B
	# comes while llmfbd stops.  Both are served: A by the old llmfbd,
	# B by the new one, from the socket's queue.
	mock_script da 'delay_ms=1500'
	dcall a "$DDIR/llmfb.sock" &
	local apid_a=$!
	wait_for "call A at the mock" test "$(mock_stat da requests)" -ge 2
	kill -TERM "$pid1"
	wait_for "STOPPING=1" grep -q "^notify $pid1 STOPPING=1" "$log"
	dcall b "$DDIR/llmfb.sock" &
	local apid_b=$!
	wait "$apid_a"
	expect_eq inflight-finishes "$(dresult a)" "200 da"
	wait_for "the old llmfbd's exit" grep -q "^exit $pid1 " "$log"
	expect_eq old-exit "$(awk -v p="$pid1" '$1 == "exit" && $2 == p { print $3 }' "$log")" 0
	expect_eq socket-kept "$(test -S "$DDIR/llmfb.sock" && echo yes)" yes
	expect_eq hosts-kept "$(cat "$DDIR/llmfb.sock.hosts" 2>/dev/null | grep -c api.openai.com)" 1
	wait "$apid_b"
	expect_eq queued-served "$(dresult b)" "200 da"
	pid2=$(awk '$1 == "start" { p = $2 } END { print p }' "$log")
	expect_eq new-daemon "$([ "$pid2" != "$pid1" ] && echo yes)" yes
	# B is the new llmfbd's only call.
	expect_eq b-in-new "$("$B/llmfbctl" -s "$c" --json events | jq -s length)" 1
	kill -TERM "$apid"
	wait "$apid"
	expect_eq new-exit "$(awk -v p="$pid2" '$1 == "exit" && $2 == p { print $3 }' "$log")" 0
	finish "deploy: socket activation: ready means served, reload and watchdog notified; a restart finishes the call in flight and serves the one that came meanwhile"

	# A socket that is neither listen nor control: refused at start.
	: >"$log"
	/usr/bin/python3 tests/e2e/activate.py "$DDIR/other.sock" "$log" \
	    --name bogus -- "$B/llmfbd" -c "$DDIR/llmfb.yaml" \
	    >"$DDIR/bogus.log" 2>&1
	expect_match exit-1 "$(grep '^exit' "$log")" '^exit [0-9]+ 1$'
	expect_match says "$(cat "$DDIR/bogus.log")" \
	    'fd 3 \(bogus, .*other.sock\) is neither the data socket'
	expect_eq no-ready "$(notes READY=1)" 0
	finish "deploy: a handed socket llmfbd does not know is refused, with its name and path"
}

d_background() {
	DDIR=$STACK_DIR/bg
	local out rc pid
	deploy_config "$DDIR" db
	"$B/llmfbd" -b -p "$DDIR/llmfbd.pid" -c "$DDIR/llmfb.yaml" \
	    >"$DDIR/out" 2>&1
	expect_eq returns-0 "$?" 0
	# Returned means ready: no waiting here.
	pid=$(cat "$DDIR/llmfbd.pid")
	expect_eq serves-at-once "$("$B/llmfbctl" -s "$DDIR/control.sock" \
	    --json status | jq -r '.pid')" "$pid"
	expect_eq pidfile "$(cat "/proc/$pid/comm" 2>/dev/null)" llmfbd
	expect_eq detached "$(ps -o tty= -p "$pid" | tr -d ' ')" "?"
	dcall bg "$DDIR/llmfb.sock"
	expect_eq call "$(dresult bg)" "200 db"
	out=$("$B/llmfbd" -b -p "$DDIR/llmfbd.pid" -c "$DDIR/llmfb.yaml" 2>&1)
	rc=$?
	expect_eq twice-refused "$rc" 1
	expect_match twice-says "$out" "already running \\(pid $pid, "
	expect_eq first-alive "$(kill -0 "$pid" && echo yes)" yes
	kill -TERM "$pid"
	wait_for "llmfbd -b to stop" sh -c "! kill -0 $pid"
	expect_eq pidfile-gone "$(test -e "$DDIR/llmfbd.pid" || echo gone)" gone
	expect_eq socket-gone "$(test -e "$DDIR/llmfb.sock" || echo gone)" gone
	printf 'routes: [\n' >"$DDIR/bad.yaml"
	out=$("$B/llmfbd" -b -c "$DDIR/bad.yaml" 2>&1)
	rc=$?
	expect_eq bad-rc "$rc" 1
	expect_match bad-says "$out" 'bad.yaml:[0-9]+:[0-9]+: '
	finish "deploy: llmfbd -b returns once it serves; -p refuses a second one; the pid file goes at exit; a bad config is said on the terminal"
}

# The whole host: the shim in /etc/ld.so.preload, in a private mount
# namespace so that nothing outside it sees the file.  Inside: llmfbd (it
# loads the shim too, and must leave itself alone), a plain curl with no
# LD_PRELOAD of its own, lcclient (excluded by the config), and programs
# that never call an LLM.
d_hostwide() {
	DDIR=$STACK_DIR/host
	k_root "deploy: host-wide mode (/etc/ld.so.preload)" || return
	if [ -n "${LLMFB_TEST_SANITIZED:-}" ]; then
		# A sanitized shim in every program needs the sanitizer's
		# runtime loaded first in each: bash and curl have none.
		skip "deploy: host-wide mode" "a sanitized shim cannot be preloaded into every program"
		return
	fi
	deploy_config "$DDIR" dh
	# What a program that never calls an LLM sees: every address of a
	# name, in order.
	local py='import socket
print(*(a[4][0] for a in socket.getaddrinfo("localhost", 80,
    type=socket.SOCK_STREAM)))'
	# llmfbd's own call goes to api.openai.com too (pinned to the mock):
	# were the shim in llmfbd not off, it would hand it back to llmfbd.
	sed -i -e "s|https://127.0.0.1:$MOCK_PORT/dh/v1|https://api.openai.com/dh/v1|" \
	    -e "s|^upstream: {|upstream: { connect_to: [\"api.openai.com:443:127.0.0.1:$MOCK_PORT\"],|" \
	    "$DDIR/llmfb.yaml"
	cat >>"$DDIR/llmfb.yaml" <<-EOF2
	exclude: ["*/lcclient"]
	EOF2
	echo "$B/libllmfb.so" >"$DDIR/ld.so.preload"
	: >"$DDIR/empty.preload"
	chmod 0755 "$STACK_DIR"
	cat >"$DDIR/inside.sh" <<-EOF2
	set -u
	# /etc/ld.so.preload, for this namespace only: over the host's file,
	# or, when the host has none, in an overlay on /etc.  Empty first,
	# for a name lookup without the shim (what "untouched" means), then
	# the shim's.
	if [ -e /etc/ld.so.preload ]; then
		mount --bind "$DDIR/empty.preload" /etc/ld.so.preload
	else
		mkdir -p "$DDIR/up" "$DDIR/work"
		mount -t overlay overlay -o \
		    lowerdir=/etc,upperdir="$DDIR/up",workdir="$DDIR/work" /etc &&
		    cp "$DDIR/empty.preload" /etc/ld.so.preload
	fi || exit 1
	/usr/bin/python3 -c '$py' >"$DDIR/py.ref" 2>&1
	mount --bind "$DDIR/ld.so.preload" /etc/ld.so.preload || exit 1
	export LLMFB_SOCKET="$DDIR/llmfb.sock"
	"$B/llmfbd" -b -c "$DDIR/llmfb.yaml" -p "$DDIR/llmfbd.pid" \
	    >"$DDIR/llmfbd.out" 2>&1 || exit 1
	grep -q libllmfb /proc/\$(cat "$DDIR/llmfbd.pid")/maps && echo yes >"$DDIR/daemon-maps"
	curl -sS -D "$DDIR/curl.h" -o "$DDIR/curl.body" \
	    -H "Authorization: Bearer $CALLER_KEY" \
	    -H 'Content-Type: application/json' -d '$CHAT' "$OAI" \
	    2>"$DDIR/curl.err"
	echo "\$?" >"$DDIR/curl.rc"
	LLMFB_DEBUG=1 "$B/lcclient" --mode easy --body-dir "$DDIR" \
	    --resolve api.openai.com:443:127.0.0.1 --timeout-ms 3000 --data '$CHAT' "$OAI" \
	    >"$DDIR/excluded.out" 2>"$DDIR/excluded.err"
	echo "\$?" >"$DDIR/excluded.rc"
	sh -c 'echo plain; ls /nonexistent-llmfb 2>&1; exit 3' \
	    >"$DDIR/plain.out" 2>"$DDIR/plain.err"
	echo "\$?" >"$DDIR/plain.rc"
	/usr/bin/python3 -c '$py' >"$DDIR/py.out" 2>"$DDIR/py.err"
	kill \$(cat "$DDIR/llmfbd.pid")
	EOF2
	unshare -m --propagation private bash "$DDIR/inside.sh" \
	    >"$DDIR/inside.log" 2>&1
	expect_eq inside-rc "$?:$(cat "$DDIR/inside.log")" 0:
	expect_eq daemon-loads-shim "$(cat "$DDIR/daemon-maps")" yes
	expect_eq curl-rc "$(cat "$DDIR/curl.rc")" 0
	expect_eq curl-served "$(grep -i '^x-llmfb-target:' "$DDIR/curl.h" |
	    tr -d '\r' | cut -d' ' -f2)" dh
	expect_eq mock-saw-one "$(mock_stat dh requests)" 1
	# Excluded: its call went straight to where it pointed (nothing
	# listens on port 1 there), never to llmfbd.
	expect_match excluded-says "$(cat "$DDIR/excluded.err")" \
	    'this program is excluded \(\*/lcclient\)'
	expect_eq excluded-not-served "$(mock_stat dh requests)" 1
	expect_match excluded-refused "$(cat "$DDIR/excluded.out")" 'code=0 '
	expect_eq plain-out "$(cat "$DDIR/plain.out")" "plain
ls: cannot access '/nonexistent-llmfb': No such file or directory"
	expect_eq plain-err "$(cat "$DDIR/plain.err")" ""
	expect_eq plain-rc "$(cat "$DDIR/plain.rc")" 3
	# A name not intercepted resolves as it does without the shim: to
	# whatever this host's files say (::1 first on a stock Debian), and
	# with nothing said on stderr.
	expect_eq py-resolves "$(cat "$DDIR/py.out")$(cat "$DDIR/py.err")" \
	    "$(cat "$DDIR/py.ref")"
	expect_eq outside-untouched "$(grep -c libllmfb /etc/ld.so.preload 2>/dev/null || echo 0)" 0
	chmod 0700 "$STACK_DIR"
	finish "deploy: host-wide (/etc/ld.so.preload): llmfbd leaves itself alone, plain curl is served, an excluded program and other programs are untouched"
}

# make install into a DESTDIR: the tree, the config kept on a second
# install, the units verified.
d_install() {
	local d=$STACK_DIR/destdir p=/usr/local out f
	DDIR=$STACK_DIR/inst
	mkdir -p "$DDIR"
	make --no-print-directory B="$B" DESTDIR="$d" install >"$DDIR/out" 2>&1
	expect_eq install-rc "$?" 0
	for f in "sbin/llmfbd 755" "bin/llmfbctl 755" \
	    "lib/llmfb/libllmfb.so 644" "share/man/man8/llmfbd.8 644" \
	    "share/man/man8/llmfbctl.8 644" "share/man/man8/libllmfb.8 644" \
	    "share/man/man5/llmfb.yaml.5 644" \
	    "lib/systemd/system/llmfbd.service 644" \
	    "lib/systemd/system/llmfbd.socket 644" \
	    "lib/sysusers.d/llmfb.conf 644" \
	    "share/doc/llmfb/examples/llmfb-preload.conf 644"; do
		set -- $f
		expect_eq "$1" "$(stat -c %a "$d$p/$1" 2>&1)" "$2"
	done
	expect_eq config "$(cmp "$d/etc/llmfb/llmfb.yaml" examples/llmfb.yaml &&
	    echo same)" same
	expect_match config-ok "$("$d$p/sbin/llmfbd" -n -c "$d/etc/llmfb/llmfb.yaml")" \
	    'configuration OK'
	expect_eq execstart "$(grep '^ExecStart=' "$d$p/lib/systemd/system/llmfbd.service")" \
	    "ExecStart=$p/sbin/llmfbd -c /etc/llmfb/llmfb.yaml"
	expect_eq dropin "$(grep '^Environment=' "$d$p/share/doc/llmfb/examples/llmfb-preload.conf")" \
	    "Environment=LD_PRELOAD=$p/lib/llmfb/libllmfb.so"
	# A second install keeps the operator's config.
	echo "# edited by the operator" >>"$d/etc/llmfb/llmfb.yaml"
	cp "$d/etc/llmfb/llmfb.yaml" "$DDIR/edited"
	out=$(make --no-print-directory B="$B" DESTDIR="$d" install 2>&1)
	expect_match says-kept "$out" "kept $d/etc/llmfb/llmfb.yaml"
	expect_eq config-kept "$(cmp "$d/etc/llmfb/llmfb.yaml" "$DDIR/edited" &&
	    echo same)" same
	# The units as systemd reads them: the command they start is the
	# installed one (under DESTDIR here), the man pages they cite too.
	mkdir -p "$DDIR/units"
	for f in llmfbd.socket llmfbd.service; do
		sed "s|=$p/|=$d$p/|" "$d$p/lib/systemd/system/$f" >"$DDIR/units/$f"
	done
	out=$(MANPATH="$d$p/share/man" systemd-analyze verify \
	    "$DDIR/units/llmfbd.socket" "$DDIR/units/llmfbd.service" 2>&1)
	expect_eq verify "$?:$out" "0:"
	finish "deploy: make install DESTDIR: the tree, modes, paths in the units, the config kept; systemd-analyze verify is clean"
}

d_man() {
	local out
	out=$(tests/man.sh "$B/man" 2>&1)
	expect_eq man "$?" 0
	[ -z "$ERRS" ] || ERRS="$ERRS; $(grep -v '^ok' <<<"$out" | head -20)"
	finish "deploy: the man pages render without warnings and cover every option, key and command"
}

deploy_cases() {
	d_activation
	d_background
	d_hostwide
	d_install
	d_man
}

# ---- the installed package, started as its unit starts it ---------------

# u_get FILE KEY: the value of KEY= in a unit file (the last one).
u_get() { sed -n "s/^$2=//p" "$1" | tail -1; }
# "CAP_BPF CAP_PERFMON" -> "+bpf,+perfmon", setpriv's way.
u_caps() { tr ' ' '\n' <<<"$1" | sed -n 's/^CAP_\(.*\)/+\L\1/p' | paste -sd,; }

# Called by tests/e2e/deb.sh with the package installed (STAGE: installed
# or upgraded).  What systemd would do for llmfbd.socket and
# llmfbd.service, read from the installed units: the socket at
# ListenStream with FileDescriptorName, the directories, then ExecStart
# under User, Group, the capabilities and NoNewPrivileges (the sandbox's
# mount and system call rules need systemd itself and are not applied).
# Then a call through the shim at its installed path, by `llmfbctl run`
# and by the service drop-in's Environment=.
deb_installed_hook() {
	local svc=/lib/systemd/system/llmfbd.service
	local sock=/lib/systemd/system/llmfbd.socket
	local cfg=/etc/llmfb/llmfb.yaml exec user group caps bset listen
	local log apid dpid st had_run=no out
	DDIR=$STACK_DIR/unit-$1
	mkdir -p "$DDIR"
	log=$DDIR/act.log
	listen=$(u_get "$sock" ListenStream)
	if [ -S "$listen" ]; then
		skip "deploy: the unit's way ($1)" "$listen is in use here"
		return
	fi
	exec=$(u_get "$svc" ExecStart)
	user=$(u_get "$svc" User)
	group=$(u_get "$svc" Group)
	caps=$(u_caps "$(u_get "$svc" AmbientCapabilities)")
	bset=$(u_caps "$(u_get "$svc" CapabilityBoundingSet)")
	expect_eq exec-args "$exec" "/usr/sbin/llmfbd -c $cfg"
	expect_eq nnp "$(u_get "$svc" NoNewPrivileges)" yes
	# RuntimeDirectory=, StateDirectory=, LogsDirectory=, as systemd
	# makes them: owned by the unit's user.
	[ -d /run/llmfb ] && had_run=yes
	install -d -o "$user" -g "$group" \
	    -m "$(u_get "$svc" RuntimeDirectoryMode)" \
	    "/run/$(u_get "$svc" RuntimeDirectory)"
	install -d -o "$user" -g "$group" \
	    -m "$(u_get "$svc" StateDirectoryMode)" \
	    "/var/lib/$(u_get "$svc" StateDirectory)"
	install -d -o "$user" -g "$group" \
	    -m "$(u_get "$svc" LogsDirectoryMode)" \
	    "/var/log/$(u_get "$svc" LogsDirectory)"
	# The operator's config, for this test only: the mock as provider.
	cp -p "$cfg" "$DDIR/config.saved"
	install -m 0644 "$STACK_DIR/certs/ca.pem" /etc/llmfb/test-ca.pem
	cat >"$cfg" <<-EOF2
	state_dir: /var/lib/llmfb
	events: /var/log/llmfb/events.log
	intercept: [api.openai.com]
	upstream: { ca_file: /etc/llmfb/test-ca.pem }
	providers:
	  p: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/du/v1" }
	targets: { du: { provider: p } }
	routes:
	  - { name: all, match: { host: api.openai.com }, ladder: [du] }
	EOF2
	# shellcheck disable=SC2086
	/usr/bin/python3 tests/e2e/activate.py "$listen" "$log" \
	    --name "$(u_get "$sock" FileDescriptorName)" -- \
	    setpriv --reuid="$user" --regid="$group" --init-groups \
	    --inh-caps="-all,$caps" --ambient-caps="$caps" \
	    --bounding-set="-all,$bset" --no-new-privs $exec \
	    >"$DDIR/llmfbd.log" 2>&1 &
	apid=$!
	if wait_for "llmfbd (the unit's way)" grep -q "READY=1" "$log"; then
		dpid=$(awk '$1 == "start" { print $2; exit }' "$log")
		expect_eq runs-as "$(stat -c %U "/proc/$dpid")" "$user"
		expect_eq socket-mode "$(stat -c %a "$listen")" \
		    "$(u_get "$sock" SocketMode | sed 's/^0//')"
		# One program: llmfbctl run finds the installed shim and the
		# socket.
		out=$(/usr/bin/llmfbctl run -- curl -sS -D - -o /dev/null \
		    -H "Authorization: Bearer $CALLER_KEY" \
		    -H 'Content-Type: application/json' -d "$CHAT" "$OAI" 2>&1)
		expect_match run-served "$(tr -d '\r' <<<"$out")" \
		    $'HTTP/1.1 200.*\nx-llmfb-target: du'
		# One service: the drop-in's environment, as systemd sets it.
		out=$(env "$(u_get /usr/share/doc/llmfb/examples/llmfb-preload.conf \
		    Environment)" curl -sS -D - -o /dev/null \
		    -H "Authorization: Bearer $CALLER_KEY" \
		    -H 'Content-Type: application/json' -d "$CHAT" "$OAI" 2>&1)
		expect_match dropin-served "$(tr -d '\r' <<<"$out")" \
		    $'HTTP/1.1 200.*\nx-llmfb-target: du'
		st=$(/usr/bin/llmfbctl --json status)
		# What the unit grants is what eBPF timing, netlink and the
		# caller's executable need; the bypass watch says why not.
		expect_eq timing-on "$(jtrue "$st" '.ebpf.network_timing.on')" true
		expect_eq netlink-on "$(jtrue "$st" '.network.on')" true
		expect_match bypass-why "$(jtrue "$st" '.ebpf.bypass_watch.why')" \
		    'permission|CAP_SYS_ADMIN'
		expect_eq caller-exe "$(/usr/bin/llmfbctl --json events -n 1 |
		    jq -r '.caller.exe')" /usr/bin/curl
		expect_eq events-log "$(stat -c %U /var/log/llmfb/events.log)" "$user"
		kill -TERM "$apid"
	else
		ERRS="$ERRS; llmfbd: $(tail -5 "$DDIR/llmfbd.log")"
		kill -TERM "$apid"
	fi
	wait "$apid"
	expect_match clean-exit "$(grep '^exit' "$log")" '^exit [0-9]+ 0$'
	cp -p "$DDIR/config.saved" "$cfg"
	rm -f /etc/llmfb/test-ca.pem "$listen" "$listen.notify" "$listen.hosts"
	[ "$had_run" = yes ] || rm -rf /run/llmfb
	finish "deploy: the package's llmfbd, started as its units start it ($1): runs as $user with the unit's capabilities, serves llmfbctl run and the drop-in, eBPF timing and netlink on"
}
