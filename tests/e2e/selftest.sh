#!/bin/bash
# The e2e harness checks itself: a case name that does not exist fails
# the run, before it starts (named on the command line) or at its end
# (named by a group); a case runs alone by name.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
export B
pass=0 fail=0
check() {	# what got want
	if [ "$2" == "$3" ]; then
		pass=$((pass + 1))
		echo "ok - e2e harness: $1"
	else
		fail=$((fail + 1))
		echo "FAIL - e2e harness: $1: got '$2', want '$3'"
	fi
}

out=$(tests/e2e/run.sh no_such_case 2>&1)
check "an unknown case name fails the run before it starts" \
    "$? $(grep -c '^no such case: no_such_case' <<<"$out")" "2 1"

# A group that names a case that is not there (exported into the run).
selftest_cases() { run_case t_not_llm:easy; no_such_case_fn; }
export -f selftest_cases
out=$(tests/e2e/run.sh selftest_cases 2>&1)
check "a group naming a missing case fails the run" \
    "$? $(grep -c 'named but not found: no_such_case_fn' <<<"$out")" "1 1"
check "a case runs by name, for one kind of client" \
    "$(grep -c ': a host that is not intercepted' <<<"$out")" 1

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
