#!/usr/bin/env bash
# A development CA and a server certificate for Mosquitto's TLS listener (8883).
#   deploy/mosquitto/make-dev-certs.sh OUTDIR [HOSTNAME ...]   (default: mosquitto localhost)
# Writes OUTDIR/ca.crt (give it to clients: SMARTPARK_MQTT__TLS_CA), ca.key (keep it
# offline), server.crt and server.key (the broker's), and client.crt/client.key, a client
# certificate signed by the same CA for brokers that require one. For production, use
# the park's own CA: put its certificate and the broker's in the same file names.
set -euo pipefail
out=${1:?usage: $0 OUTDIR [HOSTNAME ...]}
shift
[ $# -gt 0 ] || set -- mosquitto localhost
mkdir -p "$out"
umask 077
san="IP:127.0.0.1"
for host in "$@"; do san="$san,DNS:$host"; done

openssl req -x509 -newkey rsa:2048 -nodes -days 825 -sha256 \
  -subj "/CN=smartpark development CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null

sign() {  # name, subject, extensions
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "$2" \
    -keyout "$out/$1.key" -out "$out/$1.csr" 2>/dev/null
  openssl x509 -req -in "$out/$1.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -days 825 -sha256 -extfile <(printf '%b' "$3") \
    -out "$out/$1.crt" 2>/dev/null
  rm -f "$out/$1.csr"
}
sign server "/CN=$1" "subjectAltName=$san\nextendedKeyUsage=serverAuth\n"
sign client "/CN=smartpark-client" "extendedKeyUsage=clientAuth\n"
chmod 644 "$out/ca.crt" "$out/server.crt" "$out/client.crt"
echo "wrote $out/ca.crt, server.crt/.key ($san), client.crt/.key"
