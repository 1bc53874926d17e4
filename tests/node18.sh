#!/bin/bash
# Debian's own Node.js 18 (nodejs + libnode108 from bookworm, linked to
# the system's libssl3), for the end-to-end tests: downloaded from the
# archive and unpacked into a cache outside the clone, never installed
# over the machine's /usr/bin/node.  A rerun on the same machine reuses
# it.  Prints the directory; exit 1 (and why on stderr) when it cannot
# be had.
set -u
CACHE=${LLMFB_TEST_CACHE:-/var/cache/llmfb-test}
DIR=$CACHE/node18
PKGS="nodejs=18.20.4+dfsg-1~deb12u3 libnode108 node-undici node-acorn
node-cjs-module-lexer libc-ares2 libuv1 libicu72 libbrotli1 libnghttp2-14"

if [ ! -x "$DIR/usr/bin/node" ]; then
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/node18.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# shellcheck disable=SC2086 # a list of packages
	if ! (cd "$tmp" && apt-get download -qq $PKGS) >"$tmp/log" 2>&1; then
		# The version is bookworm's: ask for whatever 18 it has now.
		v=$(apt-cache madison nodejs 2>/dev/null |
		    awk '$3 ~ /^18\./ { print $3; exit }')
		PKGS=${PKGS/nodejs=18.20.4+dfsg-1~deb12u3/nodejs=$v}
		# shellcheck disable=SC2086
		if [ -z "$v" ] || ! (cd "$tmp" && apt-get download -qq \
		    $PKGS) >>"$tmp/log" 2>&1; then
			echo "no Debian nodejs 18 from the archive:" \
			    "$(tail -1 "$tmp/log")" >&2
			exit 1
		fi
	fi
	mkdir -p "$tmp/root"
	for d in "$tmp"/*.deb; do
		dpkg-deb -x "$d" "$tmp/root" || exit 1
	done
	mkdir -p "$CACHE"
	rm -rf "$DIR"
	mv "$tmp/root" "$DIR"
fi
echo "$DIR"
