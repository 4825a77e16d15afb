#!/usr/bin/env bash
# THE test command: starts the test servers (Dovecot, Postfix, PostgreSQL on 127.0.0.1, see
# scripts/test-servers.sh), exports their MAILSIG_TEST_* variables, runs the workspace's tests against
# them and stops the servers again on exit. Exits non-zero when a test fails.
#
#   scripts/test.sh                          every test of the workspace
#   scripts/test.sh -p mailsig-daemon store  extra arguments go to cargo (package selection, filters)
#
# Uses cargo-nextest when installed (one process per test, per-test timeouts from .config/nextest.toml)
# plus `cargo test --doc` for doctests, which nextest does not run; `MAILSIG_TEST_RUNNER=cargo` forces
# plain `cargo test`. Servers that already ran before the command (scripts/test-servers.sh start by
# hand, same MAILSIG_TEST_DIR, or another checkout's instance on the same ports) are reused and left
# running.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
SERVERS="$REPO/scripts/test-servers.sh"

if "$SERVERS" status >/dev/null 2>&1; then
    echo "test.sh: reusing the test servers that already run" >&2
elif other="$("$SERVERS" locate)"; then
    # Another checkout's instance holds the ports (several worktrees on one machine): share it.
    echo "test.sh: reusing the test servers of $other (left running)" >&2
    export MAILSIG_TEST_DIR="$other"
else
    "$SERVERS" start
    trap '"$SERVERS" stop' EXIT
fi
eval "$("$SERVERS" env)"

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
if [[ "$runner" == nextest ]]; then
    cargo nextest run "${selection[@]}" --all-targets --no-fail-fast "$@" || rc=$?
    # nextest exits 4 when a filter selects no test; that is not a failure of the suite.
    [[ $rc -eq 4 ]] && rc=0
    cargo test "${selection[@]}" --doc "$@" || rc=$((rc == 0 ? 1 : rc))
else
    cargo test "${selection[@]}" --all-targets --no-fail-fast "$@" || rc=$?
    cargo test "${selection[@]}" --doc "$@" || rc=$((rc == 0 ? 1 : rc))
fi
exit "$rc"
