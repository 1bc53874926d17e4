#!/bin/bash
# Run each Check unit-test binary; fail if any fails.
set -u
rc=0
for t in "$@"; do
	"$t" || rc=1
done
exit $rc
