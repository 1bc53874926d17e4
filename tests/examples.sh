#!/bin/bash
# The shipped example configurations: each passes `llmfbd -n -c FILE`
# with the keys its providers name set in the environment, and every
# host its routes match is one it intercepts (else the route is dead).
#
# usage: tests/examples.sh LLMFBD
set -u

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
	echo "usage: $0 LLMFBD" >&2
	exit 2
fi
LLMFBD=$1
cd "$(dirname "$0")/.."

# One per provider llmfb has an example for: a missing one fails.
EXAMPLES="llmfb.yaml providers/deepseek.yaml providers/gemini.yaml
    providers/groq.yaml providers/mistral.yaml providers/azure.yaml
    providers/ollama.yaml"
PASS=0
FAIL=0

for e in $EXAMPLES; do
	f=examples/$e
	errs=""
	if [ ! -f "$f" ]; then
		errs="missing"
	else
		# The keys, each a made-up value: a real one is never needed.
		envs=$(sed -n 's/^ *api_key_env: *\([A-Za-z_][A-Za-z0-9_]*\).*/\1=sk-example-test/p' "$f")
		out=$(env -i PATH="$PATH" $envs "$LLMFBD" -n -c "$f" 2>&1)
		rc=$?
		[ "$rc" -eq 0 ] && [[ "$out" == *"configuration OK"* ]] ||
		    errs="llmfbd -n: rc $rc: $out"
		intercepted=$(sed -n '/^intercept:/,/^[^ #]/s/^ *- *\([^ #]*\).*/\1/p' "$f")
		for h in $(sed -n 's/.*match: *{.*host: *\([^ ,}]*\).*/\1/p' "$f"); do
			grep -qx -- "$h" <<<"$intercepted" ||
			    errs="$errs${errs:+; }a route matches $h, which is not intercepted"
		done
	fi
	if [ -z "$errs" ]; then
		PASS=$((PASS + 1))
		echo "ok - example $e"
	else
		FAIL=$((FAIL + 1))
		echo "not ok - example $e: $errs"
	fi
done
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
