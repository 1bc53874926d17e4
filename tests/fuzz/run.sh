#!/bin/bash
# tests/fuzz/run.sh: what tests/fuzz/fuzz.mk runs (docs/fuzzing.md).
#
#   run.sh replay BIN...        each replay binary ($B/tests/fuzz_T) over
#                               tests/fuzz/corpus/T and tests/fuzz/regress/T
#   run.sh fuzz T...            $B/fuzz/fuzz_T for FUZZ_SECONDS each
#   run.sh merge T...           new finds into tests/fuzz/corpus/T
#                               (FUZZ_MINIMISE=1: all of it minimised)
#   run.sh cov T:MOD,MOD...     line coverage of the modules, by the corpus
#                               and the regression inputs
#
# One target at a time: a fuzzer takes one core, and the machine is
# shared.  Exit status: 0, or 1 when a target crashed or failed.
set -u
cd "$(dirname "$0")/../.." || exit 1

B=${B:-build}
FUZZ_DIR=$B/fuzz
CORPUS=tests/fuzz/corpus
REGRESS=tests/fuzz/regress
# A sanitizer's report, even one that let the program go on.
REPORT='runtime error:|ERROR: [A-Za-z]*Sanitizer|WARNING: [A-Za-z]*Sanitizer'

count() {
	find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l
}

# The head of the report (what, where, freed where), or the log's end.
show_report() {
	if grep -Eq "$REPORT|^fuzz: " "$1"; then
		grep -v '^replay: ' "$1" | grep -E -m 1 -A 24 "$REPORT|^fuzz: "
	else
		grep -v '^replay: ' "$1" | tail -n 20
	fi | sed 's/^/    /'
}

replay() {
	local bin t log out st rc=0 last

	for bin in "$@"; do
		t=${bin##*/fuzz_}
		log=$bin.log
		out=$("$bin" "$CORPUS/$t" "$REGRESS/$t" 2>"$log" </dev/null)
		st=$?
		if [ $st -eq 0 ] && ! grep -Eq "$REPORT" "$log"; then
			echo "ok - fuzz replay: $t: $out"
			continue
		fi
		last=$(sed -n 's/^replay: \(.*\/.*\)$/\1/p' "$log" | tail -n 1)
		echo "FAIL - fuzz replay: $t: exit $st at ${last:-?} ($log)"
		show_report "$log"
		rc=1
	done
	return $rc
}

# From -print_final_stats; after a crash there are none, and the last
# status line ("#1234 NEW cov: ...") has the runs.
stat_of() {
	sed -n "s/^stat::$2: *//p" "$1" | tail -n 1
}

execs_of() {
	local n

	n=$(stat_of "$1" number_of_executed_units)
	[ -n "$n" ] || n=$(grep -Eo '^#[0-9]+' "$1" | tail -n 1 | tr -d '#')
	echo "$n"
}

fuzz() {
	local t bin new art log before after crashes0 crashes st rc=0
	local execs eps secs failed=""

	printf '%-15s %12s %9s %20s %8s\n' target execs execs/s \
	    "new finds (total)" crashes
	for t in "$@"; do
		bin=$FUZZ_DIR/fuzz_$t
		new=$FUZZ_DIR/corpus-new/$t
		art=$FUZZ_DIR/crashes/$t
		log=$FUZZ_DIR/logs/$t.log
		mkdir -p "$new" "$art" "$FUZZ_DIR/logs"
		before=$(count "$new")
		crashes0=$(count "$art")
		secs=$SECONDS
		# New finds go to the first directory; the tracked corpus
		# is only read.  stdin from /dev/null: the config target
		# may name it as a key file.
		"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
		    -rss_limit_mb=2048 -artifact_prefix="$art/" \
		    -print_final_stats=1 ${FUZZ_ARGS:-} \
		    "$new" "$CORPUS/$t" </dev/null >"$log" 2>&1
		st=$?
		secs=$((SECONDS - secs))
		after=$(count "$new")
		crashes=$(( $(count "$art") - crashes0 ))
		execs=$(execs_of "$log")
		eps=$(stat_of "$log" average_exec_per_sec)
		[ -n "$eps" ] || eps=$(( ${execs:-0} / (secs > 0 ? secs : 1) ))
		printf '%-15s %12s %9s %20s %8s\n' "$t" "${execs:-?}" "$eps" \
		    "+$((after - before)) ($after)" "$crashes"
		if [ $st -ne 0 ] || [ "$crashes" -gt 0 ]; then
			failed="$failed $t"
			rc=1
		fi
	done
	for t in $failed; do
		echo
		echo "FAIL - fuzz: $t (log $FUZZ_DIR/logs/$t.log; inputs in" \
		    "$FUZZ_DIR/crashes/$t):"
		show_report "$FUZZ_DIR/logs/$t.log"
	done
	return $rc
}

# Into the tracked corpus goes only what reaches code it does not: edges,
# not hit counts (-use_counters=0), so that it stays small; the counts'
# variety lives on in $B/fuzz/corpus-new for the next runs.  With
# FUZZ_MINIMISE=1 the corpus is first taken down to the fewest inputs
# that reach what it reaches; seeds that stay keep their names.
merge() {
	local t bin new log before after tmp f h rc=0

	for t in "$@"; do
		bin=$FUZZ_DIR/fuzz_$t
		new=$FUZZ_DIR/corpus-new/$t
		log=$FUZZ_DIR/logs/$t.merge.log
		mkdir -p "$CORPUS/$t" "$new" "$FUZZ_DIR/logs"
		before=$(count "$CORPUS/$t")
		if [ "${FUZZ_MINIMISE:-0}" = 1 ]; then
			tmp=$FUZZ_DIR/minimise/$t
			rm -rf "$tmp"
			mkdir -p "$tmp"
			if ! "$bin" -merge=1 -use_counters=0 -timeout=10 \
			    -rss_limit_mb=2048 "$tmp" "$CORPUS/$t" "$new" \
			    </dev/null >"$log" 2>&1; then
				echo "FAIL - fuzz-merge: $t (log $log)"
				rc=1
				continue
			fi
			for f in "$CORPUS/$t"/seed-*; do
				[ -f "$f" ] || continue
				h=$(sha1sum "$f" | cut -d' ' -f1)
				[ -f "$tmp/$h" ] && mv "$tmp/$h" "$tmp/${f##*/}"
			done
			find "$CORPUS/$t" -maxdepth 1 -type f -delete
			find "$tmp" -maxdepth 1 -type f \
			    -exec mv -t "$CORPUS/$t"/ {} +
		elif ! "$bin" -merge=1 -use_counters=0 -timeout=10 \
		    -rss_limit_mb=2048 "$CORPUS/$t" "$new" \
		    </dev/null >"$log" 2>&1; then
			echo "FAIL - fuzz-merge: $t (log $log)"
			rc=1
			continue
		fi
		after=$(count "$CORPUS/$t")
		echo "$t: $before -> $after inputs in $CORPUS/$t" \
		    "($(du -s --apparent-size -k "$CORPUS/$t" | cut -f1) KiB)"
	done
	return $rc
}

# One line per module: lines, covered, per cent (llvm-cov report's
# "Lines" columns: lines, missed, cover).
cov() {
	local arg t mods bin prof f rc=0 crashed

	printf '%-15s %-25s %7s %8s %7s\n' target module lines covered \
	    cover
	for arg in "$@"; do
		t=${arg%%:*}
		mods=${arg#*:}
		bin=$FUZZ_DIR/cov/fuzz_$t
		prof=$FUZZ_DIR/cov/prof/$t
		rm -rf "$prof"
		mkdir -p "$prof"
		crashed=""
		LLVM_PROFILE_FILE="$prof/%p.profraw" "$bin" "$CORPUS/$t" \
		    </dev/null >/dev/null 2>"$prof/corpus.log" ||
		    crashed=" (the corpus run crashed: $prof/corpus.log)"
		# Each regression input on its own: one that still crashes
		# loses only its own profile.
		for f in "$REGRESS/$t"/*; do
			[ -f "$f" ] || continue
			LLVM_PROFILE_FILE="$prof/%p.profraw" "$bin" "$f" \
			    </dev/null >/dev/null 2>&1 ||
			    crashed="$crashed (crashes: $f)"
		done
		if ! "$LLVM_PROFDATA" merge -sparse "$prof"/*.profraw \
		    -o "$prof/all.profdata" 2>"$prof/merge.log"; then
			echo "FAIL - fuzz-cov: $t: no profile ($prof/merge.log)"
			rc=1
			continue
		fi
		"$LLVM_COV" report "$bin" -instr-profile="$prof/all.profdata" \
		    ${mods//,/ } 2>/dev/null |
		    awk -v t="$t" -v mods="$mods" '
		    function base(p) { sub(/.*\//, "", p); return p }
		    $1 ~ /\.c$/ {
			# llvm-cov names a file by what is left after the
			# prefix all share: name it as it was given.
			name = $1
			k = split(mods, m, ",")
			for (i = 1; i <= k; i++)
				if (base(m[i]) == base($1))
					name = m[i]
			n = $(NF - 5); missed = $(NF - 4)
			printf "%-15s %-25s %7d %8d %7s\n", t, name, n,
			    n - missed, $(NF - 3)
		    }'
		[ -n "$crashed" ] && echo "    $t:$crashed"
	done
	return $rc
}

mode=${1:-}
shift
case $mode in
replay|fuzz|merge|cov)
	"$mode" "$@"
	;;
*)
	echo "usage: $0 replay|fuzz|merge|cov ..." >&2
	exit 2
	;;
esac
