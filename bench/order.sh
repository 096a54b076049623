#!/usr/bin/env bash
# Writes crates/heliogate/link/order.txt: the functions a server runs from its start to its first
# idle seconds and on the benchmark's requests (metadata, client-credentials issuance, opaque and
# JWT, introspection, tokeninfo, refusals), on SQLite (on one CPU) and PostgreSQL (on all), most
# instructions first.
# The release link puts them first in the binary (crates/heliogate/build.rs), so that the pages
# of code a running server has mapped are few. Run it after a change of dependencies, of the
# compiler or of the serving path; `bench/order.sh --check` says how much of the list the
# current release binary still has.
#
#   bench/order.sh            # needs valgrind (apt install valgrind) and PostgreSQL
#   bench/order.sh --check
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ORDER=$ROOT/crates/heliogate/link/order.txt
POSTGRES=${HELIOGATE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
PORT=${PORT:-9006}
cargo build --release --quiet -p heliogate
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/heliogate

# The share of the listed functions the binary has, by name, and how much of its code they
# span: about their own size when the link laid them out, far more when it did not.
check() {
  python3 - "$BIN" "$ORDER" <<'EOF'
import subprocess, sys
binary, order = sys.argv[1:]
symbols = {}
for line in subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True, text=True,
                           check=True).stdout.splitlines():
    fields = line.split()
    if len(fields) == 4:
        symbols[fields[3]] = (int(fields[0], 16), int(fields[1], 16))
listed = [l.split("#")[0].strip() for l in open(order)]
listed = [l for l in listed if l]
found = [symbols[l] for l in listed if l in symbols]
span = (max(a + n for a, n in found) - min(a for a, _ in found)) if found else 0
print(f"{len(found)} of the {len(listed)} listed functions are in {binary} "
      f"({100 * len(found) // max(len(listed), 1)} %); they span {span / 1e6:.1f} MB of its code, "
      f"their own size {sum(n for _, n in found) / 1e6:.1f} MB")
EOF
}
if [[ ${1:-} == --check ]]; then check; exit; fi
command -v valgrind > /dev/null || { echo "bench/order.sh needs valgrind" >&2; exit 1; }

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# The first CPU this process may use: a server on one CPU runs its tasks on one thread, with
# another scheduler's functions than a server on several.
ONE_CPU=$(awk '/^Cpus_allowed_list:/ { split($2, a, /[,-]/); print a[1] }' /proc/self/status)
profile() { # NAME DATABASE_URL [CPUS]: a callgrind profile of one server's life in $OUT/NAME.out
  local pin=()
  [[ -z ${3:-} ]] || pin=(taskset -c "$3")
  export HELIOGATE_DATABASE_URL=$2 HELIOGATE_LISTEN=127.0.0.1:$PORT
  export HELIOGATE_ISSUER=http://127.0.0.1:$PORT HELIOGATE_LOG=warn
  local url=http://127.0.0.1:$PORT
  (
    cd "$OUT"
    "$BIN" migrate > /dev/null
    field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
    local json id secret jwt_id jwt_secret
    json=$("$BIN" client add bench --grant-type client_credentials --scope read --json)
    id=$(field client_id <<< "$json") secret=$(field client_secret <<< "$json")
    json=$("$BIN" client add bench-jwt --grant-type client_credentials --scope read \
      --access-token-format jwt --signing-alg ES256 --resource https://api.example --json)
    jwt_id=$(field client_id <<< "$json") jwt_secret=$(field client_secret <<< "$json")
    "${pin[@]}" valgrind --tool=callgrind --dump-instr=no --compress-strings=no --demangle=no \
      --callgrind-out-file="$OUT/$1.out" "$BIN" serve 2> "$OUT/$1.log" &
    local server=$!
    for _ in $(seq 600); do curl -sf -o /dev/null "$url/healthz" && break; sleep 0.5; done
    sleep 3
    for _ in 1 2 3; do
      curl -s -o /dev/null "$url/.well-known/openid-configuration"
      curl -s -o /dev/null "$url/.well-known/oauth-authorization-server"
      curl -s -o /dev/null "$url/oauth/jwks"
      local token
      token=$(curl -s -u "$id:$secret" -d 'grant_type=client_credentials&scope=read' "$url/oauth/token" |
        field access_token)
      curl -s -o /dev/null -u "$id:$secret" -d "token=$token" "$url/oauth/introspect"
      curl -s -o /dev/null -H "Authorization: Bearer $token" "$url/oauth/tokeninfo"
      curl -s -o /dev/null -u "$jwt_id:$jwt_secret" \
        -d 'grant_type=client_credentials&scope=read&resource=https://api.example' "$url/oauth/token"
      curl -s -o /dev/null -u "$id:$secret" -d 'token=unknown' "$url/oauth/introspect"
      curl -s -o /dev/null -u "$id:wrong" -d 'grant_type=client_credentials' "$url/oauth/token"
      curl -s -o /dev/null "$url/healthz"
      curl -s -o /dev/null "$url/login"
    done
    sleep 2
    kill -INT "$server"
    wait "$server"
  )
}
# SQLite on one CPU, PostgreSQL on all: both schedulers, both engines.
profile sqlite "sqlite://$OUT/order.db" "$ONE_CPU"
db=heliogate_order_$$
psql -q "$POSTGRES" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" > /dev/null
profile postgres "$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$POSTGRES" "$db")"
psql -q "$POSTGRES" -c "DROP DATABASE $db" > /dev/null

# The binary's functions in the profiles, each once, most instructions first.
python3 - "$BIN" "$OUT/sqlite.out" "$OUT/postgres.out" > "$OUT/order.txt" <<'EOF'
import collections, sys
binary, profiles = sys.argv[1], sys.argv[2:]
cost, seen = collections.Counter(), set()
for path in profiles:
    ob = fn = cob = None
    after_call = False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("ob="):
            ob = line[3:]
        elif line.startswith("fn="):
            fn = line[3:] if ob == binary else None
            if fn:
                seen.add(fn)
        elif line.startswith("cob="):
            cob = line[4:]
        elif line.startswith("cfn="):
            if (cob or ob) == binary:
                seen.add(line[4:])
            cob = None
        elif line.startswith("calls="):
            after_call = True
        elif fn and line[:1].isdigit():
            if after_call:  # the cost of a call, counted in the callee
                after_call = False
            else:
                cost[fn] += int(line.split()[1])
print("# The functions a running heliogate executes, most instructions first: the release link")
print("# puts them first in the binary's code (build.rs). Made by bench/order.sh; a name that no")
print("# longer matches a function is skipped.")
# callgrind names a recursive call's frames `name'2`, …; `0x…` and `(below main)` are no symbols.
names = collections.Counter()
for name, n in cost.items():
    names[name.split("'")[0]] += n
for name in seen:
    names[name.split("'")[0]] += 0
for name in sorted(names, key=lambda n: (-names[n], n)):
    if not name.startswith(("0x", "(")):
        print(name)
EOF
mv "$OUT/order.txt" "$ORDER"
echo "$(grep -vc '^#' "$ORDER") functions written to $ORDER" >&2
cargo build --release --quiet -p heliogate
check
