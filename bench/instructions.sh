#!/usr/bin/env bash
# Instructions per request of two builds, counted by valgrind (callgrind): a deterministic A/B
# of CPU cost where throughput on a shared machine drifts by more than the difference measured.
#
#   bench/instructions.sh OLD_BINARY NEW_BINARY [REQUESTS]
#
# Each build serves a fresh SQLite database (its signing keys made by a first, uncounted start),
# then answers REQUESTS tokeninfo and REQUESTS introspection requests on one connection; the
# count is taken at REQUESTS and at 3 x REQUESTS, and their difference divided by the requests
# between them, so that start-up and shutdown cancel out. User-space instructions only: the
# kernel's share of each request (the sockets) is the same for both and not in the count.
set -euo pipefail
shopt -s inherit_errexit
OLD=$(realpath "$1") NEW=$(realpath "$2") N=${3:-1000}
PORT=${PORT:-9401}
command -v valgrind > /dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }

count() { # BIN REQUESTS: instructions the server ran
  local bin=$1 n=$2 dir server
  dir=$(mktemp -d)
  export HELIOGATE_DATABASE_URL=sqlite://$dir/db HELIOGATE_LISTEN=127.0.0.1:$PORT
  export HELIOGATE_ISSUER=http://127.0.0.1:$PORT HELIOGATE_LOG=warn
  "$bin" migrate > /dev/null
  read -r id secret < <("$bin" client add bench --grant-type client_credentials --scope read \
    --introspect --json | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["client_id"], d["client_secret"])')
  wait_up() { for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$PORT/healthz" > /dev/null && return; sleep 0.2; done; }
  "$bin" serve > /dev/null 2>&1 & server=$!
  wait_up; kill "$server"; wait "$server" || true
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$bin" serve > /dev/null 2>&1 & server=$!
  wait_up
  python3 - "$id" "$secret" "$n" "$PORT" << 'PY'
import base64, http.client, json, sys
client, secret, n, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", port)
basic = "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()
form = {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}
conn.request("POST", "/oauth/token", "grant_type=client_credentials", form)
token = json.loads(conn.getresponse().read())["access_token"]
for _ in range(n):
    conn.request("GET", "/oauth/tokeninfo", headers={"Authorization": "Bearer " + token})
    assert conn.getresponse().read()
for _ in range(n):
    conn.request("POST", "/oauth/introspect", "token=" + token, form)
    body = conn.getresponse().read()
    assert b'"active":true' in body, body
PY
  kill -INT "$server"; wait "$server" || true
  awk '/^(summary|totals):/ { print $2; exit }' "$dir/cg.out"
  rm -rf "$dir"
}

per_request() { # BIN
  local low high
  low=$(count "$1" "$N"); high=$(count "$1" $((3 * N)))
  echo $(( (high - low) / (4 * N) ))
}
old=$(per_request "$OLD"); new=$(per_request "$NEW")
echo "instructions per check request (tokeninfo and introspection, half each): old $old, new $new"
python3 -c "print(f'change: {($new - $old) * 100 / $old:+.2f}%')"
