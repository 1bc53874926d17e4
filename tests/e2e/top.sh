# llmfbctl top in a real terminal: tmux runs it in a pane of a server of
# its own (a private socket, no user config), the test reads the screen
# with capture-pane and types with send-keys.  Each pane runs
# top-pane.sh, which notes the terminal's modes before and after top and
# top's exit status.  Sourced by run.sh (its helpers: call, lreq, LK,
# mock_script, expect_*, finish, wait_for).

TOP_TMUX=(tmux -f /dev/null -L "llmfbtest-$$")

ttmux() { "${TOP_TMUX[@]}" "$@"; }

top_screen() { ttmux capture-pane -p -t "$1" 2>/dev/null; }

# top_shows SESSION REGEX: a line on the screen matches.
top_shows() { top_screen "$1" | grep -qE -- "$2"; }

top_gone() { ! ttmux has-session -t "$1" 2>/dev/null; }

# top_wait WHAT SESSION REGEX: until the screen shows it; else an error
# that says what the screen showed.
top_wait() {
	wait_for "$1" top_shows "$2" "$3" && return 0
	ERRS="$ERRS; $1: no line matches /$3/; screen: $(top_screen "$2" |
	    grep -v '^$' | head -12 | tr '\n' '|')"
	return 1
}

# top_start SESSION SOCKET INTERVAL [then...]: llmfbctl top in a 160x48
# pane (TOP_SIZE=COLSxROWS for another); what the pane runs after it
# ("then") keeps it open.
top_start() {
	local name=$1 sock=$2 interval=$3 size=${TOP_SIZE:-160x48}
	shift 3
	ttmux new-session -d -x "${size%x*}" -y "${size#*x}" -s "$name" \
	    "bash '$STACK_DIR/top-pane.sh' '$B' '$sock' $interval '$STACK_DIR/$name' $*" \; \
	    set-option -g remain-on-exit off
}

# top_ended WHAT SESSION: top's exit status 0, the terminal's modes as
# they were before it, and what it said on stderr kept for the
# sanitizer check.
top_ended() {
	local out=$STACK_DIR/$2
	wait_for "$1" test -s "$out.rc" ||
	    ERRS="$ERRS; $1: top did not end"
	expect_eq "$1: exit status" "$(cat "$out.rc" 2>/dev/null)" rc=0
	expect_eq "$1: terminal modes restored" \
	    "$(cat "$out.stty1" 2>/dev/null)" "$(cat "$out.stty0")"
	expect_match "$1: canonical, echoing" "$(cat "$out.stty1" 2>/dev/null)" \
	    '(^|[[:space:]])icanon[[:space:]].*(^|[[:space:]])echo[[:space:]]'
	expect_eq "$1: nothing on stderr" "$(head -c 300 "$out.err")" ""
	grep -h -A20 -E 'Sanitizer|runtime error' "$out.err" \
	    >>"$STACK_DIR/sanitizer.log" 2>/dev/null || true
}

classes_calls() {
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq -r '.routes[] | select(.name == "classes") | .calls'
}

fallback_call() {
	mock_reset
	mock_script la 'status=529'
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq "$1: the call fell back" "$TARGET" lb
}

TOP_HEADER='^llmfbd [0-9.]+ +up [0-9]'
# What happened and why first (the reasons), then time, program and the
# attempts.
TOP_FALLBACK='^[0-9]{2}:[0-9]{2}:[0-9]{2} classes +fallback +served=lb +la=[^ ]+ [0-9]+ms [^ ]+ attempts=la:[a-z0-9-]+(\([^)]*\))? > lb:ok$'

# q: the live view, a daemon that comes back, a fallback as it happens,
# the counts, and quitting.
top_q() {
	local link=$STACK_DIR/ctl-link.sock n
	rm -f "$link"
	top_start top "$link" 0.5
	top_wait "unreachable" top '^llmfbd unreachable: .*ctl-link\.sock: No such file'
	expect_eq "alternate screen, cursor hidden" \
	    "$(ttmux display-message -p -t top '#{alternate_on} #{cursor_flag}' 2>&1)" \
	    "1 0"
	expect_eq "still running" "$(top_gone top && echo gone)" ""
	ln -s "$STACK_DIR/control.sock" "$link"
	top_wait "reconnected" top "$TOP_HEADER"
	top_wait "routes" top '^BUSIEST ROUTES +CALLS/S +CALLS +FALLBACKS'
	top_wait "a route row" top '^[a-z][-a-z0-9]* +[-0-9.]+ +[0-9]+ +[0-9]+ '
	# 160 columns: the provider too.
	top_wait "targets" top '^TARGETS +PROVIDER +BREAKER'
	top_wait "following" top '^RECENT FALLBACKS AND FAILURES \(newest first\)$'
	n=$(classes_calls)
	fallback_call q
	top_wait "the fallback" top "$TOP_FALLBACK"
	top_wait "the route's calls" top "^classes +[0-9.]+ +$((n + 1)) +[0-9]+ "
	top_wait "a program row" top '^BUSIEST PROGRAMS'
	ttmux send-keys -t top q
	top_ended q top
	wait_for "the pane to close" top_gone top ||
	    ERRS="$ERRS; the session outlived top"
	finish "top: live view in a terminal; reconnects; shows a fallback as it happens; q quits and restores the terminal"
}

# Ctrl-C, with an interval long enough that only the record can have
# drawn the fallback, and only the key the new count.
top_ctrl_c() {
	local n total
	top_start slow "$STACK_DIR/control.sock" 60 sleep 60
	top_wait "first screen" slow "$TOP_HEADER"
	top_wait "following" slow '^RECENT FALLBACKS AND FAILURES \(newest first\)$'
	n=$(classes_calls)
	total=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" --json status |
	    jq .calls)
	top_wait "the first count" slow " calls $total \("
	fallback_call ctrl-c
	top_wait "the fallback at once" slow "$TOP_FALLBACK"
	# The header's count, not the route's row: after a whole suite's
	# calls the route may not be among the busiest rows shown yet.
	expect_eq "no refresh yet" "$(top_shows slow " calls $total \(" &&
	    echo same)" same
	ttmux send-keys -t slow Space
	top_wait "a key refreshes the count" slow " calls $((total + 1)) \("
	top_wait "a key refreshes" slow "^classes +[^ ]+ +$((n + 1)) +[0-9]+ "
	ttmux send-keys -t slow C-c
	top_ended ctrl-c slow
	expect_eq "main screen, cursor shown" \
	    "$(ttmux display-message -p -t slow '#{alternate_on} #{cursor_flag}' 2>&1)" \
	    "0 1"
	expect_eq "the view is gone" "$(top_shows slow 'BUSIEST|RECENT' &&
	    echo there)" ""
	finish "top: Ctrl-C quits with 0 and restores the terminal; a record redraws at once"
}

# Not a terminal: one snapshot as text; bad usage.
top_snapshot() {
	local out rc
	out=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" top -i 0.5 |
	    cat; echo "rc=${PIPESTATUS[0]}")
	expect_match snapshot "$out" $'\nBUSIEST ROUTES +CALLS/S'
	expect_match "snapshot's fallbacks" "$out" \
	    $'\n[0-9:]{8} classes +fallback +served=lb +la='
	expect_match "snapshot's status" "$out" $'\nrc=0$'
	expect_eq "no escapes" "$(grep -c $'\e' <<<"$out")" 0
	out=$("$B/llmfbctl" -s "$STACK_DIR/control.sock" top -i 0.1 2>&1)
	rc=$?
	expect_eq "-i 0.1" "$rc" 2
	expect_match "-i 0.1 says" "$out" '^usage: llmfbctl .*top \[-i SECONDS\]'
	out=$("$B/llmfbctl" -s "$STACK_DIR/none.sock" top 2>&1 | cat)
	expect_match unreachable "$out" 'llmfbd unreachable: .*none\.sock'
	finish "top: a snapshot when stdout is no terminal; bad usage exits 2"
}

# 80x24: a fallback's line shows its reason before it is cut; a rung
# passed over with its breaker open is shown with why; colour, as the
# terminal (tmux's) has it: fallbacks yellow, an open breaker red.
top_narrow() {
	local line
	TOP_SIZE=80x24 top_start narrow "$STACK_DIR/control.sock" 0.5 sleep 60
	top_wait "first screen" narrow "$TOP_HEADER"
	top_wait "routes at 80" narrow '^BUSIEST ROUTES {12}CALLS/S'
	fallback_call narrow
	top_wait "the reason at 80 columns" narrow \
	    '^[0-9:]{8} classes +fallback +served=lb +la=[a-z0-9-]+ '
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" trip la >/dev/null
	mock_reset
	call "$LK" "$OAI" "$(lreq case-class)"
	expect_eq "narrow: skipped la" "$TARGET" lb
	top_wait "the breaker-open skip" narrow \
	    '^[0-9:]{8} classes +fallback +served=lb +la=breaker-open [0-9]+ms'
	line=$(ttmux capture-pane -e -p -t narrow | grep -m1 'la=breaker-open')
	expect_match "narrow: fallback in yellow" "$line" $'^\e\\[33m[0-9:]{8} classes'
	top_wait "la open" narrow '^la +open '
	expect_match "narrow: open breaker in red" \
	    "$(ttmux capture-pane -e -p -t narrow | grep -m1 '^.*la  *open ')" \
	    $'\e\\[(1;)?31mla +open'
	"$B/llmfbctl" -s "$STACK_DIR/control.sock" reset la >/dev/null
	ttmux send-keys -t narrow q
	top_ended narrow narrow
	finish "top: at 80 columns each fallback shows its reason first, breaker-open skips included; colours for fallbacks and open breakers"
}

# 200 columns: the width is used (longer names, the provider column).
top_wide() {
	TOP_SIZE=200x50 top_start wide "$STACK_DIR/control.sock" 0.5 sleep 60
	top_wait "first screen" wide "$TOP_HEADER"
	top_wait "wide route names" wide '^BUSIEST ROUTES {40,}CALLS/S'
	top_wait "the provider column" wide '^TARGETS +PROVIDER +BREAKER'
	top_wait "a provider" wide '^la +lp-a +closed'
	ttmux send-keys -t wide q
	top_ended wide wide
	finish "top: a wide terminal is used: wider name columns and each target's provider"
}

top_cases() {
	local c
	if ! command -v tmux >/dev/null; then
		for c in top_q top_ctrl_c top_snapshot top_narrow top_wide; do
			skip "$c" "no tmux"
		done
		return
	fi
	cat >"$STACK_DIR/top-pane.sh" <<'EOF'
# top-pane.sh B SOCKET INTERVAL OUT [then...]
b=$1 sock=$2 interval=$3 out=$4
shift 4
stty -a >"$out.stty0"
"$b/llmfbctl" -s "$sock" top -i "$interval" 2>"$out.err"
rc=$?
stty -a >"$out.stty1"
echo "rc=$rc" >"$out.rc"
"$@"
EOF
	ttmux kill-server 2>/dev/null
	trap 'ttmux kill-server 2>/dev/null; stack_stop' EXIT
	top_q
	top_ctrl_c
	top_snapshot
	top_narrow
	top_wide
	ttmux kill-server 2>/dev/null
	trap stack_stop EXIT
}
