# shellcheck shell=bash
# random_secret: prints a random secret of 32 letters and digits whose first character is a letter.
# Shared by scripts/cluster and deploy/gen-env.sh. The NATS passwords are substituted into
# deploy/nats/accounts.conf as $VARIABLES, and nats-server parses a substituted value as a config
# token: one that starts with digits and a size or exponent letter ("3k3…", "7e5…") is read as a
# number and the server refuses the file. A leading letter keeps every value a string.
random_secret() {
  local s
  s="$(LC_ALL=C tr -dc 'A-Za-z' </dev/urandom | head -c 1 || true)$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 31 || true)"
  if [[ ${#s} -ne 32 ]]; then
    echo "random_secret: could not read random bytes from /dev/urandom" >&2
    return 1
  fi
  printf '%s' "$s"
}
