#!/usr/bin/env bash
# Writes the .env file docker-compose.yml reads: the MinIO root credentials, a NATS password per user
# and an S3 secret key per service, all random (32 letters and digits, the first a letter). Never overwrites an existing
# file: to rotate, edit the values (see docs/deploy.md, "Security") or move the old file away.
#
# Usage: deploy/gen-env.sh [FILE]        (default: .env at the repository root)
set -euo pipefail

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
file="${1:-$root/.env}"
if [[ -e "$file" ]]; then
  echo "gen-env.sh: $file exists; leaving it as it is" >&2
  exit 1
fi

# shellcheck source=scripts/lib/random-secret.sh
. "$root/scripts/lib/random-secret.sh"

umask 077
{
  echo "# longshot docker-compose secrets, written by deploy/gen-env.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). Keep out of git."
  echo "MINIO_ROOT_USER=longshot-root"
  echo "MINIO_ROOT_PASSWORD=$(random_secret)"
  for user in SYS ADMIN GATEWAY KEYFRAME INTERPOLATION DECODER; do
    echo "LONGSHOT_NATS_${user}_PASSWORD=$(random_secret)"
  done
  for service in GATEWAY KEYFRAME INTERPOLATION DECODER; do
    echo "LONGSHOT_S3_${service}_SECRET_KEY=$(random_secret)"
  done
} >"$file"
echo "gen-env.sh: wrote $file (mode 0600)"
