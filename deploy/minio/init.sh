#!/bin/sh
# One-shot MinIO set-up of the docker-compose deployment (service minio-init, image minio/mc). Idempotent:
# run it again after changing a policy or a secret key (`docker compose run --rm minio-init`).
#
# 1. bucket `longshot` (the policies below name it; LONGSHOT_S3_BUCKET of the services must match);
# 2. lifecycle: objects under jobs/ expire after 7 days (lifecycle.json; the rule ID is the one the
#    gateway's LONGSHOT_JOB_OBJECTS_EXPIRY_DAYS rewrites, so the two never pile up duplicates). Services
#    delete a job's objects when it ends; this is the backstop;
# 3. one MinIO user per service (access key longshot-<service>) with its own prefix policy from
#    policies/<service>.json; the services never see the root credentials;
# 4. no anonymous access to the bucket.
#
# Environment: MINIO_ROOT_USER, MINIO_ROOT_PASSWORD (the server's root credentials), MINIO_URL (default
# http://minio:9000), LONGSHOT_S3_{GATEWAY,KEYFRAME,INTERPOLATION,DECODER}_SECRET_KEY (>= 8 characters).
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
bucket=longshot
url="${MINIO_URL:-http://minio:9000}"

fail() {
  echo "minio-init: $*" >&2
  exit 1
}

[ -n "${MINIO_ROOT_USER:-}" ] || fail "MINIO_ROOT_USER is not set"
[ -n "${MINIO_ROOT_PASSWORD:-}" ] || fail "MINIO_ROOT_PASSWORD is not set"

mc alias set longshot "$url" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null ||
  fail "cannot log in to $url with the root credentials"

mc mb --ignore-existing "longshot/$bucket"
mc ilm rule import "longshot/$bucket" <"$here/lifecycle.json"
mc anonymous set none "longshot/$bucket"

# setup_user SERVICE SECRET: user longshot-SERVICE with policy longshot-SERVICE (policies/SERVICE.json).
setup_user() {
  service="$1"
  secret="$2"
  user="longshot-$service"
  [ -n "$secret" ] || fail "the secret key of $user is not set (LONGSHOT_S3_*_SECRET_KEY; run deploy/gen-env.sh)"
  [ "${#secret}" -ge 8 ] || fail "the secret key of $user is shorter than 8 characters (MinIO's minimum)"
  [ -f "$here/policies/$service.json" ] || fail "no policy file $here/policies/$service.json"
  mc admin policy create longshot "$user" "$here/policies/$service.json" >/dev/null
  mc admin user add longshot "$user" "$secret" >/dev/null
  if ! out="$(mc admin policy attach longshot "$user" --user "$user" 2>&1)"; then
    case "$out" in
      *already*) ;;
      *) fail "attaching policy $user to user $user: $out" ;;
    esac
  fi
  echo "minio-init: user $user with policy $user"
}

setup_user gateway "${LONGSHOT_S3_GATEWAY_SECRET_KEY:-}"
setup_user keyframe "${LONGSHOT_S3_KEYFRAME_SECRET_KEY:-}"
setup_user interpolation "${LONGSHOT_S3_INTERPOLATION_SECRET_KEY:-}"
setup_user decoder "${LONGSHOT_S3_DECODER_SECRET_KEY:-}"

echo "minio-init: bucket $bucket ready (jobs/ expires after 7 days)"
