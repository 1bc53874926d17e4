# The guest rule for programs whose TLS the shim does not virtualise:
# GnuTLS (wget, gnutls-cli) and OpenSSL linked in statically (NodeSource's
# /usr/bin/node).  Their connect() is redirected, but they speak TLS of
# their own: llmfbd carries them to the origin untouched, records them as
# unserved, and with llmfbd away they go out as without the shim.
# Sourced by run.sh.

# The origin: api.llmfb.test is intercepted with no route, and
# upstream.connect_to pins its port 443 to the mock, which answers
# GET /v1/models as the provider "default" with a certificate for it.
REACH_URL=https://api.llmfb.test/v1/models

# away_dir DIR HOST...: llmfbd away, for the shim: DIR holds a hosts file
# that intercepts the HOSTs beside a socket no llmfbd listens on, and a
# copy of /etc/hosts that maps them to the mock, for a mount namespace.
away_dir() {
	local d=$1
	shift
	mkdir -p "$d"
	printf '%s\n' "$@" >"$d/llmfb.sock.hosts"
	{ cat /etc/hosts; echo "127.0.0.1 $*"; } >"$d/hosts"
}

# reach_client KIND URL: one call by an unmodified client of that TLS
# stack, under SHIM_ENV (and, with REACH_HOSTS set, with that file bound
# over /etc/hosts in a mount namespace of its own); prints the body or
# the error.  At most 20 s.
reach_client() {
	local ca=$STACK_DIR/certs/ca.pem
	local PY_WRAP=(timeout 20)
	# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
	[ -z "${REACH_HOSTS:-}" ] || PY_WRAP+=(unshare --mount sh -c \
	    'mount --bind "$0" /etc/hosts && exec "$@"' "$REACH_HOSTS")
	case $1 in
	wget)
		"${PY_WRAP[@]}" env "${SHIM_ENV[@]}" wget -q -O- \
		    --ca-certificate="$ca" "$2" 2>&1 ;;
	gnutls)
		# gnutls-cli sends the request it is given and prints the
		# answer, the mock's certificate checked against the test CA.
		local port
		port=$(sed -n 's|^https://[^/:]*:\([0-9]*\)/.*|\1|p' <<<"$2")
		printf 'GET /v1/models HTTP/1.1\r\nHost: api.llmfb.test\r\nConnection: close\r\n\r\n' |
		    "${PY_WRAP[@]}" env "${SHIM_ENV[@]}" gnutls-cli \
		    --x509cafile="$ca" --port="${port:-443}" api.llmfb.test 2>&1 ;;
	node-fetch)
		"${PY_WRAP[@]}" env "${SHIM_ENV[@]}" NODE_EXTRA_CA_CERTS="$ca" \
		    node -e 'fetch(process.argv[1]).then(r => r.text())
		    .then(t => console.log(t))
		    .catch(e => { console.log("ERR", e.cause || e);
		    process.exit(1); })' "$2" 2>&1 ;;
	node-https)
		"${PY_WRAP[@]}" env "${SHIM_ENV[@]}" NODE_EXTRA_CA_CERTS="$ca" \
		    node -e 'require("https").get(process.argv[1], r => {
		    let b = ""; r.on("data", d => b += d);
		    r.on("end", () => console.log(b)); })
		    .on("error", e => { console.log("ERR", e);
		    process.exit(1); })' "$2" 2>&1 ;;
	esac
}

# sanitized_skip WHAT: under make asan the shim carries the ASan
# runtime, which Node and Go programs cannot take in (Node dies at once,
# Go refuses the link order): their cases skip there, as the curl CLI's
# do, and run in make check.  Returns 0 when the case is to skip.
sanitized_skip() {
	[ -n "${LLMFB_TEST_SANITIZED:-}" ] || return 1
	skip "reach: $1" "sanitized build: the shim's ASan runtime is not loaded into Node or Go programs"
	return 0
}

reach_kinds() {
	local k kinds="wget node-fetch node-https"

	[ -z "${LLMFB_TEST_SANITIZED:-}" ] || kinds=wget
	command -v gnutls-cli >/dev/null && kinds="$kinds gnutls"
	for k in $kinds; do
		if [ "${k%%-*}" = node ] && ! command -v node >/dev/null; then
			continue
		fi
		echo "$k"
	done
}

# llmfbd up: each is carried to the origin and gets the origin's answer.
r_relayed() {
	local k out n0 ev
	n0=$(ctl --json status | jq -r '.unserved["tls-not-virtual"] // 0')
	for k in $(reach_kinds); do
		mock_reset
		out=$(reach_client "$k" "$REACH_URL")
		expect_match "$k-answer" "$out" '"mock":"default"'
		expect_eq "$k-origin-reached" "$(mock_stat default requests)" 1
	done
	wait_for "the relays to end" sh -c "[ \"\$('$B/llmfbctl' -s \
	    '$STACK_DIR/control.sock' --json status | jq .relays)\" = 0 ]"
	expect_eq counted "$(ctl --json status |
	    jq -r '.unserved["tls-not-virtual"] // 0')" \
	    "$((n0 + $(reach_kinds | wc -l)))"
	ev=$(ctl --json events 50 | jq -c 'select(.why == "tls-not-virtual"
	    and (.caller.exe | endswith("/wget")))' | tail -1)
	expect_match event "$ev" '"host":"api.llmfb.test".*"result":"unserved"'
	expect_match event-bytes "$(jq -r '.bytes_down > 0' <<<"$ev")" true
	expect_match metric "$(ctl metrics)" \
	    'llmfb_unserved_total\{why="tls-not-virtual"\} [1-9]'
	expect_match status-line "$(ctl status)" 'unserved .*tls-not-virtual'
	finish "reach: $(reach_kinds | tr '\n' ' ')with their own TLS: carried to the origin untouched, and counted"
}

# Many relays one after another and at once (each ends with both sides'
# events in one batch of the loop, at times): llmfbd carries them all and
# lives on.
r_relay_many() {
	local out
	sanitized_skip "many relays (node)" && return
	if ! command -v node >/dev/null; then
		skip "reach: many relays" "no node"
		return
	fi
	out=$(env "${SHIM_ENV[@]}" NODE_EXTRA_CA_CERTS="$STACK_DIR/certs/ca.pem" \
	    timeout 60 node bench/relay.js "$REACH_URL" 200 60 2>&1)
	expect_match node "$out" '^keepalive_p50_us=[0-9]+ .*fresh_p99_us=[0-9]+$'
	expect_eq llmfbd-alive "$(kill -0 "$DAEMON_PID" 2>/dev/null && echo yes)" yes
	wait_for "the relays to end" sh -c "[ \"\$('$B/llmfbctl' -s \
	    '$STACK_DIR/control.sock' --json status | jq .relays)\" = 0 ]"
	expect_eq relays-ended "$(ctl --json status | jq .relays)" 0
	finish "reach: 200 requests on a relayed connection and 60 relayed connections one after another: all answered, llmfbd lives on"
}

# llmfbd away: the same programs go out as without the shim.
r_away() {
	local k out hostsdir=$STACK_DIR/reach-away
	local url="https://api.llmfb.test:$MOCK_PORT/v1/models"
	if [ "$(id -u)" != 0 ]; then
		skip "reach: daemon away" "needs root for a private /etc/hosts"
		return
	fi
	away_dir "$hostsdir" api.llmfb.test
	for k in $(reach_kinds); do
		mock_reset
		shim_on "$hostsdir/llmfb.sock"
		out=$(REACH_HOSTS=$hostsdir/hosts reach_client "$k" "$url")
		shim_on
		expect_match "$k-answer" "$out" '"mock":"default"'
		expect_eq "$k-direct" "$(mock_stat default requests)" 1
	done
	finish "reach: the same programs with llmfbd away go out as without the shim"
}

# Only an intercepted host's HTTPS port is carried: llmfbd is no relay
# for whoever writes a preamble naming another.
r_relay_only_ours() {
	local raw=tests/e2e/rawsock.py
	mock_reset
	expect_eq intercepted "$(/usr/bin/python3 "$raw" tls \
	    "$STACK_DIR/llmfb.sock" api.llmfb.test:443)" tls
	expect_eq not-intercepted "$(/usr/bin/python3 "$raw" tls \
	    "$STACK_DIR/llmfb.sock" example.com:443)" HTTP/1.1_400_Bad_Request
	expect_eq other-port "$(/usr/bin/python3 "$raw" tls \
	    "$STACK_DIR/llmfb.sock" api.llmfb.test:22)" HTTP/1.1_400_Bad_Request
	finish "reach: only an intercepted host's port 443 is carried; any other preamble gets a 400"
}

# Go makes its connects with its own system calls: with the cgo resolver
# (libc's getaddrinfo, which the shim sees) it must not get a synthetic
# address it would connect to past the shim, into nowhere.  Untouched and
# answered, with either resolver, llmfbd up or away.
r_go() {
	local dns sock out t0 hostsdir=$STACK_DIR/reach-go
	local url="https://api.llmfb.test:$MOCK_PORT/v1/models"
	sanitized_skip "Go net/http" && return
	if [ ! -x "$B/goclient" ]; then
		skip "reach: Go net/http" "no Go compiler: apt-get install golang-go"
		return
	fi
	if [ "$(id -u)" != 0 ]; then
		skip "reach: Go net/http" "needs root for a private /etc/hosts"
		return
	fi
	away_dir "$hostsdir" api.llmfb.test
	for sock in "$STACK_DIR/llmfb.sock" "$hostsdir/llmfb.sock"; do
		for dns in go cgo; do
			mock_reset
			t0=$(ms_now)
			# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
			shim_on "$sock"
			out=$(unshare --mount sh -c \
			    'mount --bind "$0" /etc/hosts && exec "$@"' \
			    "$hostsdir/hosts" env "${SHIM_ENV[@]}" \
			    GODEBUG=netdns=$dns \
			    SSL_CERT_FILE="$STACK_DIR/certs/ca.pem" \
			    "$B/goclient" "$url" 2>&1)
			shim_on
			expect_match "${sock##*/}-$dns" "$out" \
			    'code=200 body=.*"mock":"default"'
			expect_lt "${sock##*/}-$dns-ms" "$(($(ms_now) - t0))" 10000
		done
		# the second round: llmfbd away (no socket in that directory)
	done
	finish "reach: Go net/http (both resolvers), llmfbd up and away: untouched, answered, no hang"
}

# Ruby's net/http reads the session's cipher on every connect: served
# through the ladder, whole and streamed; with llmfbd away, direct.
r_ruby() {
	local out hostsdir=$STACK_DIR/reach-rb
	if ! command -v ruby >/dev/null; then
		skip "reach: Ruby net/http" "no ruby: apt-get install ruby"
		return
	fi
	mock_reset
	mock_script primary 'status=503' 'status=503'
	out=$(env "${SHIM_ENV[@]}" SSL_CERT_FILE="$STACK_DIR/certs/ca.pem" \
	    timeout 20 ruby tests/e2e/rbclient.rb "$OAI" "$CHAT" 2>&1)
	expect_match whole "$out" 'code=200 target=secondary .*Hello from secondary'
	out=$(env "${SHIM_ENV[@]}" SSL_CERT_FILE="$STACK_DIR/certs/ca.pem" \
	    timeout 20 ruby tests/e2e/rbclient.rb "$OAI" "$STREAM" stream 2>&1)
	expect_match streamed "$out" 'code=200 target=secondary .*data: \[DONE\]'
	if [ "$(id -u)" = 0 ]; then
		away_dir "$hostsdir" api.openai.com
		mock_reset
		# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
		shim_on "$hostsdir/llmfb.sock"
		out=$(unshare --mount sh -c \
		    'mount --bind "$0" /etc/hosts && exec "$@"' \
		    "$hostsdir/hosts" env "${SHIM_ENV[@]}" \
		    SSL_CERT_FILE="$STACK_DIR/certs/ca.pem" timeout 20 ruby \
		    tests/e2e/rbclient.rb \
		    "https://api.openai.com:$MOCK_PORT/v1/chat/completions" \
		    "$CHAT" 2>&1)
		shim_on
		expect_match away "$out" 'code=200 target=- .*Hello from default'
	fi
	finish "reach: Ruby net/http: served through the ladder (whole, streamed); direct with llmfbd away"
}

# node18 ARGS...: Debian's Node 18 (tests/node18.sh), its JavaScript
# dependencies at the paths libnode was built to find them (bound over
# /usr/share/nodejs in a mount namespace of its own; the empty mount
# point is made if the machine has none), under SHIM_ENV, 15 s at most.
node18() {
	# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
	env "${SHIM_ENV[@]}" REACH_HOSTS="${REACH_HOSTS:-}" timeout 15 \
	    unshare --mount sh -c \
	    'mount --bind "$0/usr/share/nodejs" /usr/share/nodejs &&
	    { [ -z "$REACH_HOSTS" ] || mount --bind "$REACH_HOSTS" /etc/hosts; } &&
	    LD_LIBRARY_PATH="$0/usr/lib/x86_64-linux-gnu" exec "$0/usr/bin/node" "$@"' \
	    "$N18" "$@"
}

# Debian's Node 18 uses the system's libssl, so its sessions are virtual:
# served through the ladder with fetch() and https, whole and streamed,
# and the process ends by itself (its handshake must be told done through
# the info callback, and the peer's chain must name the host).
r_node18() {
	local m s out rc
	N18=""
	sanitized_skip "Debian Node 18" && return
	if [ "$(id -u)" != 0 ]; then
		skip "reach: Debian Node 18" "needs root for a mount namespace"
		return
	fi
	if ! N18=$(tests/node18.sh 2>"$STACK_DIR/node18.err"); then
		N18=""
		skip "reach: Debian Node 18" "$(cat "$STACK_DIR/node18.err")"
		return
	fi
	mkdir -p /usr/share/nodejs
	for m in fetch https; do
		for s in whole stream; do
			mock_reset
			mock_script primary 'status=503'
			out=$(node18 tests/e2e/nodeclient.js "$m" "$OAI" \
			    "$([ $s = stream ] && echo "$STREAM" || echo "$CHAT")" \
			    "$([ $s = stream ] && echo stream)" 2>&1)
			rc=$?
			expect_eq "$m-$s-exit" "$rc" 0
			if [ $s = stream ]; then
				expect_match "$m-$s" "$out" \
				    'code=200 target=secondary .*data: \[DONE\]'
			else
				expect_match "$m-$s" "$out" \
				    'code=200 target=secondary .*Hello from secondary'
			fi
		done
	done
	# llmfbd away: straight to the provider, as without the shim.
	away_dir "$STACK_DIR/reach-n18" api.openai.com
	mock_reset
	shim_on "$STACK_DIR/reach-n18/llmfb.sock"
	out=$(REACH_HOSTS=$STACK_DIR/reach-n18/hosts \
	    NODE_EXTRA_CA_CERTS="$STACK_DIR/certs/ca.pem" node18 \
	    tests/e2e/nodeclient.js fetch \
	    "https://api.openai.com:$MOCK_PORT/v1/chat/completions" "$CHAT" 2>&1)
	shim_on
	expect_match away "$out" 'code=200 target=- .*Hello from default'
	finish "reach: Debian Node 18 (system libssl): fetch and https, whole and streamed, served through the ladder; exits by itself; direct with llmfbd away"
}

# The official SDKs from npm (tests/npm.sh, pinned), unmodified, on
# Debian's Node 18, with their default base URLs: the primary fails, a
# backup of the same dialect answers, whole and streamed.
r_sdks() {
	local sdk how out mods want
	if [ -z "${N18:-}" ]; then
		skip "reach: the official SDKs" "no Debian Node 18, see above"
		return
	fi
	if ! mods=$(tests/npm.sh 2>"$STACK_DIR/npm.err"); then
		skip "reach: the official SDKs" "$(cat "$STACK_DIR/npm.err")"
		return
	fi
	for sdk in openai anthropic; do
		want=secondary
		[ $sdk = anthropic ] && want=asecondary
		for how in whole stream; do
			mock_reset
			mock_script primary 'status=503'
			mock_script aprimary 'status=529'
			out=$(NODE_PATH=$mods node18 tests/e2e/sdkclient.js \
			    $sdk $how 2>&1)
			expect_match "$sdk-$how" "$out" \
			    "^text=Hello from $want events=[1-9]"
		done
	done
	# Embeddings through the SDK: the first rung fails, the third
	# (the second is of other dimensions) answers, in base64 as the
	# SDK asks and decodes.
	mock_reset
	mock_script la 'status=503'
	out=$(NODE_PATH=$mods node18 tests/e2e/sdkclient.js openai embeddings \
	    2>&1)
	expect_match openai-embeddings "$out" "^text=dims:8 first:2 events=1"
	# The Responses API through the SDK, served by a chat-completions
	# target after the first rung fails.
	for how in responses responses-stream; do
		mock_reset
		mock_script la 'status=503'
		out=$(NODE_PATH=$mods node18 tests/e2e/sdkclient.js openai $how \
		    2>&1)
		expect_match "openai-$how" "$out" "^text=Hello from lb events=[1-9]"
	done
	# A Responses stream that breaks: continued, the SDK's own
	# Response (put together from the events) is the whole text; or
	# ended with Responses' error event, which the SDK hands over.
	mock_reset
	mock_script la 'chunks=4 stream_error=2 text=one+two+three+four'
	mock_script lb 'text=three+four'
	out=$(NODE_PATH=$mods node18 tests/e2e/sdkclient.js openai \
	    responses-final case-rcut 2>&1)
	expect_match openai-responses-continued "$out" \
	    "^text=one two three four events=[1-9][0-9]*\$"
	mock_reset
	mock_script la 'chunks=3 stream_error=1 text=one+two+three'
	out=$(NODE_PATH=$mods node18 tests/e2e/sdkclient.js openai \
	    responses-errors case-rerr 2>&1)
	expect_match openai-responses-error "$out" \
	    "^text=one  events=[1-9][0-9]* error=llmfb_stream_interrupted\$"
	# The legacy Completions API through the SDK, served by a chat
	# target after its own provider fails.
	mock_reset
	mock_script lk 'status=503'
	out=$(NODE_PATH=$mods node18 tests/e2e/sdkclient.js openai completions \
	    2>&1)
	expect_match openai-completions "$out" \
	    "^text=text_completion:Hello from lb events=1"
	mock_reset
	mock_script lk 'status=503'
	out=$(NODE_PATH=$mods node18 tests/e2e/sdkclient.js openai \
	    completions-stream 2>&1)
	expect_match openai-completions-stream "$out" \
	    "^text=Hello from lb events=[2-9]"
	# llmfbd away: each SDK, pointed at the mock's port by its own
	# variable (its base URL's host unchanged), goes out as without the
	# shim.
	away_dir "$STACK_DIR/reach-sdk" api.openai.com api.anthropic.com
	shim_on "$STACK_DIR/reach-sdk/llmfb.sock"
	for sdk in openai anthropic; do
		mock_reset
		out=$(REACH_HOSTS=$STACK_DIR/reach-sdk/hosts NODE_PATH=$mods \
		    NODE_EXTRA_CA_CERTS="$STACK_DIR/certs/ca.pem" \
		    OPENAI_BASE_URL="https://api.openai.com:$MOCK_PORT/v1" \
		    ANTHROPIC_BASE_URL="https://api.anthropic.com:$MOCK_PORT" \
		    node18 tests/e2e/sdkclient.js $sdk whole 2>&1)
		expect_match "$sdk-away" "$out" "^text=Hello from default"
	done
	shim_on
	finish "reach: the official openai and @anthropic-ai/sdk on Debian Node 18: a failing primary, served by the backup, whole and streamed; openai's embeddings, Responses and legacy completions (whole, streamed) down the ladder; a broken Responses stream continued or ended with its error event; direct with llmfbd away"
}

# cc_daemon BACKUP: an llmfbd of its own for api.anthropic.com whose
# primary is the mock's ccprimary and whose second rung is BACKUP (an
# Anthropic-dialect ccback, or ccdeep, a DeepSeek-like OpenAI-dialect
# target).  Sets CC_DIR and CC_PID.
cc_daemon() {
	CC_DIR=$STACK_DIR/cc-$1
	mkdir -p "$CC_DIR"
	cat >"$CC_DIR/llmfb.yaml" <<-EOF
	listen: $CC_DIR/llmfb.sock
	control: $CC_DIR/control.sock
	intercept: [api.anthropic.com]
	ebpf: off
	network_watch: false
	upstream: { ca_file: $STACK_DIR/certs/ca.pem }
	providers:
	  ap: { dialect: anthropic, base_url: "https://127.0.0.1:$MOCK_PORT/ccprimary/v1", origin: api.anthropic.com }
	  ab: { dialect: anthropic, base_url: "https://127.0.0.1:$MOCK_PORT/ccback/v1", api_key_env: LLMFB_TEST_ABACKUP_KEY }
	  od: { dialect: openai, base_url: "https://127.0.0.1:$MOCK_PORT/ccdeep/v1", api_key_env: LLMFB_TEST_BACKUP_KEY }
	targets:
	  ccprimary: { provider: ap }
	  ccback: { provider: ab }
	  ccdeep: { provider: od, model: deepseek-chat }
	routes:
	  - { name: claude, match: { host: api.anthropic.com }, ladder: [ccprimary, $1] }
	EOF
	"$B/llmfbd" -c "$CC_DIR/llmfb.yaml" >"$CC_DIR/log" 2>&1 &
	CC_PID=$!
	wait_for "llmfbd for Claude Code" "$B/llmfbctl" -s "$CC_DIR/control.sock" status
}

# Claude Code, unmodified (its cli.js, run by Debian's Node 18), `claude
# -p` with its default base URL and a dummy key: the Anthropic primary
# answers 529, and the call is answered by an Anthropic backup, then in a
# second run by an OpenAI-dialect one through translation (which must
# take its context_management, output_config and thinking).
r_claude_code() {
	local backup out mods h
	if [ -z "${N18:-}" ] || ! mods=$(tests/npm.sh 2>/dev/null); then
		skip "reach: Claude Code" "no Debian Node 18 or npm packages, see above"
		return
	fi
	for backup in ccback ccdeep; do
		cc_daemon "$backup"
		h=$CC_DIR/home
		mkdir -p "$h"
		mock_reset
		mock_script ccprimary 'status=529'
		shim_on "$CC_DIR/llmfb.sock"
		out=$(HOME=$h ANTHROPIC_API_KEY=sk-ant-dummy-caller \
		    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
		    node18 "$mods/@anthropic-ai/claude-code/cli.js" -p \
		    "say hi" 2>&1)
		shim_on
		expect_match "$backup-answer" "$out" "Hello from $backup"
		expect_eq "$backup-primary-tried" \
		    "$(mock_stat ccprimary requests)" 1
		expect_ge "$backup-backup-served" \
		    "$(mock_stat "$backup" requests)" 1
		[ "$backup" = ccdeep ] && expect_eq deepseek-model \
		    "$(mock_str ccdeep last_model)" deepseek-chat
		kill "$CC_PID"
		wait "$CC_PID" 2>/dev/null
	done
	# llmfbd away: pointed at the mock's port by ANTHROPIC_BASE_URL (its
	# host unchanged), it goes out as without the shim.
	away_dir "$STACK_DIR/reach-cc" api.anthropic.com
	mkdir -p "$STACK_DIR/reach-cc/home"
	mock_reset
	shim_on "$STACK_DIR/reach-cc/llmfb.sock"
	out=$(REACH_HOSTS=$STACK_DIR/reach-cc/hosts \
	    HOME=$STACK_DIR/reach-cc/home ANTHROPIC_API_KEY=sk-ant-dummy-caller \
	    ANTHROPIC_BASE_URL="https://api.anthropic.com:$MOCK_PORT" \
	    NODE_EXTRA_CA_CERTS="$STACK_DIR/certs/ca.pem" \
	    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
	    node18 "$mods/@anthropic-ai/claude-code/cli.js" -p "say hi" 2>&1)
	shim_on
	expect_match away "$out" "Hello from default"
	finish "reach: Claude Code 2.1.112 unmodified: a 529 primary, answered by an Anthropic backup and by an OpenAI-dialect one through translation; direct with llmfbd away"
}

# Programs that are no LLM clients, with llmfbd up: each prints and
# exits exactly as without the shim.  (A local HTTPS server is the mock
# itself, by its address, through each TLS stack.)
r_guests() {
	local name a b i py=$STACK_DIR/reach-get.py js=$STACK_DIR/reach-get.js
	cat >"$py" <<-EOF
	import ssl, sys, urllib.request
	ctx = ssl.create_default_context(cafile="$STACK_DIR/certs/ca.pem")
	print(urllib.request.urlopen(sys.argv[1], context=ctx).read().decode())
	EOF
	echo 'fetch(process.argv[2]).then(r => r.text()).then(console.log)' >"$js"
	local -a cmds=(
	    "git ls-remote $STACK_DIR/reach-repo.git"
	    "apt-get -s -o Debug::NoLocking=1 install --no-install-recommends bash"
	    "wget -q -O- --ca-certificate=$STACK_DIR/certs/ca.pem $MOCK_URL/v1/models"
	    "curl -sS --cacert $STACK_DIR/certs/ca.pem $MOCK_URL/v1/models"
	    "/usr/bin/python3 $py $MOCK_URL/v1/models"
	    "node $js $MOCK_URL/v1/models"
	)
	command -v ssh >/dev/null && cmds+=("ssh -V")
	# Under make asan, no Node (see sanitized_skip), nor the curl CLI
	# (it hangs with the ASan runtime preloaded).
	[ -z "${LLMFB_TEST_SANITIZED:-}" ] || unset 'cmds[3]' 'cmds[5]'
	git init -q --bare "$STACK_DIR/reach-repo.git" 2>/dev/null
	for i in "${!cmds[@]}"; do
		name=${cmds[$i]%% *}
		a=$(NODE_EXTRA_CA_CERTS="$STACK_DIR/certs/ca.pem" \
		    bash -c "${cmds[$i]}" 2>&1; echo "rc=$?")
		b=$(env "${SHIM_ENV[@]}" \
		    NODE_EXTRA_CA_CERTS="$STACK_DIR/certs/ca.pem" \
		    bash -c "${cmds[$i]}" 2>&1; echo "rc=$?")
		expect_eq "${name##*/}-same" "$b" "$a"
		expect_match "${name##*/}-ran" "$a" 'rc=0$'
	done
	finish "reach: git, apt-get -s, ssh -V and HTTPS to a host that is not intercepted (curl, wget, python, node): the same with the shim as without"
}

# PHP loads its curl extension with RTLD_DEEPBIND, which hid libcurl from
# the shim: served now, like PHP's own https streams and Perl's
# HTTP::Tiny (both on the system's OpenSSL); each direct with llmfbd
# away.
r_php_perl() {
	local how out hostsdir=$STACK_DIR/reach-php
	local away=https://api.openai.com:$MOCK_PORT/v1/chat/completions
	local ca=$STACK_DIR/certs/ca.pem
	local -a clients=()
	command -v php >/dev/null && clients+=(php-curl php-stream)
	command -v perl >/dev/null && perl -MIO::Socket::SSL -e 1 2>/dev/null &&
	    clients+=(perl)
	if [ ${#clients[@]} -eq 0 ] || [ "$(id -u)" != 0 ]; then
		skip "reach: PHP and Perl" "need php-cli, php-curl, libio-socket-ssl-perl and root"
		return
	fi
	away_dir "$hostsdir" api.openai.com
	for how in "${clients[@]}"; do
		local -a cmd=(php tests/e2e/phpclient.php "${how#php-}")
		[ "$how" = perl ] && cmd=(perl tests/e2e/plclient.pl)
		mock_reset
		mock_script primary 'status=503'
		out=$(env "${SHIM_ENV[@]}" timeout 20 "${cmd[@]}" "$OAI" "$CHAT" \
		    "$ca" 2>&1)
		expect_match "$how-served" "$out" \
		    'code=200 target=secondary .*Hello from secondary'
		mock_reset
		shim_on "$hostsdir/llmfb.sock"
		# shellcheck disable=SC2016 # $0 and $@ are the inner sh's
		out=$(unshare --mount sh -c \
		    'mount --bind "$0" /etc/hosts && exec "$@"' "$hostsdir/hosts" \
		    env "${SHIM_ENV[@]}" timeout 20 "${cmd[@]}" "$away" "$CHAT" \
		    "$ca" 2>&1)
		shim_on
		expect_match "$how-away" "$out" 'code=200 target=- .*Hello from default'
	done
	finish "reach: PHP's curl extension (loaded RTLD_DEEPBIND), PHP https streams and Perl HTTP::Tiny: served through the ladder; direct with llmfbd away"
}

reach_cases() {
	r_relayed
	r_relay_many
	r_away
	r_relay_only_ours
	r_go
	r_ruby
	r_php_perl
	r_node18
	r_sdks
	r_claude_code
	r_guests
}
