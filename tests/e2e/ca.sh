# The local CA (ca: in the config): programs whose TLS the shim cannot
# virtualise (NodeSource's /usr/bin/node with its OpenSSL linked in, the
# npm SDKs on it, Bun and a Bun-compiled executable with BoringSSL, wget
# and gnutls-cli on GnuTLS), unmodified, served
# through the ladder once they trust the CA; carried untouched with the
# CA off; straight out with llmfbd away; failing as on any untrusted
# certificate, and counted, when they do not trust it.  Sourced by
# run.sh.

# ca_daemon: an llmfbd of its own with the CA on, for api.openai.com and
# api.anthropic.com (ladders primary > secondary, aprimary > asecondary),
# each pinned to the mock by upstream.connect_to, so that what is relayed
# untouched reaches the mock (as provider "default").  Sets CA_DIR,
# CA_PID, CA_CFG.
ca_daemon() {
	CA_DIR=$STACK_DIR/ca-d
	CA_CFG=$CA_DIR/llmfb.yaml
	mkdir -p "$CA_DIR"
	cat >"$CA_CFG" <<-EOF
	listen: $CA_DIR/llmfb.sock
	control: $CA_DIR/control.sock
	intercept: [api.openai.com, api.anthropic.com]
	ebpf: off
	network_watch: false
	ca: { enabled: true, dir: $CA_DIR/ca }
	# Breakers off: the primary fails on purpose in every case.
	breaker: { failures: 0, ratio: 0% }
	upstream:
	  ca_file: $STACK_DIR/certs/ca.pem
	  connect_to:
	    - "api.openai.com:443:127.0.0.1:$MOCK_PORT"
	    - "api.anthropic.com:443:127.0.0.1:$MOCK_PORT"
	providers:
	  openai: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/primary/v1", origin: api.openai.com }
	  backup: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/secondary/v1", api_key_env: LLMFB_TEST_BACKUP_KEY }
	  anthropic: { dialect: anthropic, base_url: "https://127.0.0.1:$MOCK_PORT/aprimary/v1", origin: api.anthropic.com }
	  abackup: { dialect: anthropic, base_url: "https://127.0.0.1:$MOCK_PORT/asecondary/v1", api_key_env: LLMFB_TEST_ABACKUP_KEY }
	targets:
	  primary: { provider: openai }
	  secondary: { provider: backup, model: backup-model }
	  aprimary: { provider: anthropic }
	  asecondary: { provider: abackup, model: claude-backup }
	routes:
	  - { name: chat, match: { host: api.openai.com }, ladder: [primary, secondary] }
	  - { name: messages, match: { host: api.anthropic.com }, ladder: [aprimary, asecondary] }
	EOF
	"$B/llmfbd" -c "$CA_CFG" >"$CA_DIR/log" 2>&1 &
	CA_PID=$!
	STACK_PIDS="$STACK_PIDS $CA_PID"
	wait_for "llmfbd with the CA" "$B/llmfbctl" -s "$CA_DIR/control.sock" status
	wait_for "the CA's certificate" test -s "$CA_DIR/llmfb.sock.ca.pem"
	# Both CAs in one file: Node takes one NODE_EXTRA_CA_CERTS.
	cat "$STACK_DIR/certs/ca.pem" "$CA_DIR/llmfb.sock.ca.pem" \
	    >"$CA_DIR/both.pem"
}

CA_SDK_ENV=()

cactl() { "$B/llmfbctl" -s "$CA_DIR/control.sock" "$@"; }

ca_status() { cactl --json status | jq -r "$1"; }

# ca_set on|off: the CA enabled or not, by a reload.
ca_set() {
	local v=false
	[ "$1" = on ] && v=true
	sed -i "s/^ca: { enabled: [a-z]*,/ca: { enabled: $v,/" "$CA_CFG"
	cactl reload >/dev/null
}

CA_OAI=https://api.openai.com/v1/chat/completions

# ca_client KIND HOW TRUST [URL]: one call by an unmodified client, its
# connects redirected by the shim to the CA daemon (SHIM_ENV), trusting
# TRUST (a CA file); HOW is whole or stream.  Prints one line:
# "code=... target=... body=..." (nodeclient's), "text=..." (the SDKs'),
# or the body or error (wget, gnutls-cli).  At most 20 s.
ca_client() {
	local kind=$1 how=$2 trust=$3 url=${4:-$CA_OAI} data=$CHAT port
	local -a wrap=(timeout 20)
	[ "$how" = stream ] && data=$STREAM
	# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
	[ -z "${REACH_HOSTS:-}" ] || wrap+=(unshare --mount sh -c \
	    'mount --bind "$0" /etc/hosts && exec "$@"' "$REACH_HOSTS")
	case $kind in
	node-fetch|node-https)
		"${wrap[@]}" env "${SHIM_ENV[@]}" NODE_EXTRA_CA_CERTS="$trust" \
		    node tests/e2e/nodeclient.js "${kind#node-}" "$url" "$data" \
		    "$([ "$how" = stream ] && echo stream)" 2>&1 ;;
	bun)
		"${wrap[@]}" env "${SHIM_ENV[@]}" NODE_EXTRA_CA_CERTS="$trust" \
		    "$CA_BUN" tests/e2e/nodeclient.js fetch "$url" "$data" \
		    "$([ "$how" = stream ] && echo stream)" 2>&1 ;;
	bun-compiled)
		"${wrap[@]}" env "${SHIM_ENV[@]}" NODE_EXTRA_CA_CERTS="$trust" \
		    "$STACK_DIR/bunclient" fetch "$url" "$data" \
		    "$([ "$how" = stream ] && echo stream)" 2>&1 ;;
	openai|anthropic)
		"${wrap[@]}" env "${SHIM_ENV[@]}" NODE_EXTRA_CA_CERTS="$trust" \
		    NODE_PATH="$CA_MODS" "${CA_SDK_ENV[@]}" \
		    node tests/e2e/sdkclient.js "$kind" "$how" 2>&1 ;;
	wget)
		"${wrap[@]}" env "${SHIM_ENV[@]}" wget -nv -O- \
		    --header='Content-Type: application/json' \
		    --post-data="$data" --ca-certificate="$trust" "$url" 2>&1 ;;
	gnutls)
		port=$(sed -n 's|^https://[^/:]*:\([0-9]*\)/.*|\1|p' <<<"$url")
		printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
		    "${#data}" "$data" |
		    "${wrap[@]}" env "${SHIM_ENV[@]}" gnutls-cli \
		    --x509cafile="$trust" --port="${port:-443}" \
		    api.openai.com 2>&1 ;;
	esac
}

# The kinds this machine has, and the SDKs if npm gave them.
ca_kinds() {
	local k
	for k in node-fetch node-https openai anthropic bun bun-compiled wget \
	    gnutls; do
		case $k in
		bun) [ -n "${CA_BUN:-}" ] || continue ;;
		bun-compiled) [ -x "$STACK_DIR/bunclient" ] || continue ;;
		node-*) command -v node >/dev/null || continue ;;
		openai|anthropic) [ -n "${CA_MODS:-}" ] || continue ;;
		wget) command -v wget >/dev/null || continue ;;
		gnutls) command -v gnutls-cli >/dev/null || continue ;;
		esac
		echo "$k"
	done
}

# ca_want KIND WHO: the pattern KIND's answer from WHO (a mock name)
# matches.
ca_want() {
	local who=$2
	case $1 in
	anthropic) [ "$who" = secondary ] && who=asecondary
		echo "^text=Hello from $who events=[1-9]" ;;
	openai) echo "^text=Hello from $who events=[1-9]" ;;
	node-*|bun*) echo "code=200 .*Hello from $who" ;;
	*) echo "Hello from $who" ;;
	esac
}

ca_setup() {
	[ -n "${CA_DIR:-}" ] && return 0
	if [ -n "${LLMFB_TEST_SANITIZED:-}" ]; then
		skip "${FUNCNAME[1]}" "sanitized build: Node cannot take the shim's ASan runtime in"
		return 1
	fi
	CA_MODS=$(tests/npm.sh 2>"$STACK_DIR/ca-npm.err") || CA_MODS=""
	CA_BUN=$(tests/bun.sh 2>"$STACK_DIR/ca-bun.err") || CA_BUN=""
	# A single-file executable, as Claude Code's native build is one
	# (bun build --compile: the runtime and the script, offline).
	[ -z "$CA_BUN" ] || (cd "$STACK_DIR" && "$CA_BUN" build --compile \
	    "$OLDPWD/tests/e2e/nodeclient.js" --outfile bunclient) \
	    >"$STACK_DIR/ca-bun-build.log" 2>&1 || rm -f "$STACK_DIR/bunclient"
	ca_daemon
}

# CA on, trusted: each client's call reaches llmfbd's ladder (the
# primary answers 503; the backup serves), whole and streamed.
c_terminated() {
	local k how out n0 want
	ca_setup || return
	n0=$(ca_status '.ca.terminated.ok // 0')
	shim_on "$CA_DIR/llmfb.sock"
	for k in $(ca_kinds); do
		for how in whole stream; do
			# gnutls-cli and wget print what comes: one is enough.
			[ "$how" = stream ] && [ "$k" = wget ] && continue
			[ "$how" = stream ] && [ "$k" = gnutls ] && continue
			mock_reset
			mock_script primary 'status=503'
			mock_script aprimary 'status=529'
			out=$(ca_client "$k" "$how" "$CA_DIR/both.pem")
			want=$(ca_want "$k" secondary)
			[ "$how" = stream ] && { [ "${k%%-*}" = node ] ||
			    [ "${k%%-*}" = bun ]; } &&
			    want='code=200 .*data: \[DONE\]'
			expect_match "$k-$how" "$out" "$want"
			expect_eq "$k-$how-primary-tried" "$(($(mock_stat primary \
			    requests) + $(mock_stat aprimary requests)))" 1
		done
	done
	shim_on
	expect_ge counted-ok "$(ca_status '.ca.terminated.ok // 0')" \
	    $((n0 + 1))
	expect_eq no-relay "$(ca_status '.unserved["tls-not-virtual"] // 0')" 0
	expect_match log "$(cat "$CA_DIR/log")" 'terminated with the local CA'
	finish "ca: $(ca_kinds | tr '\n' ' ')trusting the local CA: their own TLS terminated by llmfbd, served through the ladder, whole and streamed"
}

# CA off (a reload): the same clients are carried to the origin
# untouched (the mock, by upstream.connect_to), as before the CA.
c_off() {
	local k out n0
	ca_setup || return
	ca_set off
	expect_eq disabled "$(ca_status .ca.loaded)" false
	expect_eq cert-withdrawn "$(test -e "$CA_DIR/llmfb.sock.ca.pem" &&
	    echo there || echo gone)" gone
	n0=$(ca_status '.unserved["tls-not-virtual"] // 0')
	shim_on "$CA_DIR/llmfb.sock"
	for k in $(ca_kinds); do
		mock_reset
		mock_script primary 'status=503'
		out=$(ca_client "$k" whole "$CA_DIR/both.pem")
		expect_match "$k" "$out" "$(ca_want "$k" default)"
		expect_eq "$k-no-ladder" "$(mock_stat primary requests)" 0
	done
	shim_on
	wait_for "the relays to end" sh -c "[ \"\$('$B/llmfbctl' -s \
	    '$CA_DIR/control.sock' --json status | jq .relays)\" = 0 ]"
	expect_eq relayed "$(ca_status '.unserved["tls-not-virtual"] // 0')" \
	    "$((n0 + $(ca_kinds | wc -l)))"
	ca_set on
	expect_eq enabled-again "$(ca_status .ca.loaded)" true
	finish "ca: with the CA off, $(ca_kinds | tr '\n' ' ')are carried to the origin untouched"
}

# llmfbd away: the same programs go out as without llmfb.
c_away() {
	local k out hostsdir=$STACK_DIR/ca-away
	ca_setup || return
	if [ "$(id -u)" != 0 ]; then
		skip "ca: llmfbd away" "needs root for a private /etc/hosts"
		return
	fi
	away_dir "$hostsdir" api.openai.com api.anthropic.com
	shim_on "$hostsdir/llmfb.sock"
	for k in $(ca_kinds); do
		mock_reset
		CA_SDK_ENV=(OPENAI_BASE_URL="https://api.openai.com:$MOCK_PORT/v1"
		    ANTHROPIC_BASE_URL="https://api.anthropic.com:$MOCK_PORT")
		out=$(REACH_HOSTS=$hostsdir/hosts \
		    ca_client "$k" whole "$STACK_DIR/certs/ca.pem" \
		    "https://api.openai.com:$MOCK_PORT/v1/chat/completions")
		CA_SDK_ENV=()
		expect_match "$k" "$out" "$(ca_want "$k" default)"
	done
	shim_on
	finish "ca: with llmfbd away, $(ca_kinds | tr '\n' ' ')go out as without llmfb"
}

# CA on, not trusted: each client fails as on any untrusted certificate
# (nothing reaches a provider), and each is counted and recorded.
c_untrusted() {
	local k out n0 ev
	ca_setup || return
	n0=$(ca_status '.ca.terminated.rejected // 0')
	shim_on "$CA_DIR/llmfb.sock"
	for k in $(ca_kinds); do
		mock_reset
		out=$(ca_client "$k" whole "$STACK_DIR/certs/ca.pem")
		# What each says of a certificate it does not trust (the
		# openai SDK says "Connection error." of any).
		expect_match "$k-fails" "$out" \
		    'certificate|CERT|issuer|verif|VERIFY|Connection error'
		expect_eq "$k-no-answer" "$(grep -c 'Hello from' <<<"$out")" 0
		expect_eq "$k-nothing-sent" "$(($(mock_stat primary requests) +
		    $(mock_stat default requests)))" 0
	done
	shim_on
	wait_for "the terminations to end" sh -c "[ \"\$('$B/llmfbctl' -s \
	    '$CA_DIR/control.sock' --json status | jq .ca.open)\" = 0 ]"
	expect_eq counted "$(ca_status '.ca.terminated.rejected // 0')" \
	    "$((n0 + $(ca_kinds | wc -l)))"
	ev=$(cactl --json events 50 | jq -c 'select(.result == "rejected")' |
	    tail -1)
	expect_match event "$ev" '"host":"api.openai.com".*"tls":"terminated"'
	expect_match metric "$(cactl metrics)" \
	    'llmfb_tls_terminated_total\{result="rejected"\} [1-9]'
	expect_match status-line "$(cactl status)" \
	    'local CA   on .*rejected by the client [1-9]'
	finish "ca: $(ca_kinds | tr '\n' ' ')not trusting the CA fail as on an untrusted certificate; counted (status, metric, event)"
}

# llmfbctl run: the shim and, with the CA up, what each runtime needs to
# trust it, for the one program: unmodified Node served through the
# ladder with nothing set by hand.
c_run() {
	local out
	ca_setup || return
	command -v node >/dev/null || { skip "ca: llmfbctl run" "no node"; return; }
	mock_reset
	mock_script primary 'status=503'
	out=$(env -u NODE_EXTRA_CA_CERTS LLMFB_SHIM="$B/libllmfb.so" timeout 20 "$B/llmfbctl" \
	    -s "$CA_DIR/control.sock" run node tests/e2e/nodeclient.js fetch \
	    "$CA_OAI" "$CHAT" 2>&1)
	expect_match served "$out" 'code=200 target=secondary .*Hello from secondary'
	out=$(env -u NODE_EXTRA_CA_CERTS -u SSL_CERT_FILE \
	    LLMFB_SHIM="$B/libllmfb.so" "$B/llmfbctl" -s "$CA_DIR/control.sock" \
	    run sh -c 'echo "$NODE_EXTRA_CA_CERTS $SSL_CERT_FILE"')
	expect_eq env "$out" "$CA_DIR/llmfb.sock.ca.pem $CA_DIR/llmfb.sock.ca-bundle.pem"
	# Set to the system's trust (as on this machine, at times): the
	# bundle, which is that and the CA; set to another file: kept.
	out=$(SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
	    NODE_EXTRA_CA_CERTS=/x.pem LLMFB_SHIM="$B/libllmfb.so" "$B/llmfbctl" \
	    -s "$CA_DIR/control.sock" run sh -c \
	    'echo "$NODE_EXTRA_CA_CERTS $SSL_CERT_FILE"' 2>/dev/null)
	expect_eq env-kept "$out" "/x.pem $CA_DIR/llmfb.sock.ca-bundle.pem"
	# The bundle: the system's trust, then the CA.
	expect_ge bundle-has-system "$(grep -c 'BEGIN CERTIFICATE' \
	    "$CA_DIR/llmfb.sock.ca-bundle.pem")" 2
	expect_eq bundle-ends-with-ca "$(tail -n "$(wc -l <"$CA_DIR/llmfb.sock.ca.pem")" \
	    "$CA_DIR/llmfb.sock.ca-bundle.pem" | sha1sum)" \
	    "$(sha1sum <"$CA_DIR/llmfb.sock.ca.pem")"
	finish "ca: llmfbctl run sets NODE_EXTRA_CA_CERTS and SSL_CERT_FILE (system trust + CA): unmodified Node served with nothing set by hand"
}

# llmfbctl ca rotate: a new CA, which llmfbd takes at once; what trusted
# the old one is refused.  install / uninstall: the system store (in a
# mount namespace of its own, over copies of /etc/ssl/certs and
# /usr/local/share/ca-certificates), by update-ca-certificates.
c_ctl() {
	local old out ns=$STACK_DIR/ca-store
	ca_setup || return
	cp "$CA_DIR/llmfb.sock.ca.pem" "$CA_DIR/old.pem"
	expect_match key-mode "$(stat -c %a "$CA_DIR/ca/ca.key")" '^600$'
	out=$(cactl ca init -c "$CA_CFG" 2>&1; echo "rc=$?")
	expect_match init-refuses-over "$out" 'exists.*rc=1$'
	out=$(cactl ca rotate -c "$CA_CFG" 2>&1)
	expect_match rotated "$out" 'reloaded'
	expect_eq new-published "$(cmp -s "$CA_DIR/old.pem" \
	    "$CA_DIR/llmfb.sock.ca.pem" && echo same || echo new)" new
	cat "$STACK_DIR/certs/ca.pem" "$CA_DIR/llmfb.sock.ca.pem" \
	    >"$CA_DIR/both.pem"
	shim_on "$CA_DIR/llmfb.sock"
	mock_reset
	mock_script primary 'status=503'
	out=$(ca_client node-fetch whole "$CA_DIR/both.pem")
	expect_match new-trusted "$out" 'code=200 target=secondary'
	out=$(ca_client node-fetch whole "$CA_DIR/old.pem")
	expect_match old-refused "$out" 'err=.*VERIFY|err=.*CERT'
	shim_on
	if [ "$(id -u)" != 0 ] || ! command -v update-ca-certificates >/dev/null; then
		skip "ca: install/uninstall" "needs root and update-ca-certificates"
		finish "ca: init refuses over a CA; rotate makes a new one llmfbd takes at once"
		return
	fi
	mkdir -p "$ns/certs" "$ns/local"
	cp -a /etc/ssl/certs/. "$ns/certs/"
	cp -a /usr/local/share/ca-certificates/. "$ns/local/" 2>/dev/null
	# shellcheck disable=SC2016 # the inner sh's
	out=$(unshare --mount sh -c '
	    mount --bind "$1/certs" /etc/ssl/certs &&
	    mount --bind "$1/local" /usr/local/share/ca-certificates || exit 9
	    ctl() { "$2" -s "$3" ca "$@"; }
	    "$2" -s "$3" ca install -c "$4" >/dev/null 2>&1 || echo install-failed
	    openssl verify -CApath /etc/ssl/certs "$5" >/dev/null 2>&1 &&
	        echo trusted-after-install
	    grep -c "BEGIN CERT" /etc/ssl/certs/ca-certificates.crt
	    "$2" -s "$3" ca uninstall >/dev/null 2>&1 || echo uninstall-failed
	    openssl verify -CApath /etc/ssl/certs "$5" >/dev/null 2>&1 ||
	        echo untrusted-after-uninstall
	    grep -c "BEGIN CERT" /etc/ssl/certs/ca-certificates.crt
	    ' sh "$ns" "$B/llmfbctl" "$CA_DIR/control.sock" "$CA_CFG" \
	    "$CA_DIR/llmfb.sock.ca.pem" 2>&1)
	expect_match installed "$out" 'trusted-after-install'
	expect_match uninstalled "$out" 'untrusted-after-uninstall'
	expect_eq one-more-then-back "$(sed -n 2p <<<"$out")" \
	    "$(($(sed -n 4p <<<"$out") + 1))"
	expect_eq host-store-untouched "$(test -e \
	    /usr/local/share/ca-certificates/llmfb-local-ca.crt && echo touched)" ""
	finish "ca: init refuses over a CA; rotate makes a new one llmfbd takes at once (the old one refused); install/uninstall add it to and take it from the system store"
}

# Many terminated connections, one after another on a kept-alive one and
# each on its own: all answered, none left open, llmfbd lives on.
c_many() {
	local out
	ca_setup || return
	command -v node >/dev/null || { skip "ca: many" "no node"; return; }
	mock_reset
	out=$(env "${SHIM_ENV[@]/#LLMFB_SOCKET=*/LLMFB_SOCKET=$CA_DIR/llmfb.sock}" \
	    NODE_EXTRA_CA_CERTS="$CA_DIR/both.pem" timeout 90 node bench/relay.js \
	    https://api.openai.com/v1/models 200 60 2>&1)
	expect_match node "$out" '^keepalive_p50_us=[0-9]+ .*fresh_p99_us=[0-9]+$'
	expect_eq llmfbd-alive "$(kill -0 "$CA_PID" 2>/dev/null && echo yes)" yes
	wait_for "the terminations to end" sh -c "[ \"\$('$B/llmfbctl' -s \
	    '$CA_DIR/control.sock' --json status | jq .ca.open)\" = 0 ]"
	expect_eq none-open "$(ca_status .ca.open)" 0
	expect_eq clients-back "$(ca_status .clients)" 0
	finish "ca: 200 requests on a terminated connection and 60 terminated connections one after another: all answered, none left open"
}

# kr_go CGROUP HOSTS URL [JSON]: the unmodified Go client (no shim) in
# the cgroup CGROUP, api.openai.com looked up in HOSTS (a mount namespace
# of its own), trusting the test CA and the local CA; each resolver in
# turn, one line each.
kr_go() {
	local cg=$1 hosts=$2 dns
	shift 2
	for dns in go cgo; do
		# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
		timeout 25 unshare --mount sh -c 'mount --bind "$0" /etc/hosts &&
		    echo $$ >"$1/cgroup.procs" && shift && exec "$@"' "$hosts" \
		    "$cg" env GODEBUG=netdns=$dns SSL_CERT_FILE="$KR_DIR/both.pem" \
		    "$B/goclient" "$@" 2>&1
	done
}

# The kernel path (redirect:): Go net/http makes its own connects, which
# no shim sees; llmfbd's eBPF programs, attached to a child cgroup made
# for the case (never the root), send them to its loopback listener, and
# the call is served through the ladder (both resolvers); with the CA
# off, carried to the origin untouched; other destinations untouched;
# with llmfbd away, straight out.  An unusable cgroup: llmfbd runs and
# says why.
c_kernel() {
	local root cg out n0 pid
	KR_DIR=$STACK_DIR/kr
	ca_setup || return
	if [ "$(id -u)" != 0 ] || [ ! -x "$B/goclient" ]; then
		skip "ca: the kernel path" "needs root and Go"
		return
	fi
	root=$(findmnt -n -t cgroup2 -o TARGET | head -1)
	if [ -z "$root" ]; then
		skip "ca: the kernel path" "no cgroup v2 mounted"
		return
	fi
	cg=$root/llmfb-test-$$
	mkdir -p "$KR_DIR" "$cg"
	# llmfbd and Go both find api.openai.com at 127.0.0.2 (port 443:
	# nothing listens there, so only a redirect answers).
	{ cat /etc/hosts; echo "127.0.0.2 api.openai.com other.llmfb.test"; } \
	    >"$KR_DIR/hosts"
	sed -e "s|$CA_DIR|$KR_DIR|g" -e '/^intercept:/s/, api.anthropic.com//' \
	    "$CA_CFG" >"$KR_DIR/llmfb.yaml"
	echo "redirect: { cgroup: $cg }" >>"$KR_DIR/llmfb.yaml"
	# shellcheck disable=SC2016 # the inner sh's
	unshare --mount sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' \
	    "$KR_DIR/hosts" "$B/llmfbd" -d -c "$KR_DIR/llmfb.yaml" \
	    >"$KR_DIR/log" 2>&1 &
	pid=$!
	STACK_PIDS="$STACK_PIDS $pid"
	wait_for "llmfbd with redirect" "$B/llmfbctl" -s "$KR_DIR/control.sock" status
	wait_for "the addresses" sh -c "[ \"\$('$B/llmfbctl' -s \
	    '$KR_DIR/control.sock' --json status | jq .redirect.addresses)\" -ge 1 ]"
	cat "$STACK_DIR/certs/ca.pem" "$KR_DIR/llmfb.sock.ca.pem" >"$KR_DIR/both.pem"
	krctl() { "$B/llmfbctl" -s "$KR_DIR/control.sock" "$@"; }
	expect_eq redirect-on "$(krctl --json status | jq .redirect.on)" true
	expect_match status-line "$(krctl status)" 'redirect   on, cgroup .*: 1 addresses'
	n0=$(krctl --json status | jq '.ca.terminated.ok // 0')
	mock_reset
	mock_script primary 'status=503' 'status=503'
	out=$(kr_go "$cg" "$KR_DIR/hosts" "$CA_OAI" "$CHAT")
	expect_eq served-both-resolvers "$(grep -c \
	    'code=200 body=.*Hello from secondary' <<<"$out")" 2
	expect_eq primary-tried "$(mock_stat primary requests)" 2
	expect_eq accepted "$(krctl --json status | jq .redirect.accepted)" 2
	expect_eq terminated "$(krctl --json status | jq '.ca.terminated.ok // 0')" \
	    $((n0 + 2))
	expect_match caller "$(krctl --json events 5 | jq -r .caller.exe | sort -u)" \
	    '/goclient'
	# Another destination, from the same cgroup: untouched.
	mock_reset
	out=$(kr_go "$cg" "$KR_DIR/hosts" "$MOCK_URL/v1/models")
	expect_eq others-untouched "$(grep -c 'code=200 body=.*"mock":"default"' \
	    <<<"$out")" 2
	expect_eq others-not-accepted "$(krctl --json status | jq .redirect.accepted)" 2
	# Another name on an intercepted host's address (as on a CDN): carried
	# to that address untouched, by llmfbd's own connect, which is never
	# redirected, though llmfbd is in the cgroup now (redirected, it would
	# come back to llmfbd again and again).
	echo "$pid" >"$cg/cgroup.procs"
	n0=$(krctl --json status | jq .redirect.accepted)
	out=$(kr_go "$cg" "$KR_DIR/hosts" https://other.llmfb.test/v1/models)
	expect_eq other-name-fails-as-direct "$(grep -c 'connection refused\|EOF\|reset' \
	    <<<"$out")" 2
	expect_eq own-connects-exempt "$(krctl --json status | jq .redirect.accepted)" \
	    $((n0 + 2))
	expect_eq other-name-relayed "$(krctl --json status |
	    jq '.unserved["kernel-not-ours"] // 0')" 2
	# The CA off: redirected, and carried to the origin (the mock, by
	# upstream.connect_to) untouched.
	sed -i 's/^ca: { enabled: true,/ca: { enabled: false,/' "$KR_DIR/llmfb.yaml"
	krctl reload >/dev/null
	mock_reset
	mock_script primary 'status=503' 'status=503'
	out=$(kr_go "$cg" "$KR_DIR/hosts" "$CA_OAI" "$CHAT")
	expect_eq ca-off-untouched "$(grep -c 'code=200 body=.*Hello from default' \
	    <<<"$out")" 2
	expect_eq ca-off-no-ladder "$(mock_stat primary requests)" 0
	# llmfbd away: its programs go with it, and the same client goes
	# straight out (here to the mock's port).
	kill "$pid"
	wait "$pid" 2>/dev/null
	{ cat /etc/hosts; echo "127.0.0.1 api.openai.com"; } >"$KR_DIR/hosts-away"
	mock_reset
	out=$(kr_go "$cg" "$KR_DIR/hosts-away" \
	    "https://api.openai.com:$MOCK_PORT/v1/chat/completions" "$CHAT")
	expect_eq away-direct "$(grep -c 'code=200 body=.*Hello from default' \
	    <<<"$out")" 2
	# A cgroup that is not there: llmfbd runs, serves, says why.
	sed -i "s|^redirect: .*|redirect: { cgroup: $cg-none }|" "$KR_DIR/llmfb.yaml"
	"$B/llmfbd" -c "$KR_DIR/llmfb.yaml" >"$KR_DIR/log2" 2>&1 &
	pid=$!
	wait_for "llmfbd without redirect" "$B/llmfbctl" -s "$KR_DIR/control.sock" status
	out=$(krctl --json status | jq -c .redirect)
	expect_match degraded "$out" '"on":false.*"why":"cgroup .*-none: No such file'
	expect_match degraded-said "$(krctl status)" 'redirect   off .*No such file'
	kill "$pid"
	wait "$pid" 2>/dev/null
	grep -h -A30 -E 'Sanitizer|runtime error' "$KR_DIR/log" \
	    >>"$STACK_DIR/sanitizer.log" 2>/dev/null || true
	rmdir "$cg"
	finish "ca: the kernel path: Go net/http (both resolvers, no shim) in a cgroup, redirected by eBPF and served through the ladder; other destinations untouched; CA off: carried untouched; llmfbd away: direct; no cgroup: runs and says why"
}

ca_cases() {
	c_terminated
	c_off
	c_away
	c_untrusted
	c_run
	c_ctl
	c_many
	c_kernel
	if [ -n "${CA_PID:-}" ]; then
		# Its findings (a sanitized llmfbd) join the suite's.
		kill "$CA_PID" 2>/dev/null
		wait "$CA_PID" 2>/dev/null
		grep -h -A30 -E 'Sanitizer|runtime error' "$CA_DIR/log" \
		    >>"$STACK_DIR/sanitizer.log" 2>/dev/null || true
	fi
}
