#!/usr/bin/env bash
# Makes the throwaway certificates of the TLS tests in DIR (openssl CLI):
#
#   ca.pem ca.key           a CA made for this run only
#   server.pem server.key   signed by it, for 127.0.0.1 and localhost
#                           (subjectAltName), key in PKCS#8 (Kafka's PEM
#                           keystore reads no other)
#   client.pem client.key   signed by it, for mutual TLS
#   other-ca.pem            an unrelated CA: a client trusting only it must
#                           refuse the server
#
#   tests/support/make_test_certs.sh DIR
#
# Nothing is kept between runs: the keys are made anew (EC P-256, quick)
# and valid for two days.
set -euo pipefail
dir=${1:?folder for the certificates}
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -days 2 -subj "/CN=$2" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

leaf() {
  local name=$1 cn=$2 usage=$3 san=${4:-}
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [[ -z $san ]] || echo "subjectAltName=$san"
  } >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

ca ca "dtq test CA"
leaf server localhost serverAuth "IP:127.0.0.1,DNS:localhost"
leaf client dtq-test-client clientAuth
ca other-ca "dtq unrelated CA"
rm -f other-ca.key ca.srl
chmod 600 ./*.key
