#!/usr/bin/env bash
# Test-only tools from PyPI, installed into a venv beside the test servers' state
# ($MAILSIG_TEST_DIR/venv-tools): openapi-python-client, which the API test uses to generate a
# Python client from the running daemon's OpenAPI 3.1 document, and ruff, the formatter that
# generator runs over its output. Pinned, so a new release cannot change what the test checks.
# Idempotent and quick once installed; scripts/test-servers.sh start and scripts/test.sh call it.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${MAILSIG_TEST_DIR:-$REPO/.test-servers}"
VENV="$DIR/venv-tools"
WANT=(openapi-python-client==0.29.1 ruff==0.17.6)

mkdir -p "$DIR"
if [[ -x "$VENV/bin/openapi-python-client" && "$(cat "$VENV/.installed" 2>/dev/null)" == "${WANT[*]}" ]]; then
    exit 0
fi
echo "test-tools: installing ${WANT[*]} into $VENV" >&2
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${WANT[@]}" >&2
printf '%s' "${WANT[*]}" >"$VENV/.installed"
