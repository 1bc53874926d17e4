#!/bin/bash
# gen-certs.sh DIR: a throw-away test CA and a server certificate signed by
# it, for the mock provider and the e2e tests.  Writes DIR/ca.pem, ca.key,
# server.pem, server.key.  Both certificates are EC P-256 and live 2 days:
# long enough for any run, short enough that a leaked one is harmless.
#
# The extensions are spelled out in our own config (not the system
# openssl.cnf) because OpenSSL 3 and Python 3.11 verify strictly: the CA
# needs basicConstraints CA:TRUE, keyUsage and a subjectKeyIdentifier, the
# leaf needs serverAuth and an authorityKeyIdentifier pointing at the CA.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log=$work/log

# Quiet unless something fails: then show what openssl said.
run() {
	if ! "$@" >"$log" 2>&1; then
		echo "$0: failed: $*" >&2
		cat "$log" >&2
		exit 1
	fi
}

cat >"$work/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no

[ dn ]
CN = llmfb test

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ leaf_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = @alt

[ alt ]
DNS.1 = api.openai.com
DNS.2 = api.anthropic.com
DNS.3 = localhost
DNS.4 = *.test
DNS.5 = *.llmfb.test
IP.1 = 127.0.0.1
IP.2 = ::1
EOF

# A random serial each time: two leaves with the same issuer and serial
# upset some verifiers when a test regenerates the certificates.
serial() {
	printf '0x1%04x%04x%04x%04x' $RANDOM $RANDOM $RANDOM $RANDOM
}

umask 077
run openssl req -x509 -config "$work/openssl.cnf" -extensions ca_ext \
	-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=llmfb test CA" -days 2 -set_serial "$(serial)" \
	-keyout "$work/ca.key" -out "$work/ca.pem"
run openssl req -x509 -config "$work/openssl.cnf" -extensions leaf_ext \
	-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=localhost" -days 2 -set_serial "$(serial)" \
	-CA "$work/ca.pem" -CAkey "$work/ca.key" \
	-keyout "$work/server.key" -out "$work/server.pem"

# Certificates are public; keys stay private to the user.
chmod 644 "$work/ca.pem" "$work/server.pem"
for f in ca.pem ca.key server.pem server.key; do
	mv -f "$work/$f" "$dir/$f"
done
