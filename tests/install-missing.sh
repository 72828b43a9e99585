#!/usr/bin/env bash
# install-missing.sh PACKAGE...: installs (apt-get, as root) each Debian package that is not installed yet, and
# nothing when all are. Used by tests/run-all.sh and bench/run.sh.
set -euo pipefail
missing=()
for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
