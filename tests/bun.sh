#!/bin/bash
# Bun, the runtime Claude Code's native build is compiled with (its own
# TLS, BoringSSL linked in), from npm at a pinned version, in a cache
# outside the clone (a rerun on the same machine reuses it).  Prints the
# path of the bun binary; exit 1 (and why on stderr) when it cannot be
# had.
set -u
CACHE=${LLMFB_TEST_CACHE:-/var/cache/llmfb-test}
DIR=$CACHE/npm-bun
PKG=@oven/bun-linux-x64@1.2.23
BIN=$DIR/node_modules/@oven/bun-linux-x64/bin/bun
STAMP=$DIR/.installed

if [ "$(uname -m)" != x86_64 ]; then
	echo "the pinned Bun is for x86-64" >&2
	exit 1
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$PKG" ] || [ ! -x "$BIN" ]; then
	if ! command -v npm >/dev/null; then
		echo "no npm on this machine" >&2
		exit 1
	fi
	mkdir -p "$DIR"
	# No install scripts: the package is the binary itself.
	if ! (cd "$DIR" && timeout 600 npm install --no-audit --no-fund \
	    --ignore-scripts --no-save "$PKG") >"$DIR/install.log" 2>&1; then
		echo "npm install failed: $(tail -1 "$DIR/install.log")" >&2
		exit 1
	fi
	echo "$PKG" >"$STAMP"
fi
echo "$BIN"
