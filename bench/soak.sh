#!/usr/bin/env bash
# A soak: one heliogate node on SQLite under full load for SOAK seconds (default 600), token
# issuance and token checks at once, RSS sampled every 30 s, every non-2xx answer counted.
# Not part of CI: run it by hand and read the table it prints.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-$PWD/../shared/peers}
SOAK=${SOAK:-600}
PORT=${PORT:-9006}
cargo build --release --quiet
BIN=$PWD/target/release/heliogate
OUT=$(mktemp -d)
trap 'kill "${SERVER:-}" 2> /dev/null || true; rm -rf "$OUT"' EXIT
export HELIOGATE_DATABASE_URL=sqlite://$OUT/soak.db HELIOGATE_LISTEN=127.0.0.1:$PORT
export HELIOGATE_ISSUER=http://127.0.0.1:$PORT HELIOGATE_LOG=warn
"$BIN" migrate > /dev/null
CLIENT=$("$BIN" client add soak --grant-type client_credentials --scope read --json)
ID=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])' <<< "$CLIENT")
SECRET=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])' <<< "$CLIENT")
taskset -c 0 "$BIN" serve 2> "$OUT/serve.log" &
SERVER=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.1; done
TOKEN=$(curl -s -u "$ID:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$PORT/oauth/token" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
taskset -c 1 wrk -t1 -c16 -d"${SOAK}s" -s "$SHARED/wrk/token.lua" "http://127.0.0.1:$PORT" -- \
  path=/oauth/token scope=read client="$ID" secret="$SECRET" > "$OUT/token.txt" &
taskset -c 1 wrk -t1 -c16 -d"${SOAK}s" -s "$SHARED/wrk/introspect.lua" "http://127.0.0.1:$PORT" -- \
  mode=get path=/oauth/tokeninfo token="$TOKEN" expect='"scope"' > "$OUT/check.txt" &
echo "# soak $(date -u +%FT%TZ): ${SOAK}s, token and tokeninfo at once (wrk -c16 each)"
echo "second  rss_MB"
for s in $(seq 0 30 "$SOAK"); do
  printf '%6d  %6.1f\n' "$s" "$(awk '/^VmRSS:/ {print $2 / 1024}' "/proc/$SERVER/status")"
  [ "$s" -lt "$SOAK" ] && sleep 30
done
wait %2 %3 2> /dev/null || true
for f in token check; do
  echo "# $f: $(grep -E '^Requests/sec' "$OUT/$f.txt" | awk '{print $2}') req/s; $(grep '^CHECK' "$OUT/$f.txt")"
done
echo "# errors in the server log: $(grep -ciE 'error|panic' "$OUT/serve.log" || true)"
