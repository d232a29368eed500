#!/usr/bin/env bash
# Development certificates for docker-compose.tls.yml (gRPC TLS and NATS TLS, both mutual): a private CA
# and one certificate per component, made with openssl. NOT for production: the CA key sits next to the
# certificates and the private keys are world-readable so the containers' `node` user (uid 1000) can
# read them through a bind mount. Production certificates come from your PKI (cert-manager, Vault, ...).
#
# Usage: deploy/tls/gen-dev-certs.sh [--force] [OUT_DIR]      (default OUT_DIR: deploy/tls/certs)
#
# Writes to OUT_DIR:
#   ca.pem, ca-key.pem                      the development CA (P-256, 10 years)
#   nats.pem, nats-key.pem                  NATS server (SAN nats, localhost, 127.0.0.1)
#   gateway.pem, keyframe.pem, interpolation.pem, decoder.pem (+ -key.pem)
#                                           each service's gRPC server certificate, also used as its
#                                           client certificate towards NATS and other gRPC servers
#   client.pem, client-key.pem              a client certificate for people and tools (grpcurl, nats CLI)
# Every certificate: EC P-256, SAN DNS:<name>, DNS:localhost, IP:127.0.0.1, serverAuth + clientAuth,
# valid LONGSHOT_CERT_DAYS days (default 825). An existing OUT_DIR with certificates is left alone
# unless --force is given.
set -euo pipefail

force=0
out=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help)
      sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "gen-dev-certs.sh: unknown option $arg (expected --force or an output directory)" >&2
      exit 2
      ;;
    *)
      [[ -z "$out" ]] || { echo "gen-dev-certs.sh: give one output directory, got '$out' and '$arg'" >&2; exit 2; }
      out="$arg"
      ;;
  esac
done
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
out="${out:-$here/certs}"
days="${LONGSHOT_CERT_DAYS:-825}"
[[ "$days" =~ ^[1-9][0-9]{0,4}$ ]] || { echo "gen-dev-certs.sh: LONGSHOT_CERT_DAYS must be a number of days, got '$days'" >&2; exit 2; }
command -v openssl >/dev/null 2>&1 || { echo "gen-dev-certs.sh: openssl is required (apt-get install openssl)" >&2; exit 1; }

if [[ -f "$out/ca.pem" && "$force" -eq 0 ]]; then
  echo "gen-dev-certs.sh: $out already has certificates; keeping them (use --force to make new ones)"
  exit 0
fi
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

names=(nats gateway keyframe interpolation decoder client)

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$out/ca-key.pem" -out "$out/ca.pem" -days 3650 -sha256 \
  -subj "/O=longshot development/CN=longshot dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$tmp/openssl.log" ||
  { cat "$tmp/openssl.log" >&2; echo "gen-dev-certs.sh: creating the CA failed" >&2; exit 1; }

for name in "${names[@]}"; do
  cat >"$tmp/$name.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:$name, DNS:localhost, IP:127.0.0.1
EOF
  if ! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out/$name-key.pem" -out "$tmp/$name.csr" -subj "/O=longshot development/CN=$name" 2>>"$tmp/openssl.log" ||
    ! openssl x509 -req -in "$tmp/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" \
      -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
      -extfile "$tmp/$name.ext" -out "$out/$name.pem" 2>>"$tmp/openssl.log"; then
    cat "$tmp/openssl.log" >&2
    echo "gen-dev-certs.sh: creating the certificate of $name failed" >&2
    exit 1
  fi
  openssl verify -CAfile "$out/ca.pem" "$out/$name.pem" >/dev/null ||
    { echo "gen-dev-certs.sh: $out/$name.pem does not verify against $out/ca.pem" >&2; exit 1; }
done

chmod 0644 "$out"/*.pem
chmod 0600 "$out/ca-key.pem"
echo "gen-dev-certs.sh: wrote the development CA and certificates for ${names[*]} to $out (valid $days days)"
