#!/usr/bin/env bash
# install-sendmail.sh [PREFIX]: puts Debian's Sendmail (sendmail-bin, sendmail-base, sendmail-cf, libmilter) into
# PREFIX (default /opt/mailscanner-actors-tests/sendmail) without installing it as a package: postfix, which the
# Postfix specs need, conflicts with sendmail-bin (both provide mail-transport-agent). The specs run this unpacked
# binary with their own .cf (sendmail -C FILE), generated with m4 from the unpacked sendmail-cf macros; the machine's
# MTA configuration and port 25 are never touched. Idempotent: does nothing when PREFIX/usr/libexec/sendmail/sendmail
# exists. Needs root (apt-get).
set -euo pipefail
prefix=${1:-/opt/mailscanner-actors-tests/sendmail}
here=$(dirname "${BASH_SOURCE[0]}")

# The unpacked binary links against these (plain libraries, no conflict with postfix); m4 builds the .cf.
bash "$here/install-missing.sh" libidn12 libwrap0 m4

if [ -x "$prefix/usr/libexec/sendmail/sendmail" ]; then
    exit 0
fi
echo "unpacking sendmail-bin, sendmail-base, sendmail-cf and libmilter1.0.1 into $prefix"
downloads=$(mktemp -d)
trap 'rm -rf "$downloads"' EXIT
packages="sendmail-bin sendmail-base sendmail-cf libmilter1.0.1"
(cd "$downloads" && apt-get download $packages >/dev/null 2>&1 || { apt-get update -qq && apt-get download $packages; })
mkdir -p "$prefix.partial"
for deb in "$downloads"/*.deb; do
    dpkg-deb -x "$deb" "$prefix.partial"
done
rm -rf "$prefix"
mv "$prefix.partial" "$prefix"
"$prefix/usr/libexec/sendmail/sendmail" -d0.1 -bt -C /dev/null </dev/null 2>&1 | head -1 || true
