#!/usr/bin/env bash
# THE test command: starts the test servers (Dovecot, Postfix, PostgreSQL on 127.0.0.1, see
# scripts/test-servers.sh), exports their MAILSIG_TEST_* variables, runs the workspace's tests against
# them and stops the servers again on exit. Exits non-zero when a test fails.
#
#   scripts/test.sh                          every test of the workspace
#   scripts/test.sh -p mailsig-daemon store  extra arguments go to cargo (package selection, filters)
#
# Every target is tested: libs, binaries, integration tests, examples, benches (each benchmark run once,
# in test mode) and doctests. Uses cargo-nextest when installed (one process per test, per-test
# timeouts from .config/nextest.toml), with `cargo test` for the benches and doctests, which nextest
# does not run; `MAILSIG_TEST_RUNNER=cargo` forces plain `cargo test`. Servers that already ran before the command (scripts/test-servers.sh start by
# hand, same MAILSIG_TEST_DIR, or another checkout's instance on the same ports) are reused and left
# running.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
SERVERS="$REPO/scripts/test-servers.sh"

if "$SERVERS" status >/dev/null 2>&1; then
    echo "test.sh: reusing the test servers that already run" >&2
elif other="$("$SERVERS" locate)"; then
    # Another checkout's instance holds the ports (several checkouts on one machine): share it.
    echo "test.sh: reusing the test servers of $other (left running)" >&2
    export MAILSIG_TEST_DIR="$other"
else
    "$SERVERS" start
    trap '"$SERVERS" stop' EXIT
fi
eval "$("$SERVERS" env)"
# The generator of the API client test (also installed by `start`; servers started by an older
# checkout may lack it).
"$REPO/scripts/test-tools.sh"

# Without an explicit package selection, test the whole workspace.
selection=(--workspace)
for arg in "$@"; do
    case "$arg" in
    -p | --package | --package=* | -p* | --manifest-path | --manifest-path=*) selection=() ;;
    esac
done

runner="${MAILSIG_TEST_RUNNER:-auto}"
if [[ "$runner" == auto ]]; then
    if cargo nextest --version >/dev/null 2>&1; then runner=nextest; else runner=cargo; fi
fi

rc=0
record() { [[ $rc -ne 0 ]] || rc=$1; }
if [[ "$runner" == nextest ]]; then
    # nextest lists tests by parsing each binary's `--list` output, which criterion benches
    # (harness = false) do not follow; they run once each in test mode through cargo below.
    cargo nextest run "${selection[@]}" --lib --bins --tests --examples --no-fail-fast "$@" || {
        code=$?
        # 4: the filter selected no test here, which is not a failure of the suite.
        [[ $code -eq 4 ]] || record "$code"
    }
    cargo test "${selection[@]}" --benches "$@" || record $?
else
    cargo test "${selection[@]}" --all-targets --no-fail-fast "$@" || record $?
fi
cargo test "${selection[@]}" --doc "$@" || record $?
exit "$rc"
