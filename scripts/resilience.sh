#!/usr/bin/env bash
# The resilience suite at full size: 3 mailsigd replicas on a private PostgreSQL,
# a private Dovecot, 2,000 messages APPENDed across 50 mailboxes while replicas are SIGKILLed
# 20 times and restarted, plus a Dovecot crash, a PostgreSQL restart and an SMTP outage, and
# 400 messages to 10 Microsoft 365 mailboxes (the Graph emulator) through a 503/429 storm.
# Prints the seed and a summary (lost, duplicated, failover p50/max); exit 0 only when nothing
# was lost or duplicated. Extra arguments go to the binary, e.g. `--seed 42` to replay a run,
# `--json out.json` for the figures.
#
# Needs the test servers (Dovecot, Postfix, PostgreSQL binaries): started here if they are not
# running, and left running (other test runs may share them).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! scripts/test-servers.sh status >/dev/null 2>&1; then
    scripts/test-servers.sh start
fi
# shellcheck disable=SC1091
. "${MAILSIG_TEST_DIR:-.test-servers}/env"
# Both packages in one build: mailsigd then has the graph-test-util feature the emulator needs.
cargo build -p mailsig-tests -p mailsig-daemon --bin resilience --bin mailsigd
# The binary just built: the suite need not build (all the tests crate's targets) again.
export MAILSIGD_BIN="${MAILSIGD_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/mailsigd}"
exec "${CARGO_TARGET_DIR:-target}/debug/resilience" \
    --messages 2000 --mailboxes 50 --replicas 3 --kills 20 --seconds 120 \
    --graph-mailboxes 10 --graph-messages 400 "$@"
