#!/usr/bin/env bash
# Makes Debian's PostgreSQL server available for the scale-out tests (they start their own
# throwaway cluster; nothing here starts a server). Installs it only when missing and when we
# may (root with apt-get); otherwise says why and leaves those tests to skip with that reason.
set -u
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-postgres: PostgreSQL server not installed and cannot install it here;" \
       "PostgreSQL tests will be skipped" >&2
  exit 0
fi
echo "ensure-postgres: installing Debian's postgresql for the scale-out tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null \
  || echo "ensure-postgres: install failed; PostgreSQL tests will be skipped" >&2
exit 0
