#!/usr/bin/env bash
# The integration tests need PostgreSQL on 127.0.0.1:5432 (trust auth, database "test").
# Uses the one that runs; starts an installed but stopped cluster; installs Debian's package as a
# last resort (a bare machine). Never touches a PostgreSQL that already answers.
set -euo pipefail
ready() { python3 - <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}
ready && exit 0
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "ensure_postgres: installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
version="$(ls /etc/postgresql | sort -V | tail -1)"
conf="/etc/postgresql/$version/main"
if ! grep -q "^host all all 127.0.0.1/32 trust" "$conf/pg_hba.conf"; then
  sed -i '1i host all all 127.0.0.1/32 trust\nlocal all all trust' "$conf/pg_hba.conf"
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do ready && break; sleep 1; done
ready || { echo "ensure_postgres: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test"
