#!/usr/bin/env bash
# Builds heliogate's Debian package from a built binary:
#   packaging/debian/build.sh target/release/heliogate OUT_DIR
# The package holds the binary, the systemd unit and the settings file (a conffile); its
# postinst makes the `heliogate` system user. Nothing starts until an administrator enables
# the unit, having set the issuer.
set -euo pipefail
binary=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
version=$("$binary" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)

# The package names the libraries the binary needs: refuse one it does not know how to name.
needed=$(objdump -p "$binary" | awk '/NEEDED/ {print $2}' | sort)
for lib in $needed; do
  case $lib in
    libc.so.6|libm.so.6|ld-linux*) ;;
    libgcc_s.so.1) ;;
    libssl.so.3|libcrypto.so.3) ;;
    *) echo "build.sh: the binary needs $lib, which the package does not depend on" >&2; exit 1 ;;
  esac
done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$binary" "$root/usr/bin/heliogate"
strip --strip-unneeded "$root/usr/bin/heliogate"
install -D -m 0644 "$here/heliogate.service" "$root/lib/systemd/system/heliogate.service"
install -D -m 0640 "$here/heliogate.toml" "$root/etc/heliogate/heliogate.toml"
install -D -m 0644 "$here/copyright" "$root/usr/share/doc/heliogate/copyright"
mkdir -p "$root/DEBIAN"
install -m 0755 "$here/postinst" "$here/postrm" "$root/DEBIAN/"
echo /etc/heliogate/heliogate.toml > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: heliogate
Version: $version
Architecture: $arch
Maintainer: heliogate maintainers <maintainers@heliogate.invalid>
Depends: libc6 (>= 2.34), libgcc-s1, libssl3, adduser
Section: net
Priority: optional
Installed-Size: $size
Description: sign-in and authorization server (OAuth 2, OpenID Connect)
 heliogate signs people in with a browser session and gives scripts, notebooks and
 services OAuth 2 and OpenID Connect tokens; resource servers ask it what a token may do.
 One binary, SQLite by default, PostgreSQL for several nodes.
CONTROL
mkdir -p "$out"
dpkg-deb --root-owner-group --build "$root" "$out/heliogate_${version}_${arch}.deb" >/dev/null
echo "$out/heliogate_${version}_${arch}.deb"
