#!/usr/bin/env bash
# Backup and restore on the benchmark's large database: USERS users and TOKENS live tokens in
# SQLite, backed up, restored into PostgreSQL, backed up from there and restored into SQLite,
# each timed with its peak memory.
#   USERS=100000 TOKENS=1000000 bench/backup.sh      (needs PostgreSQL at 127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-100000}
TOKENS=${TOKENS:-1000000}
OUT=${OUT:-/tmp/heliogate-backup-bench}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
# BIN: a heliogate binary to measure; by default this checkout's release build.
if [ -z "${BIN:-}" ]; then
  cargo build --release -p heliogate > /dev/null 2>&1
  BIN=$PWD/target/release/heliogate
fi
B=$BIN
rm -rf "$OUT" && mkdir -p "$OUT"
export HELIOGATE_DATABASE_URL=sqlite://$OUT/big.db
$B migrate > /dev/null
ID=$($B client add bench --grant-type client_credentials --scope read --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')
python3 bench/seed.py "$OUT/big.db" "$ID" "$USERS" "$TOKENS" 0
echo "SQLite database: $(du -h "$OUT/big.db" | cut -f1)"
timed() {
  local label=$1; shift
  /usr/bin/time -f "$label: %e s, %M KiB peak" "$@"
}
timed "backup from SQLite" $B backup --to "$OUT/sqlite.backup"
echo "archive: $(stat -c %s "$OUT/sqlite.backup") bytes"
psql "$PG/test" -qc "DROP DATABASE IF EXISTS heliogate_backup_bench" -c "CREATE DATABASE heliogate_backup_bench"
HELIOGATE_DATABASE_URL=$PG/heliogate_backup_bench timed "restore into PostgreSQL" $B restore --from "$OUT/sqlite.backup"
HELIOGATE_DATABASE_URL=$PG/heliogate_backup_bench timed "backup from PostgreSQL" $B backup --to "$OUT/pg.backup"
HELIOGATE_DATABASE_URL=sqlite://$OUT/restored.db timed "restore into SQLite" $B restore --from "$OUT/pg.backup"
psql "$PG/test" -qc "DROP DATABASE heliogate_backup_bench"
