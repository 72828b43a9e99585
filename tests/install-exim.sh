#!/usr/bin/env bash
# install-exim.sh [PREFIX]: puts Debian's Exim (exim4-daemon-light, exim4-base) into PREFIX (default
# /opt/mailscanner-actors-tests/exim4) without installing it as a package: postfix, which the Postfix specs need,
# conflicts with every exim4-daemon package (both provide mail-transport-agent). The specs run this unpacked
# binary with their own configuration (exim4 -C FILE); the machine's MTA configuration and port 25 are never
# touched. Idempotent: does nothing when PREFIX/usr/sbin/exim4 exists. Needs root (apt-get, useradd).
set -euo pipefail
prefix=${1:-/opt/mailscanner-actors-tests/exim4}
here=$(dirname "${BASH_SOURCE[0]}")

# The unpacked binary links against these (plain libraries, no conflict with postfix).
bash "$here/install-missing.sh" libidn12 libwrap0

# Exim checks at start-up that its compiled-in exim user exists, before it reads any configuration.
if ! getent passwd Debian-exim >/dev/null; then
    getent group Debian-exim >/dev/null || groupadd --system Debian-exim
    useradd --system --gid Debian-exim --home-dir /var/spool/exim4 --no-create-home --shell /usr/sbin/nologin Debian-exim
fi

if [ -x "$prefix/usr/sbin/exim4" ]; then
    exit 0
fi
echo "unpacking exim4-daemon-light and exim4-base into $prefix"
downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
(cd "$downloads" && apt-get download exim4-daemon-light exim4-base >/dev/null 2>&1 || { apt-get update -qq && apt-get download exim4-daemon-light exim4-base; })
mkdir -p "$prefix.partial"
for deb in "$downloads"/*.deb; do
    dpkg-deb -x "$deb" "$prefix.partial"
done
rm -rf "$prefix"
mv "$prefix.partial" "$prefix"
"$prefix/usr/sbin/exim4" -bV -C /dev/null | head -1
