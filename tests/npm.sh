#!/bin/bash
# The npm packages the end-to-end tests run, at pinned versions, in a
# cache outside the clone (a rerun on the same machine reuses it): the
# official SDKs as programs use them, and Claude Code 2.1.112, the last
# release whose package ships cli.js rather than a native binary.
# Prints the node_modules directory; exit 1 (and why on stderr) when the
# registry cannot be had.
set -u
CACHE=${LLMFB_TEST_CACHE:-/var/cache/llmfb-test}
DIR=$CACHE/npm
PKGS="openai@6.49.0 @anthropic-ai/sdk@1.17.0 @anthropic-ai/claude-code@2.1.112"
STAMP=$DIR/.installed

if [ "$(cat "$STAMP" 2>/dev/null)" != "$PKGS" ]; then
	if ! command -v npm >/dev/null; then
		echo "no npm on this machine" >&2
		exit 1
	fi
	mkdir -p "$DIR"
	# No install scripts: the tests run the packages' JavaScript only.
	# shellcheck disable=SC2086 # a list of packages
	if ! (cd "$DIR" && timeout 600 npm install --no-audit --no-fund \
	    --ignore-scripts --no-save $PKGS) >"$DIR/install.log" 2>&1; then
		echo "npm install failed: $(tail -1 "$DIR/install.log")" >&2
		exit 1
	fi
	echo "$PKGS" >"$STAMP"
fi
echo "$DIR/node_modules"
