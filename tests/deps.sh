#!/bin/bash
# Install the Debian packages llmfb builds and tests with, when missing.
# As root: apt-get installs them.  Otherwise: print the exact command and
# fail, so nothing half-works.
set -eu

PKGS="gcc make pkg-config libc6-dev libcurl4-openssl-dev libjansson-dev
libyaml-dev libhttp-parser-dev libssl-dev zlib1g-dev check libsubunit-dev curl
openssl jq ca-certificates python3 python3-requests python3-httpx tmux
python3-prometheus-client util-linux wget gnutls-bin
golang-go ruby php-cli php-curl libio-socket-ssl-perl
libnl-3-dev libnl-route-3-dev iproute2 libbpf-dev clang bpftool
build-essential debhelper dpkg-dev lintian adduser systemd man-db groff-base
libhiredis-dev redis-server redis-tools"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
	echo "llmfb: missing Debian packages:$missing" >&2
	echo "llmfb: as root, run: apt-get update && $cmd" >&2
	exit 1
fi
echo "llmfb: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
