#!/usr/bin/env bash
# Test-only tools, installed beside the test servers' state:
# - from PyPI into a venv ($MAILSIG_TEST_DIR/venv-tools): openapi-python-client, which the API test
#   uses to generate a Python client from the running daemon's OpenAPI 3.1 document, and ruff, the
#   formatter that generator runs over its output;
# - from npm ($MAILSIG_TEST_DIR/axe, from tests/a11y/package-lock.json with `npm ci --ignore-scripts`):
#   axe-core, the accessibility engine the page audit injects into the system Chromium (axe-core
#   has no dependencies and downloads no browser).
# Pinned, so a new release cannot change what the tests check.
# Idempotent and quick once installed; scripts/test-servers.sh start and scripts/test.sh call it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${MAILSIG_TEST_DIR:-$REPO/.test-servers}"
VENV="$DIR/venv-tools"
WANT=(openapi-python-client==0.29.1 ruff==0.17.6)

AXE="$DIR/axe"
AXE_SRC="$REPO/tests/a11y"

mkdir -p "$DIR"
if ! [[ -x "$VENV/bin/openapi-python-client" && "$(cat "$VENV/.installed" 2>/dev/null)" == "${WANT[*]}" ]]; then
    echo "test-tools: installing ${WANT[*]} into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${WANT[@]}" >&2
    printf '%s' "${WANT[*]}" >"$VENV/.installed"
fi

if ! [[ -f "$AXE/node_modules/axe-core/axe.min.js" ]] || ! cmp -s "$AXE_SRC/package-lock.json" "$AXE/package-lock.json"; then
    command -v npm >/dev/null || { echo "test-tools: npm is missing (scripts/test-servers.sh start installs it)" >&2; exit 1; }
    echo "test-tools: installing axe-core into $AXE" >&2
    rm -rf "$AXE"
    mkdir -p "$AXE"
    cp "$AXE_SRC/package.json" "$AXE_SRC/package-lock.json" "$AXE/"
    (cd "$AXE" && npm ci --ignore-scripts --no-audit --no-fund </dev/null >"$AXE/npm.log" 2>&1) ||
        { tail -n 30 "$AXE/npm.log" >&2; echo "test-tools: npm ci of axe-core failed" >&2; exit 1; }
fi
