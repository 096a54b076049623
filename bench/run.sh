#!/usr/bin/env bash
# heliogate's benchmark: the shared side-by-side harness (../shared/peers), then the
# "flat with data" scenario, printed as one table.
#
#   bench/run.sh
#   PEERS="heliogate heliogate-pg node-oidc flask-seed nginx" USERS=100000 TOKENS=1000000 bench/run.sh
#   STEPS="signing" bench/run.sh      # some of the steps: peers, flat, guard, floor, storage, signing, flows, signin
#   BIN=/path/to/heliogate bench/run.sh   # a binary built already
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

# BIN: a binary built already (as bench/backup.sh takes it); else this checkout's release.
if [[ -z ${BIN:-} ]]; then
  cargo build --release --quiet
  BIN=$ROOT/target/release/heliogate
fi
OUT=$(mktemp -d)
trap 'kill "${SERVER:-}" "${NODE:-}" "${MEMORY:-}" 2> /dev/null || true; rm -rf "$OUT" "${MEM:-}"' EXIT
STEPS=${STEPS:-peers flat guard floor storage signing flows signin}
wants() { [[ " $STEPS " == *" $1 "* ]]; }

# 1. Side by side with the peers, in one run.
if wants peers; then
  # shellcheck disable=SC2086
  HELIOGATE_BIN=$BIN DURATION=$DURATION "$SHARED/bench.sh" $PEERS 2> "$OUT/peers.log" | tee "$OUT/peers.txt"
fi

# 2. Flat with data.
export HELIOGATE_DATABASE_URL=sqlite://$OUT/big.db HELIOGATE_LISTEN=127.0.0.1:$PORT
export HELIOGATE_ISSUER=http://127.0.0.1:$PORT HELIOGATE_LOG=warn
"$BIN" migrate > /dev/null
field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; } # NAME: of the JSON on stdin
wait_for() { # URL [TENTHS]: until URL answers, at most TENTHS tenths of a second (100)
  for _ in $(seq 1 "${2:-100}"); do curl -fs "$1" > /dev/null && return; sleep 0.1; done
}
CLIENT=$("$BIN" client add bench --grant-type client_credentials --scope read --json)
ID=$(field client_id <<< "$CLIENT")
SECRET=$(field client_secret <<< "$CLIENT")
python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' \
  "$OUT/big.db" "$OUT/empty.db"
if wants flat; then
  seeded=$(date +%s)
  python3 bench/seed.py "$OUT/big.db" "$ID" "$USERS" "$TOKENS" "$EXPIRED"
  echo "# seeded $USERS users, $TOKENS live and $EXPIRED expired tokens in $(( $(date +%s) - seeded ))s" >&2
fi

# node oidc-provider, from the shared harness's installation, with this folder's configuration.
NODE_HOME=${PEERS_HOME:-/tmp/heliogate-peers}/node-oidc
NODE_CODES=${NODE_CODES:-120000}
node_grants() { # GRANT DIR VAR=VALUE...: node oidc-provider on CPU 0, with NODE_CODES grants of
  # a signed-in user minted into DIR/codes.warm and DIR/codes.run (bench/node-oidc-grants.mjs)
  local grant=$1 dir=$2; shift 2
  mkdir -p "$dir"
  cp bench/node-oidc-grants.mjs "$NODE_HOME/"
  (cd "$NODE_HOME" && env "$@" GRANT="$grant" CODES="$NODE_CODES" OUT="$dir" NODE_ENV=production PORT="$PORT" \
    taskset -c 0 node node-oidc-grants.mjs) >> "$OUT/node.log" 2>&1 &
  SERVER=$!
  wait_for "http://127.0.0.1:$PORT/.well-known/openid-configuration" 1200
}

serve() { # DB PORT [CPU]: heliogate on DB at PORT, on CPU (0), once it answers; its PID in SERVED
  HELIOGATE_DATABASE_URL=sqlite://$1 HELIOGATE_LISTEN=127.0.0.1:$2 taskset -c "${3:-0}" "$BIN" serve 2>> "$OUT/serve.log" &
  SERVED=$!
  wait_for "http://127.0.0.1:$2/healthz"
}
start() { # DB: serve it at PORT, with a fresh token in TOKEN
  export HELIOGATE_DATABASE_URL=sqlite://$1
  serve "$1" "$PORT"
  SERVER=$SERVED
  TOKEN=$(curl -s -u "$ID:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$PORT/oauth/token" | field access_token)
}
stop() { kill "$SERVER" 2> /dev/null || true; wait "$SERVER" || true; }
GPORT=$((PORT + 1))
start_hello() { # CLIENT [AUDIENCE]: the guard's hello-world service on CPU 0 at GPORT, asking the
  # server as CLIENT (`client add --json`), checking AUDIENCE when given; its PID in HELLO
  cargo build --release --quiet -p heliogate-guard --example hello
  local audience=()
  [[ -z ${2:-} ]] || audience=(GUARD_AUDIENCE="$2")
  env GUARD_CLIENT_ID="$(field client_id <<< "$1")" GUARD_CLIENT_SECRET="$(field client_secret <<< "$1")" \
    "${audience[@]}" GUARD_LISTEN=127.0.0.1:$GPORT taskset -c 0 "$ROOT/target/release/examples/hello" 2>> "$OUT/hello.log" &
  HELLO=$!
  wait_for "http://127.0.0.1:$GPORT/open"
}

twice() { # TABLE NAME SCRIPT WARM RUN ARGS...: wrk's 2 s warm-up on the server with the
  # argument WARM, then the measured run with RUN (the file of what each request spends, say),
  # into TABLE
  local table=$1 name=$2 script=$3 warm=$4 run=$5; shift 5
  WRK_COMMON=$SHARED/wrk/common.lua taskset -c 1 wrk -t1 -c32 -d2s -s "$script" \
    "http://127.0.0.1:$PORT" -- "$warm" "$@" > /dev/null
  WRK_COMMON=$SHARED/wrk/common.lua taskset -c 1 wrk -t1 -c32 -d"$DURATION" --latency -s "$script" \
    "http://127.0.0.1:$PORT" -- "$run" "$@" > "$OUT/$name.txt"
  summarize "$name" "$table"
}
measure() { # NAME: tokeninfo, into the flat table
  twice flat "$1" "$SHARED/wrk/introspect.lua" mode=get mode=get path=/oauth/tokeninfo token="$TOKEN" expect='"scope"'
}
summarize() { # NAME TABLE: a wrk run's line in a table
  awk -v name="$1" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^ +99%/ { p99 = ms($2) } /^Requests\/sec:/ { rps = $2 }
    /^CHECK/ { split($2, kv, "="); ok = kv[2]; bad = 0; for (i = 3; i <= NF; i++) { split($i, kv, "="); bad += kv[2] } }
    END { printf "%-34s %9.0f %8.2f %9d %5d\n", name, rps, p99, ok, bad }' "$OUT/$1.txt" >> "$OUT/$2.txt"
}
in_turns() { # RUNS SCENARIO...: each scenario ("name|port|wrk script|its arguments") measured
  # in turn on the server at its port, ROUNDS times after a warm-up round of 2 s each (this
  # machine's speed drifts between runs of seconds); "name|req/s|bad" lines into RUNS
  local runs=$1 round scenario name port script args seconds; shift
  : > "$runs"
  for round in $(seq 0 "${ROUNDS:-3}"); do
    for scenario in "$@"; do
      IFS='|' read -r name port script args <<< "$scenario"
      seconds=$DURATION; [[ $round == 0 ]] && seconds=2s
      # shellcheck disable=SC2086
      WRK_COMMON=$SHARED/wrk/common.lua taskset -c 1 wrk -t1 -c32 -d"$seconds" -s "$script" "http://127.0.0.1:$port" -- $args > "$OUT/turn.txt"
      [[ $round == 0 ]] && continue
      awk -v name="$name" '/^Requests\/sec:/ { rps = $2 }
        /^CHECK/ { bad = 0; for (i = 3; i <= NF; i++) { split($i, kv, "="); bad += kv[2] } }
        END { printf "%s|%.0f|%d\n", name, rps, bad }' "$OUT/turn.txt" >> "$runs"
    done
  done
}
medians() { # RUNS: in_turns' table (each scenario's median req/s and every round's); the
  # medians (name: req/s) into RUNS.json
  python3 - "$1" << 'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, rps, bad = line.strip().split('|')
    runs.setdefault(name, []).append((float(rps), int(bad)))
median = {name: statistics.median(r for r, _ in rs) for name, rs in runs.items()}
print(f"{'scenario':32} {'req/s':>9} {'bad':>5}   each round's req/s")
for name, rs in runs.items():
    print(f"{name:32} {median[name]:9.0f} {sum(b for _, b in rs):5d}   {' '.join(f'{r:.0f}' for r, _ in rs)}")
json.dump(median, open(sys.argv[1] + '.json', 'w'))
PY
}
if wants flat; then
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
fi

# 3. heliogate-guard: a hello-world axum service on one thread, pinned to CPU 0, its open route
# and the same route behind the guard, each sent the same requests, (`require("read")`), with an opaque token (cached answers,
# the default one-second TTL) and with an ES256 JWT access token verified in the service; wrk and
# heliogate on CPU 1 (heliogate is asked once a second per token).
if wants guard; then
  [[ -z ${SERVER:-} ]] || stop
  cp "$OUT/empty.db" "$OUT/guard.db"
  export HELIOGATE_DATABASE_URL=sqlite://$OUT/guard.db
  AUDIENCE=https://api.example.org/
  RS=$("$BIN" client add guard-rs --grant-type client_credentials --scope read --introspect --json)
  JC=$("$BIN" client add guard-jwt --grant-type client_credentials --scope read --access-token-format jwt \
    --signing-alg ES256 --resource "$AUDIENCE" --json)
  serve "$OUT/guard.db" "$PORT" 1
  SERVER=$SERVED
  OPAQUE=$(curl -s -u "$ID:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$PORT/oauth/token" | field access_token)
  JWT=$(curl -s -u "$(field client_id <<< "$JC"):$(field client_secret <<< "$JC")" -d grant_type=client_credentials \
    --data-urlencode "resource=$AUDIENCE" "http://127.0.0.1:$PORT/oauth/token" | field access_token)
  start_hello "$RS" "$AUDIENCE"
  # This machine's speed drifts between runs of seconds: the scenarios take turns, ROUNDS times,
  # and the table gives each one's median.
  # The open route gets the same requests (the token's header too): the difference is the guard's.
  scenarios=("open route, opaque token's request|/open|$OPAQUE" "guarded, opaque token|/guarded|$OPAQUE"
    "open route, JWT's request|/open|$JWT" "guarded, JWT verified here|/guarded|$JWT")
  run_guard() { # NAME PATH TOKEN SECONDS OUTPUT
    local auth=(); [[ -n $3 ]] && auth=(-H "Authorization: Bearer $3")
    taskset -c 1 wrk -t1 -c32 -d"$4" --latency "${auth[@]}" "http://127.0.0.1:$GPORT$2" > "$5"
  }
  for scenario in "${scenarios[@]}"; do
    IFS='|' read -r name path token <<< "$scenario"
    run_guard "$name" "$path" "$token" 2s /dev/null
  done
  : > "$OUT/guard.runs"
  for round in $(seq 1 "${ROUNDS:-3}"); do
    for scenario in "${scenarios[@]}"; do
      IFS='|' read -r name path token <<< "$scenario"
      run_guard "$name" "$path" "$token" "$DURATION" "$OUT/g.txt"
      awk -v name="$name" '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /^ +99%/ { p99 = ms($2) } /^Requests\/sec:/ { rps = $2 } /Non-2xx/ { bad = $NF }
        END { printf "%s|%.0f|%.2f|%d\n", name, rps, p99, bad }' "$OUT/g.txt" >> "$OUT/guard.runs"
    done
  done
  python3 - "$OUT/guard.runs" > "$OUT/guard.txt" << 'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, rps, p99, bad = line.strip().split('|')
    runs.setdefault(name, []).append((float(rps), float(p99), int(bad)))
print(f"{'scenario':34} {'req/s':>9} {'p99_ms':>8} {'non-2xx':>9}   each round's req/s")
for name, r in runs.items():
    rps = statistics.median(x[0] for x in r)
    p99 = statistics.median(x[1] for x in r)
    print(f"{name:34} {rps:9.0f} {p99:8.2f} {sum(x[2] for x in r):9d}   {' '.join(f'{x[0]:.0f}' for x in r)}")
median = {name: statistics.median(x[0] for x in r) for name, r in runs.items()}
opaque = median['guarded, opaque token'] / median["open route, opaque token's request"]
jwt = median['guarded, JWT verified here'] / median["open route, JWT's request"]
print(f"# guarded / open, same requests (medians): opaque {100 * opaque:.0f}%, JWT {100 * jwt:.0f}%")
PY
  kill "$HELLO"; wait "$HELLO" 2> /dev/null || true
  stop
  echo
  echo "# heliogate-guard ($(date -u +%FT%TZ)): hello-world axum service on one thread on CPU 0, wrk -t1 -c32 -d$DURATION on CPU 1"
  cat "$OUT/guard.txt"
fi

# The floor under the token checks: nginx's introspection-shaped answer (the machine's), the
# guard's hello-world axum route (the HTTP stack's: hyper and axum on one thread), heliogate's
# /healthz (the server's own: its edge, the layers every route gets and a small JSON answer),
# then introspection and tokeninfo, each on CPU 0 in turn, ROUNDS times; medians, and each
# check against each floor, so that what the stack takes and what the check's own work takes
# are read apart.
if wants floor; then
  [[ -z ${SERVER:-} ]] || stop
  "$SHARED/setup.sh" nginx > /dev/null
  cp "$OUT/empty.db" "$OUT/floor.db"
  export HELIOGATE_DATABASE_URL=sqlite://$OUT/floor.db
  RS=$("$BIN" client add floor-rs --grant-type client_credentials --scope read --introspect --json)
  start "$OUT/floor.db"
  start_hello "$RS"
  NPORT=$((PORT + 2))
  NGINX_HOME=${PEERS_HOME:-/tmp/heliogate-peers}/nginx
  mkdir -p "$OUT/nginx/logs" "$OUT/nginx/tmp"
  sed "s/^worker_processes .*/worker_processes 1;/; s/127.0.0.1:9003/127.0.0.1:$NPORT/" \
    "$NGINX_HOME/nginx.conf" > "$OUT/nginx/nginx.conf"
  taskset -c 0 nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" 2>> "$OUT/nginx.log" &
  NGINX=$!
  wait_for "http://127.0.0.1:$NPORT/"
  # name|port|script|arguments: the same scripts and request shapes as the harness
  check=(token="$TOKEN" client="$ID" secret="$SECRET")
  intro=$SHARED/wrk/introspect.lua
  in_turns "$OUT/floor.runs" "nginx, introspection's shape|$NPORT|$intro|mode=post path=/token/introspection token=x" \
    "axum, hello world|$GPORT|$intro|mode=get path=/open token=x expect=hello" \
    "heliogate /healthz|$PORT|$intro|mode=get path=/healthz token=x expect=ok" \
    "heliogate introspection|$PORT|$intro|mode=post path=/oauth/introspect ${check[*]}" \
    "heliogate tokeninfo|$PORT|$intro|mode=get path=/oauth/tokeninfo token=$TOKEN expect=scope"
  kill "$HELLO" "$NGINX"; wait "$HELLO" "$NGINX" 2> /dev/null || true
  stop
  echo
  echo "# the floor ($(date -u +%FT%TZ)): each server on CPU 0, wrk -t1 -c32 -d$DURATION on CPU 1, in turns"
  medians "$OUT/floor.runs"
  python3 - "$OUT/floor.runs.json" << 'PY'
import json, sys
median = json.load(open(sys.argv[1]))
floors = ["nginx, introspection's shape", 'axum, hello world', 'heliogate /healthz']
for check in ['heliogate introspection', 'heliogate tokeninfo']:
    print(f"# {check[10:]}: " + ', '.join(f"{100 * median[check] / median[f]:.0f} % of {f.split(',')[0]}" for f in floors))
print(f"# axum's hello world: {100 * median[floors[1]] / median[floors[0]]:.0f} % of nginx; heliogate /healthz: "
      f"{100 * median[floors[2]] / median[floors[0]]:.0f} % of nginx")
PY
fi

# What a durable token costs on this machine's disk: client-credentials issuance (every token
# committed with a flush before it is answered) with the database on the disk, beside the same
# binary with its database on a memory-backed file system (MEMDIR, /dev/shm: the same commits,
# their flush costing nothing, so nothing there would survive a power cut) and node
# oidc-provider's in-memory issuance of the same request, each on CPU 0 in turns, ROUNDS times.
if wants storage; then
  [[ -z ${SERVER:-} ]] || stop
  "$SHARED/setup.sh" node-oidc > /dev/null
  NPORT=$((PORT + 2))
  PORT=$NPORT NODE_CODES=1 node_grants code "$OUT/node-storage"
  NODE=$SERVER
  MEM=$(mktemp -d -p "${MEMDIR:-/dev/shm}")
  cp "$OUT/empty.db" "$OUT/storage.db"
  cp "$OUT/empty.db" "$MEM/storage.db"
  serve "$MEM/storage.db" "$GPORT"
  MEMORY=$SERVED
  start "$OUT/storage.db"
  token=$SHARED/wrk/token.lua
  in_turns "$OUT/storage.runs" "heliogate, database on disk|$PORT|$token|path=/oauth/token scope=read client=$ID secret=$SECRET" \
    "heliogate, database in memory|$GPORT|$token|path=/oauth/token scope=read client=$ID secret=$SECRET" \
    "node oidc-provider, in memory|$NPORT|$token|path=/token scope=read client=bench-dpop secret=bench-dpop-secret"
  kill "$NODE" "$MEMORY"; wait "$NODE" "$MEMORY" 2> /dev/null || true
  stop
  rm -rf "$MEM"
  echo
  echo "# durability ($(date -u +%FT%TZ)): client-credentials issuance, each server on CPU 0, wrk -t1 -c32 -d$DURATION on CPU 1, in turns"
  medians "$OUT/storage.runs"
  python3 - "$OUT/storage.runs.json" << 'PY'
import json, sys
median = json.load(open(sys.argv[1]))
node = median['node oidc-provider, in memory']
disk, memory = median['heliogate, database on disk'], median['heliogate, database in memory']
print(f"# heliogate / node: {disk / node:.1f} times on disk, {memory / node:.1f} times in memory; "
      f"the disk's flushes take {100 * (1 - disk / memory):.0f} % of the throughput")
PY
fi

# 4. The grants of notebooks and sender-constrained clients, beside plain issuance on the same
# database: client-credentials issuance, the same with a DPoP proof (RFC 9449: the proof
# checked, its jti recorded, the token bound), and the device-code token request (RFC 8628),
# each request redeeming its own approved device authorization, and the token exchange (RFC
# 8693) of a user's token by a service. Each request's proof or device code is made beforehand
# (bench/proofs.mjs, bench/seed.py devices).
if wants flows; then
  [[ -z ${SERVER:-} ]] || stop
  cp "$OUT/empty.db" "$OUT/flows.db"
  export HELIOGATE_DATABASE_URL=sqlite://$OUT/flows.db
  "$BIN" user add flows-user --role reader --password-stdin <<< 'bench user password' > /dev/null
  DEVICE=$("$BIN" client add flows-device --public --grant-type device_code --scope read --json | field client_id)
  FLOWS=${FLOWS:-100000}
  # The measured run's device codes: more than a server spends in DURATION (each is spent once;
  # at 10,000 a second 100,000 ran out, and the requests after them counted as bad).
  DEVICES=${DEVICES:-300000}
  for part in warm run subject; do
    count=$FLOWS; [[ $part == run ]] && count=$DEVICES; [[ $part == subject ]] && count=1
    python3 bench/seed.py devices "$OUT/flows.db" "$DEVICE" flows-user "$count" > "$OUT/devices.$part"
  done
  serve "$OUT/flows.db" "$PORT"
  SERVER=$SERVED
  printf '%-34s %9s %8s %9s %5s\n' scenario req/s p99_ms ok bad > "$OUT/flows.txt"
  each() { # NAME FILE.warm FILE.run ARGS...: a request per line of each file, into the flows table
    local name=$1 warm=$2 run=$3; shift 3
    twice flows "$name" bench/each.lua file="$warm" file="$run" "$@"
  }
  issuance() { # PREFIX PATH CLIENT SECRET: the server's client-credentials issuance as a bearer
    # token, then DPoP-bound, each request with a fresh proof made beforehand (bench/proofs.mjs)
    local prefix=$1 path=$2 id=$3 secret=$4 part
    # The same request as the DPoP one, without the proof (the file's lines go nowhere).
    each "${prefix}token, bearer" "$OUT/devices.warm" "$OUT/devices.warm" \
      path="$path" body=grant_type=client_credentials client="$id" secret="$secret"
    for part in warm run; do
      node bench/proofs.mjs "http://127.0.0.1:$PORT$path" "$id" "$secret" "$FLOWS" > "$OUT/proofs.$part"
    done
    each "${prefix}token, DPoP-bound" "$OUT/proofs.warm" "$OUT/proofs.run" \
      path="$path" body=grant_type=client_credentials header=dpop client="$id" secret="$secret" expect='"DPoP"'
  }
  made=$("$BIN" client add flows-plain --grant-type client_credentials --scope read --json)
  issuance "" /oauth/token "$(field client_id <<< "$made")" "$(field client_secret <<< "$made")"
  each "device code" "$OUT/devices.warm" "$OUT/devices.run" \
    body="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=$DEVICE&device_code={}"
  # Token exchange (RFC 8693): a service exchanges the user's token (one a device got) for one
  # to a resource server, every request the same subject token (the line of the file, repeated).
  curl -fs -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d client_id="$DEVICE" \
    -d device_code="$(cat "$OUT/devices.subject")" "http://127.0.0.1:$PORT/oauth/token" | field access_token > "$OUT/subject"
  made=$("$BIN" client add flows-exchange --grant-type token_exchange --scope read \
    --resource https://api.example --json)
  each "token exchange" "$OUT/subject" "$OUT/subject" \
    body="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token={}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&resource=https%3A%2F%2Fapi.example" \
    client="$(field client_id <<< "$made")" secret="$(field client_secret <<< "$made")" expect=issued_token_type
  stop
  # node oidc-provider's device-code token request: the same request, each spending a device
  # authorization approved through its own models before listening.
  node_grants device "$OUT/node-device"
  each "node-oidc device code" "$OUT/node-device/codes.warm" "$OUT/node-device/codes.run" path=/token \
    body="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=bench-device&device_code={}"
  stop
  # node oidc-provider's client-credentials issuance, bearer and DPoP-bound (its nonces on, as
  # heliogate's are): the same requests, the proofs made the same way against its endpoint.
  node_grants dpop "$OUT/node-dpop"
  issuance "node-oidc " /token bench-dpop bench-dpop-secret
  stop
  echo
  echo "# device flow, DPoP and token exchange ($(date -u +%FT%TZ)): server on CPU 0, wrk -t1 -c32 -d$DURATION on CPU 1"
  cat "$OUT/flows.txt"
  awk '/^token, bearer/ { b = $3 } /^token, DPoP-bound/ { d = $3 }
    /^node-oidc token, bearer/ { nb = $4 } /^node-oidc token, DPoP-bound/ { nd = $4 }
    /^device code/ { h = $3 } /^node-oidc device code/ { n = $4 }
    END {
      if (b && d) printf "# a DPoP proof per token request costs %.0f us (1/DPoP - 1/bearer)\n", 1e6 / d - 1e6 / b
      if (nb && nd) printf "# node oidc-provider: %.0f us a proof\n", 1e6 / nd - 1e6 / nb
      if (b && nb) printf "# token, bearer, heliogate / node oidc-provider: %.1fx\n", b / nb
      if (d && nd) printf "# token, DPoP-bound, heliogate / node oidc-provider: %.1fx\n", d / nd
      if (h && n) printf "# device-code token request, heliogate / node oidc-provider: %.1fx\n", h / n
    }' "$OUT/flows.txt"
fi

# 5. Password sign-ins per core with the default Argon2id (m=19 MiB, t=2, p=1: OWASP's
# minimum): the server on CPU 0 (so it hashes one password at a time), browsers' sign-ins
# (load the form, post it) from bench/signin.py on CPU 1, 4 at once; the post's latency.
if wants signin; then
  [[ -z ${SERVER:-} ]] || stop
  cp "$OUT/empty.db" "$OUT/signin.db"
  export HELIOGATE_DATABASE_URL=sqlite://$OUT/signin.db
  "$BIN" user add signin-user --role reader --password-stdin <<< 'bench user password' > /dev/null
  serve "$OUT/signin.db" "$PORT"
  SERVER=$SERVED
  SIGNIN_SECONDS=${SIGNIN_SECONDS:-20}
  taskset -c 1 python3 bench/signin.py "http://127.0.0.1:$PORT" signin-user 'bench user password' 4 3 > /dev/null
  read -r rate p50 p95 p99 ok bad < <(taskset -c 1 python3 bench/signin.py \
    "http://127.0.0.1:$PORT" signin-user 'bench user password' 4 "$SIGNIN_SECONDS")
  stop
  echo
  echo "# password sign-ins, one core, default Argon2id ($(date -u +%FT%TZ)), 4 browsers for ${SIGNIN_SECONDS}s"
  printf '%-34s %9s %8s %8s %8s %6s %5s\n' scenario sign-ins/s p50_ms p95_ms p99_ms ok bad
  printf '%-34s %9s %8s %8s %8s %6s %5s\n' "sign-in (form + password)" "$rate" "$p50" "$p95" "$p99" "$ok" "$bad"
fi

# 3. Signing. (a) Client-credentials issuance of opaque tokens and of JWT access tokens (RFC
# 9068) signed ES256 and RS256, on a fresh database, then node oidc-provider issuing JWT access
# tokens (resource indicators) with each algorithm, the same request on the same core. (b) The
# authorization-code exchange with an ID token (scope `openid profile`), ES256 and RS256: each
# request redeems its own code, stored beforehand as the authorization endpoint stores them.
wants signing || exit 0
[[ -z ${SERVER:-} ]] || stop
cp "$OUT/empty.db" "$OUT/jwt.db"
export HELIOGATE_DATABASE_URL=sqlite://$OUT/jwt.db
printf '%-34s %9s %8s %9s %5s\n' scenario req/s p99_ms ok bad > "$OUT/sign.txt"
wrk_twice() { # NAME SCRIPT ARG ARGS...: the same requests throughout, into the sign table
  local name=$1 script=$2 arg=$3; shift 3
  twice sign "$name" "$script" "$arg" "$arg" "$@"
}
exchange() { # NAME CODES ARGS...: the code exchange, each request redeeming a code of CODES.warm
  # (warm-up), then of CODES.run (measured), into the sign table
  local name=$1 codes=$2; shift 2
  twice sign "$name" bench/code.lua codes="$codes.warm" codes="$codes.run" redirect_uri="$REDIRECT" \
    verifier="$VERIFIER" "$@"
}
REDIRECT=http://127.0.0.1:9/callback VERIFIER=bench-verifier-0123456789-0123456789-0123456789
CODES=${CODES:-150000}
"$BIN" user add bench-user --role reader --password-stdin <<< 'bench user password' > /dev/null
for alg in ES256 RS256; do
  made=$("$BIN" client add "code-$alg" --grant-type authorization_code --redirect-uri "$REDIRECT" \
    --scope openid --scope profile --signing-alg "$alg" --json)
  echo "$(field client_id <<< "$made") $(field client_secret <<< "$made")" > "$OUT/code-$alg.client"
  for part in warm run; do
    count=$CODES; [[ $part == warm ]] && count=$((CODES / 4))
    python3 bench/seed.py codes "$OUT/jwt.db" "$(cut -d' ' -f1 "$OUT/code-$alg.client")" bench-user \
      "$REDIRECT" "$VERIFIER" "$count" > "$OUT/code-$alg.$part"
  done
done
start "$OUT/jwt.db"
for format in opaque ES256 RS256; do
  case $format in
    opaque) flags=() ;;
    *) flags=(--access-token-format jwt --signing-alg "$format") ;;
  esac
  made=$("$BIN" client add "sign-$format" --grant-type client_credentials --scope read "${flags[@]}" --json)
  wrk_twice "heliogate token, $format" "$SHARED/wrk/token.lua" \
    path=/oauth/token client="$(field client_id <<< "$made")" secret="$(field client_secret <<< "$made")"
done
for alg in ES256 RS256; do
  read -r cid csecret < "$OUT/code-$alg.client"
  # One exchange by hand, shown, with a code of the warm-up's file.
  curl -s -u "$cid:$csecret" -d grant_type=authorization_code -d "code=$(tail -n1 "$OUT/code-$alg.warm")" \
    --data-urlencode "redirect_uri=$REDIRECT" -d "code_verifier=$VERIFIER" \
    "http://127.0.0.1:$PORT/oauth/token" | cut -c1-120 >&2
  exchange "heliogate code, $alg" "$OUT/code-$alg" client="$cid" secret="$csecret"
done
RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status")
stop

# node oidc-provider, from the shared harness's installation, with this folder's configuration.
cp bench/node-oidc-jwt.mjs "$NODE_HOME/"
for alg in ES256 RS256; do
  (cd "$NODE_HOME" && ALG=$alg NODE_ENV=production PORT=$PORT exec taskset -c 0 node node-oidc-jwt.mjs) \
    >> "$OUT/node.log" 2>&1 &
  SERVER=$!
  wait_for "http://127.0.0.1:$PORT/.well-known/openid-configuration"
  wrk_twice "node-oidc token, $alg" "$SHARED/wrk/token.lua" \
    path=/token scope=read expect=eyJ
  NODE_RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status")
  stop
done

# node oidc-provider's code exchange: the same request (client_secret_basic, PKCE, `openid
# profile`, an ID token signed with each algorithm), each redeeming a code it minted through its
# own models before listening.
for alg in ES256 RS256; do
  node_grants code "$OUT/node-$alg" ALG=$alg REDIRECT=$REDIRECT VERIFIER=$VERIFIER
  exchange "node-oidc code, $alg" "$OUT/node-$alg/codes" client=bench-code secret=bench-code-secret path=/token
  stop
done

echo
echo "# signing ($(date -u +%FT%TZ)): server on CPU 0, wrk -t1 -c32 -d$DURATION on CPU 1"
echo "# heliogate token = client-credentials issuance (opaque; JWT access token); code = code exchange with an ID token"
cat "$OUT/sign.txt"
awk '/^heliogate token, opaque/ { o = $4 } /^heliogate token, ES256/ { he = $4 } /^heliogate token, RS256/ { hr = $4 }
  /^node-oidc token, ES256/ { ne = $4 } /^node-oidc token, RS256/ { nr = $4 }
  /^heliogate code, ES256/ { ce = $4 } /^heliogate code, RS256/ { cr = $4 } /^node-oidc code, ES256/ { nce = $4 } /^node-oidc code, RS256/ { ncr = $4 }
  END {
    if (ne && nr) printf "# JWT issuance, heliogate / node oidc-provider: ES256 %.1fx, RS256 %.1fx\n", he / ne, hr / nr
    if (nce && ncr) printf "# code exchange with an ID token, heliogate / node oidc-provider: ES256 %.1fx, RS256 %.1fx\n", ce / nce, cr / ncr
    if (o) printf "# signing cost per token (1/JWT - 1/opaque): ES256 %.0f us, RS256 %.0f us\n", 1e6 / he - 1e6 / o, 1e6 / hr - 1e6 / o
  }' "$OUT/sign.txt"
echo "# RSS after load: heliogate $((RSS / 1024)) MB; node oidc-provider $((NODE_RSS / 1024)) MB"
