# The shim as a guest in one process (tests/e2e/guest.c): $B/guest plays
# llmfbd itself, on a socket of its own, and checks what a program sees
# under LD_PRELOAD: name resolution, connect() blocking and not, the TCP
# answers of a redirected fd, dup/close_range/exec/fork, signals, threads,
# the daemon dying or going away, virtual and real TLS.  Sourced by
# run.sh, whose helpers (finish, expect_eq, SHIM_ENV) it uses; it needs no
# llmfbd and no mock.

# The cases guest.c runs: each of its "ok -"/"FAIL -" lines is one case
# here, "guest: NAME".
GUEST_CASES=14

guest_cases() {
	local dir=$STACK_DIR/guest out rc line name n=0 nfail=0 summary=""
	mkdir -p "$dir"
	# The program's own socket, not llmfbd's; the test CA for its real
	# TLS server.  timeout is a last resort: guest.c guards each case.
	out=$(timeout -k 5 120 env "${SHIM_ENV[@]}" \
	    LLMFB_SOCKET="$dir/fake.sock" \
	    "$B/guest" "$dir" "$STACK_DIR/certs" 2>"$dir/err")
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok - "*)
			n=$((n + 1))
			finish "guest: ${line#ok - }"
			;;
		"FAIL - "*)
			n=$((n + 1))
			nfail=$((nfail + 1))
			line=${line#FAIL - }
			name=${line%%: *}
			ERRS="; ${line#*: }"
			finish "guest: $name"
			;;
		"#"*)
			echo "$line"
			;;
		*" passed, "*" failed")
			summary=$line
			;;
		esac
	done <<<"$out"
	# Sanitizer reports from the shim and the program, kept for the end.
	grep -h -A20 -E 'Sanitizer|runtime error' "$dir/err" \
	    >>"$STACK_DIR/sanitizer.log" 2>/dev/null || true
	expect_eq cases-reported "$n" "$GUEST_CASES"
	[ -n "$summary" ] ||
	    ERRS="$ERRS; no summary line; stderr: $(tail -c 400 "$dir/err")"
	expect_eq exit-status "$rc" "$([ "$nfail" -eq 0 ] && echo 0 || echo 1)"
	finish "guest: ran every case to the end"
}
