#!/usr/bin/env bash
# heliogate's benchmark: the shared side-by-side harness (../shared/peers), then the
# "flat with data" scenario, printed as one table.
#
#   bench/run.sh
#   PEERS="heliogate heliogate-pg node-oidc flask-seed nginx" USERS=100000 TOKENS=1000000 bench/run.sh
#
# Flat with data: heliogate on SQLite with USERS users and TOKENS live tokens (plus EXPIRED
# expired ones), tokeninfo measured as the harness measures it (server on CPU 0, wrk on
# CPU 1), right after the same measurement on the same database without them, then again
# while `heliogate token purge-expired` deletes the expired ones.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared/peers}
PEERS=${PEERS:-heliogate heliogate-pg node-oidc nginx}
USERS=${USERS:-100000}
TOKENS=${TOKENS:-1000000}
EXPIRED=${EXPIRED:-500000}
DURATION=${DURATION:-10s}
PORT=${PORT:-9005}
export HELIOGATE_BENCH_POSTGRES_URL=${HELIOGATE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

cargo build --release --quiet
BIN=$ROOT/target/release/heliogate
OUT=$(mktemp -d)
trap 'kill "${SERVER:-}" 2> /dev/null || true; rm -rf "$OUT"' EXIT

# 1. Side by side with the peers, in one run.
# shellcheck disable=SC2086
HELIOGATE_BIN=$BIN DURATION=$DURATION "$SHARED/bench.sh" $PEERS 2> "$OUT/peers.log" | tee "$OUT/peers.txt"

# 2. Flat with data.
export HELIOGATE_DATABASE_URL=sqlite://$OUT/big.db HELIOGATE_LISTEN=127.0.0.1:$PORT
export HELIOGATE_ISSUER=http://127.0.0.1:$PORT HELIOGATE_LOG=warn
"$BIN" migrate > /dev/null
CLIENT=$("$BIN" client add bench --grant-type client_credentials --scope read --json)
ID=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])' <<< "$CLIENT")
SECRET=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])' <<< "$CLIENT")
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' \
  "$OUT/big.db" "$OUT/empty.db"
seeded=$(date +%s)
python3 bench/seed.py "$OUT/big.db" "$ID" "$USERS" "$TOKENS" "$EXPIRED"
echo "# seeded $USERS users, $TOKENS live and $EXPIRED expired tokens in $(( $(date +%s) - seeded ))s" >&2

start() { # DB: serve it on CPU 0, with a fresh token in TOKEN
  export HELIOGATE_DATABASE_URL=sqlite://$1
  taskset -c 0 "$BIN" serve 2>> "$OUT/serve.log" &
  SERVER=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.1; done
  TOKEN=$(curl -s -u "$ID:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$PORT/oauth/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
}
stop() { kill "$SERVER"; wait "$SERVER" || true; }

measure() { # NAME: one wrk run of tokeninfo, appended to the table
  taskset -c 1 wrk -t1 -c32 -d2s -s "$SHARED/wrk/introspect.lua" "http://127.0.0.1:$PORT" -- \
    mode=get path=/oauth/tokeninfo token="$TOKEN" expect='"scope"' > /dev/null
  taskset -c 1 wrk -t1 -c32 -d"$DURATION" --latency -s "$SHARED/wrk/introspect.lua" "http://127.0.0.1:$PORT" -- \
    mode=get path=/oauth/tokeninfo token="$TOKEN" expect='"scope"' > "$OUT/$1.txt"
  summarize "$1" flat
}
summarize() { # NAME TABLE: a wrk run's line in a table
  awk -v name="$1" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^ +99%/ { p99 = ms($2) } /^Requests\/sec:/ { rps = $2 }
    /^CHECK/ { split($2, kv, "="); ok = kv[2]; bad = 0; for (i = 3; i <= NF; i++) { split($i, kv, "="); bad += kv[2] } }
    END { printf "%-34s %9.0f %8.2f %9d %5d\n", name, rps, p99, ok, bad }' "$OUT/$1.txt" >> "$OUT/$2.txt"
}
printf '%-34s %9s %8s %9s %5s\n' scenario req/s p99_ms ok bad > "$OUT/flat.txt"
# The same measurement on the same schema without the data, just before: the baseline for
# "flat", taken under the same conditions.
start "$OUT/empty.db"
measure "tokeninfo, empty database"
stop
start "$OUT/big.db"
measure "tokeninfo, $TOKENS tokens"
( sleep 1; start=$(date +%s.%N); "$BIN" token purge-expired --json > "$OUT/purge.json"
  python3 -c "print(round($(date +%s.%N) - $start, 2))" > "$OUT/purge.secs" ) &
PURGE=$!
measure "tokeninfo while purging $EXPIRED"
wait "$PURGE"
RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status")

echo
echo "# flat with data ($(date -u +%FT%TZ)): heliogate on SQLite, server on CPU 0, wrk -t1 -c32 -d$DURATION on CPU 1"
cat "$OUT/flat.txt"
echo "# purge-expired: $(cat "$OUT/purge.json" | tr -d ' \n') in $(cat "$OUT/purge.secs")s; server RSS after: $((RSS / 1024)) MB"

# 3. Signing: client-credentials issuance of opaque tokens and of JWT access tokens (RFC 9068)
# signed ES256 and RS256, on a fresh database; the difference in time per token is the cost
# of signing.
stop
cp "$OUT/empty.db" "$OUT/jwt.db"
export HELIOGATE_DATABASE_URL=sqlite://$OUT/jwt.db
printf '%-34s %9s %8s %9s %5s\n' scenario req/s p99_ms ok bad > "$OUT/sign.txt"
start "$OUT/jwt.db"
for format in opaque ES256 RS256; do
  case $format in
    opaque) flags=() ;;
    *) flags=(--access-token-format jwt --signing-alg "$format") ;;
  esac
  made=$("$BIN" client add "sign-$format" --grant-type client_credentials --scope read "${flags[@]}" --json)
  cid=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])' <<< "$made")
  csecret=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["client_secret"])' <<< "$made")
  args=(path=/oauth/token client="$cid" secret="$csecret")
  taskset -c 1 wrk -t1 -c32 -d2s -s "$SHARED/wrk/token.lua" "http://127.0.0.1:$PORT" -- "${args[@]}" > /dev/null
  taskset -c 1 wrk -t1 -c32 -d"$DURATION" --latency -s "$SHARED/wrk/token.lua" "http://127.0.0.1:$PORT" -- \
    "${args[@]}" > "$OUT/token-$format.txt"
  summarize "token-$format" sign
done
RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status")
echo
echo "# signing ($(date -u +%FT%TZ)): client-credentials issuance, opaque and JWT access tokens"
cat "$OUT/sign.txt"
echo "# server RSS after: $((RSS / 1024)) MB"
