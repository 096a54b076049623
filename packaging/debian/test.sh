#!/usr/bin/env bash
# Installs heliogate's package on this machine and runs what it installed, as the unit would:
#   packaging/debian/test.sh heliogate_VERSION_ARCH.deb
# Needs root; purges the package when done. .ci/run calls it.
set -euo pipefail
deb=$1
fail() { echo "packaging test: $*" >&2; exit 1; }

dpkg -i "$deb" >/dev/null
trap 'kill "$server" 2>/dev/null || true; dpkg --purge heliogate >/dev/null || true' EXIT
server=

# The files and the user, as installed; the unit as systemd reads it.
test -x /usr/bin/heliogate || fail "no /usr/bin/heliogate"
getent passwd heliogate >/dev/null || fail "no heliogate user"
[ "$(stat -c %a:%U:%G /etc/heliogate/heliogate.toml)" = "640:root:heliogate" ] \
  || fail "the settings file is $(stat -c %a:%U:%G /etc/heliogate/heliogate.toml)"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/heliogate.service \
    || fail "systemd-analyze verify refused the unit"
fi

# The server as the unit runs it (this machine's PID 1 is not systemd): its user, its working
# and state directory, its settings file; another port if 8080 is taken.
[ "$(stat -c %a:%U /var/lib/heliogate)" = "700:heliogate" ] || fail "the state directory is $(stat -c %a:%U /var/lib/heliogate)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cd /var/lib/heliogate
as_heliogate=(setpriv --reuid=heliogate --regid=heliogate --init-groups
  env -i PATH=/usr/bin:/bin HELIOGATE_LISTEN="127.0.0.1:$port"
  /usr/bin/heliogate --config /etc/heliogate/heliogate.toml)
as_service() { "${as_heliogate[@]}" "$@"; }
# A simple command, so that the PID signalled below is the server's (setpriv and env exec).
"${as_heliogate[@]}" serve 2> /tmp/heliogate-package-test.log &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { cat /tmp/heliogate-package-test.log; fail "the server did not get ready"; }
issuer=$(curl -fsS "http://127.0.0.1:$port/.well-known/openid-configuration" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issuer"])')
[ "$issuer" = "http://127.0.0.1:$port" ] || fail "issuer $issuer"
[ "$(stat -c %a:%U /var/lib/heliogate/heliogate.db)" = "600:heliogate" ] || fail "database file $(stat -c %a:%U /var/lib/heliogate/heliogate.db)"
password=/var/lib/heliogate/heliogate-admin-password
[ "$(stat -c %a:%U "$password")" = "600:heliogate" ] || fail "the first password's file is $(stat -c %a:%U "$password")"

# The doctor names the password's file left behind, and passes once it is gone.
if as_service doctor > /tmp/heliogate-doctor.out 2>&1; then fail "doctor passed with the password file left"; fi
grep -q "heliogate-admin-password still holds" /tmp/heliogate-doctor.out || { cat /tmp/heliogate-doctor.out; fail "doctor did not name the password file"; }
rm "$password"
as_service doctor > /tmp/heliogate-doctor.out 2>&1 || { cat /tmp/heliogate-doctor.out; fail "doctor found problems"; }

# The CLI as the service's user, on the same database, while the server runs.
as_service user list --json | grep -q '"admin"' || fail "user list"

kill -TERM "$server"
wait "$server" || fail "the server did not stop cleanly on SIGTERM"
server=
echo "packaging test: installed, verified, served, checked by doctor, stopped: $(basename "$deb")"
