#!/usr/bin/env bash
# Start, stop and inspect the real servers the end-to-end tests talk to: Dovecot (IMAP), Postfix (SMTP
# submission with AUTH, delivering into Dovecot by LMTP), PostgreSQL 15, NSD (an authoritative DNS
# server for the zone test. with DKIM keys made at start, SPF and DMARC records) and an OpenID Connect /
# OAuth 2.0 provider (oidc-provider on Node, tests/servers/oidc/) against which Dovecot validates the bearer
# tokens of IMAP and SMTP XOAUTH2/OAUTHBEARER logins by introspection, and Radicale (CardDAV over TLS with
# htpasswd users), all on 127.0.0.1 with non-standard
# ports and all state under one directory.
#
# Usage: scripts/test-servers.sh start|stop|status|env
#
#   start   install missing Debian packages, make a throwaway CA and server certificate, start the three
#           servers, wait until every port answers, write $MAILSIG_TEST_DIR/env. A no-op when this
#           directory's servers already run and answer; a clean restart when only some of them do.
#   stop    stop the servers started from this directory (SIGTERM/SIGINT, SIGKILL after 20 s). No-op when
#           nothing runs.
#   status  print which server runs; exit 0 when all do, 3 otherwise.
#   env     print the `export` lines of $MAILSIG_TEST_DIR/env (eval "$(scripts/test-servers.sh env)").
#   locate  print the directory of a running instance (any MAILSIG_TEST_DIR) that serves this IMAP port;
#           exit 1 when there is none. scripts/test.sh uses it to share one instance between checkouts.
#
# Environment (all optional): MAILSIG_TEST_DIR (default <repo>/.test-servers), MAILSIG_TEST_IMAP_PORT
# (10143), MAILSIG_TEST_IMAPS_PORT (10993), MAILSIG_TEST_SMTP_PORT (2587), MAILSIG_TEST_SMTPS_PORT (2465),
# MAILSIG_TEST_PG_PORT (15432), MAILSIG_TEST_DNS_PORT (10053, UDP and TCP), MAILSIG_TEST_OIDC_PORT (19080),
# MAILSIG_TEST_CARDDAV_PORT (15232).
# Several instances can run side by side with different dirs and ports.
#
# Needs root (Dovecot and Postfix start as root and drop privileges; initdb runs as user postgres).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${MAILSIG_TEST_DIR:-$REPO/.test-servers}"
IMAP_PORT="${MAILSIG_TEST_IMAP_PORT:-10143}"
IMAPS_PORT="${MAILSIG_TEST_IMAPS_PORT:-10993}"
SMTP_PORT="${MAILSIG_TEST_SMTP_PORT:-2587}"
SMTPS_PORT="${MAILSIG_TEST_SMTPS_PORT:-2465}"
PG_PORT="${MAILSIG_TEST_PG_PORT:-15432}"
DNS_PORT="${MAILSIG_TEST_DNS_PORT:-10053}"
OIDC_PORT="${MAILSIG_TEST_OIDC_PORT:-19080}"
CARDDAV_PORT="${MAILSIG_TEST_CARDDAV_PORT:-15232}"
PG_BIN="${MAILSIG_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}"
# chromium + chromium-driver: the web pages' end-to-end test drives headless Chromium over WebDriver.
# nsd + bind9-dnsutils (dig): the DNS server behind the sender-authentication tests, and its readiness probe.
# python3-radicale + python3-bcrypt: the CardDAV server (library only: no init script, no system service).
PACKAGES=(dovecot-imapd dovecot-lmtpd postfix postgresql-15 postgresql-client-15 openssl iproute2 chromium chromium-driver
    nsd bind9-dnsutils python3-radicale python3-bcrypt)

# Absolute path, so that the env file and the configs stay valid from any working directory.
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
TLS="$DIR/tls"
DOV="$DIR/dovecot"
PFX="$DIR/postfix"
PG="$DIR/postgres"
DNS="$DIR/dns"
OIDC="$DIR/oidc"
RAD="$DIR/radicale"

log() { printf 'test-servers: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints the last lines of a server's log so a failure explains itself.
log_tail() {
    local file="$1"
    if [[ -f "$file" ]]; then
        log "last lines of $file:"
        tail -n 30 "$file" | sed 's/^/    /' >&2
    fi
}

# A zombie is not alive (PID 1 of a container does not always reap the daemons' exited masters).
pid_alive() {
    [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && ! grep -qE '^[0-9]+ \(.*\) Z' "/proc/$1/stat" 2>/dev/null
}
read_pid() { [[ -f "$1" ]] && head -n 1 "$1" | tr -dc '0-9' || true; }
dovecot_pid() { read_pid "$DOV/run/master.pid"; }
postfix_pid() { read_pid "$PFX/queue/pid/master.pid"; }
postgres_pid() { read_pid "$PG/data/postmaster.pid"; }
nsd_pid() { read_pid "$DNS/nsd.pid"; }
oidc_pid() { read_pid "$OIDC/oidc.pid"; }
radicale_pid() { read_pid "$RAD/radicale.pid"; }

port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
all_ports() { echo "$IMAP_PORT $IMAPS_PORT $SMTP_PORT $SMTPS_PORT $PG_PORT"; }

# ---------------------------------------------------------------------------------------------- install
install_missing() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ $EUID -eq 0 ]] || die "packages missing (${missing[*]}) and not root: run as root"
    log "installing from Debian: ${missing[*]}"
    # Nothing may auto-start on install: the servers here run from private configs only.
    local own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    } </dev/null >"$DIR/apt.log" 2>&1 || rc=$?
    [[ $own_policy -eq 1 ]] && rm -f /usr/sbin/policy-rc.d
    if [[ $rc -ne 0 ]]; then
        log_tail "$DIR/apt.log"
        die "apt-get install failed (rc $rc)"
    fi
}

# ------------------------------------------------------------------------------------------------ TLS
# A CA plus a leaf certificate: rustls refuses a self-signed CA:TRUE certificate used as its own end
# entity (CaUsedAsEndEntity). A second, unrelated CA signs a certificate that clients must refuse.
make_ca_and_leaf() {
    local out="$1" cn="$2"
    mkdir -p "$out"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$cn" \
        -keyout "$out/ca.key" -out "$out/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$out/server.key" -out "$out/server.csr" >/dev/null 2>&1
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$out/leaf.ext"
    openssl x509 -req -in "$out/server.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
        -days 30 -extfile "$out/leaf.ext" -out "$out/server.pem" >/dev/null 2>&1
    cat "$out/server.pem" "$out/ca.pem" >"$out/fullchain.pem"
    chmod 644 "$out"/*.pem "$out/server.key"
}

# -------------------------------------------------------------------------------------------- Dovecot
write_dovecot_conf() {
    mkdir -p "$DOV/run" "$DOV/state" "$DOV/mail" "$DOV/users.d"
    chown nobody:nogroup "$DOV/mail"
    touch "$DOV/users"
    chmod 666 "$DOV/users"
    chmod 777 "$DOV/users.d"
    cat >"$DOV/dovecot.conf" <<EOF
# Generated by scripts/test-servers.sh; self-contained, never reads /etc/dovecot.
base_dir = $DOV/run
state_dir = $DOV/state
protocols = imap lmtp
listen = 127.0.0.1
log_path = $DOV/dovecot.log
ssl = yes
ssl_cert = <$TLS/fullchain.pem
ssl_key = <$TLS/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
mail_location = maildir:$DOV/mail/%u/Maildir
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
postmaster_address = postmaster@localhost
# Hundreds of concurrent connections from one IP and one uid (load tests).
default_process_limit = 5000
default_client_limit = 20000
mail_max_userip_connections = 100000
# Users: one file per user in users.d/<name> (what the test harness writes: a new file is seen at
# once), or lines in the users file (re-read at most once a second, so a login right after an append
# can fail). Both hold lines like  alice:{PLAIN}alicepw::::::
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u $DOV/users.d/%u
}
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u $DOV/users
}
# OAuth 2.0 bearer tokens (IMAP and, through auth-postfix, SMTP): validated by RFC 7662 introspection at the
# test OpenID provider. The login name must equal the token's username attribute (the provider's account id).
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DOV/dovecot-oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$DOV/mail/%u allow_all_users=yes
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
  service_count = 0
  process_min_avail = 2
  client_limit = 5000
}
service imap {
  process_limit = 5000
}
service anvil {
  client_limit = 20000
  # No per-IP auth penalty (2, 4, 8, 15 s more after each failed login from 127.0.0.1): every test
  # logs in from there, and a delay longer than a test's 5-second OAuth token outlives the token.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  client_limit = 20000
  unix_listener auth-postfix {
    mode = 0666
  }
}
service lmtp {
  unix_listener lmtp-postfix {
    mode = 0666
  }
}
protocol lmtp {
  # rcpt carol@anything -> Dovecot user carol
  auth_username_format = %Ln
}
EOF
    # The URL's user:password is the resource server's client authentication (HTTP Basic); `post` sends
    # token=<bearer> as the form body.
    cat >"$DOV/dovecot-oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = http://dovecot:dovecot-secret@127.0.0.1:$OIDC_PORT/token/introspection
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF
}

start_dovecot() {
    write_dovecot_conf
    : >"$DOV/dovecot.log"
    if ! dovecot -c "$DOV/dovecot.conf" </dev/null >>"$DOV/dovecot.stdio.log" 2>&1; then
        cat "$DOV/dovecot.stdio.log" >&2
        log_tail "$DOV/dovecot.log"
        die "dovecot failed to start"
    fi
}

# -------------------------------------------------------------------------------------------- Postfix
write_postfix_conf() {
    mkdir -p "$PFX/conf" "$PFX/queue" "$PFX/data"
    chown postfix:postfix "$PFX/data"
    cat >"$PFX/conf/main.cf" <<EOF
# Generated by scripts/test-servers.sh: private config and queue, no syslog, every accepted message is
# delivered by LMTP into the test Dovecot (rcpt <user>@<anything> -> Dovecot user <user>).
compatibility_level = 3.6
queue_directory = $PFX/queue
data_directory = $PFX/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mailsig-test.localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
biff = no
maillog_file_prefixes = /var, /dev/stdout, /tmp, $PFX
maillog_file = $PFX/postfix.log
default_transport = lmtp:unix:$DOV/run/lmtp-postfix
relay_transport = lmtp:unix:$DOV/run/lmtp-postfix
local_transport = lmtp:unix:$DOV/run/lmtp-postfix
smtpd_tls_cert_file = $TLS/fullchain.pem
smtpd_tls_key_file = $TLS/server.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DOV/run/auth-postfix
smtpd_sasl_auth_enable = yes
broken_sasl_auth_clients = yes
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
# Tests send fast and in parallel; do not slow down or reject bursts from 127.0.0.1.
smtpd_client_connection_rate_limit = 0
smtpd_error_sleep_time = 0
default_process_limit = 200
# The default 2048 truncates long XOAUTH2 initial responses (real JWT access tokens are ~2.5 kB).
line_length_limit = 16384
EOF
    cat >"$PFX/conf/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SMTP_PORT inet n - n - - smtpd -o smtpd_tls_security_level=encrypt
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

start_postfix() {
    write_postfix_conf
    # A failed `postfix start` without a tty prints nothing; the reason is in maillog_file.
    if ! postfix -c "$PFX/conf" start </dev/null >"$PFX/start.log" 2>&1; then
        cat "$PFX/start.log" >&2
        log_tail "$PFX/postfix.log"
        die "postfix failed to start"
    fi
}

# ----------------------------------------------------------------------------------------- PostgreSQL
start_postgres() {
    mkdir -p "$PG"
    chown postgres:postgres "$PG"
    if [[ ! -f "$PG/data/PG_VERSION" ]]; then
        if ! runuser -u postgres -- "$PG_BIN/initdb" -D "$PG/data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 -N </dev/null >"$PG/initdb.log" 2>&1; then
            log_tail "$PG/initdb.log"
            die "initdb failed"
        fi
    fi
    # fsync off: throwaway data, speed matters. max_connections: every test has its own pool.
    if ! runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG/data" -l "$PG/postgres.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500" \
        start </dev/null >"$PG/pg_ctl.log" 2>&1; then
        cat "$PG/pg_ctl.log" >&2
        log_tail "$PG/postgres.log"
        die "postgresql failed to start"
    fi
}

# ------------------------------------------------------------------------------------------------ DNS
# One zone, test., for the sender-authentication tests (authoritative for the whole name space a DMARC
# tree walk climbs, so `_dmarc.test` is a clean NXDOMAIN), with keys made here (never committed):
#   example.test   DKIM selectors rsa2026 (RSA-2048) and ed2026 (Ed25519), SPF, DMARC p=reject
#   nodmarc.test   DKIM selector sel1 (RSA-2048) and SPF, but no DMARC record
#   attacker.test  DKIM selector evil (RSA-2048), SPF, DMARC: valid signatures of a domain other than From's
# Private keys: $DNS/keys/<domain>.<selector>.pem (PKCS#8), which the tests sign with.
dkim_txt_rsa() {
    local p
    p="$(openssl pkey -in "$1" -pubout -outform DER | base64 -w0)"
    # A TXT character-string holds at most 255 bytes: split the 392-character key into quoted chunks.
    printf '( "v=DKIM1; k=rsa; p=" %s )' "$(printf '%s' "$p" | fold -w 200 | sed 's/.*/"&"/' | tr '\n' ' ')"
}

write_dns_zone() {
    mkdir -p "$DNS/keys"
    local k="$DNS/keys" ed_p d
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/example.test.rsa2026.pem" 2>/dev/null
    openssl genpkey -algorithm ED25519 -out "$k/example.test.ed2026.pem" 2>/dev/null
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/nodmarc.test.sel1.pem" 2>/dev/null
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/attacker.test.evil.pem" 2>/dev/null
    chmod 644 "$k"/*.pem
    # Ed25519 (RFC 8463): p= is the raw 32-byte public key, not the SubjectPublicKeyInfo.
    ed_p="$(openssl pkey -in "$k/example.test.ed2026.pem" -pubout -outform DER | tail -c 32 | base64 -w0)"
    {
        printf '$ORIGIN test.\n$TTL 300\n'
        printf '@ IN SOA ns1.test. hostmaster.test. ( %s 3600 600 86400 300 )\n' "$(date +%s)"
        printf '@ IN NS ns1.test.\nns1 IN A 127.0.0.1\n'
        for d in example nodmarc attacker; do
            printf '%s IN A 127.0.0.1\n%s IN TXT "v=spf1 ip4:127.0.0.0/8 -all"\n' "$d" "$d"
        done
        printf '_dmarc.example IN TXT "v=DMARC1; p=reject; adkim=r; aspf=r"\n'
        printf 'rsa2026._domainkey.example IN TXT %s\n' "$(dkim_txt_rsa "$k/example.test.rsa2026.pem")"
        printf 'ed2026._domainkey.example IN TXT "v=DKIM1; k=ed25519; p=%s"\n' "$ed_p"
        printf 'sel1._domainkey.nodmarc IN TXT %s\n' "$(dkim_txt_rsa "$k/nodmarc.test.sel1.pem")"
        printf '_dmarc.attacker IN TXT "v=DMARC1; p=none"\n'
        printf 'evil._domainkey.attacker IN TXT %s\n' "$(dkim_txt_rsa "$k/attacker.test.evil.pem")"
    } >"$DNS/test.zone"
    cat >"$DNS/nsd.conf" <<EOF
# Generated by scripts/test-servers.sh: authoritative only, loopback, no chroot, no database file.
server:
  ip-address: 127.0.0.1@$DNS_PORT
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "$DNS"
  database: ""
  zonelistfile: "$DNS/zone.list"
  xfrdfile: "$DNS/xfrd.state"
  pidfile: "$DNS/nsd.pid"
  logfile: "$DNS/nsd.log"
  server-count: 1
  verbosity: 1
  hide-version: yes
remote-control:
  control-enable: no
zone:
  name: test
  zonefile: test.zone
EOF
    nsd-checkzone test "$DNS/test.zone" >/dev/null || die "the test zone does not check"
}

dns_answers() {
    [[ -n "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$DNS_PORT" test SOA 2>/dev/null)" ]]
}

start_nsd() {
    rm -rf "$DNS"
    write_dns_zone
    # -d: foreground (no fork, so the pid file names this process); setsid: its own session, so the
    # caller's terminal or job control does not take it down.
    setsid nsd -d -c "$DNS/nsd.conf" </dev/null >"$DNS/nsd.stdout" 2>&1 &
    local deadline=$((SECONDS + 30))
    until dns_answers; do
        if ((SECONDS > deadline)); then
            log_tail "$DNS/nsd.log"
            log_tail "$DNS/nsd.stdout"
            die "nsd does not answer on 127.0.0.1:$DNS_PORT"
        fi
        sleep 0.05
    done
}

# NSD joined the servers after the other three: an instance whose mail and database servers already
# run gets its DNS server added without restarting them.
ensure_nsd() {
    local pid
    pid="$(nsd_pid)"
    pid_alive "$pid" && dns_answers && return 0
    install_missing
    if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    start_nsd
}

# ------------------------------------------------------------------------------------------------ OIDC
# oidc-provider (tests/servers/oidc: package.json, package-lock.json, server.mjs) installed with `npm ci` into
# $OIDC/app, two RSA signing keys made here ($OIDC/keys/sig-a.pem signs, sig-b.pem is only published; a test
# that rotates keys starts its own instance of $OIDC/app/server.mjs). State is in memory: a restart forgets
# every token and grant.
oidc_answers() { curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$OIDC_PORT/.well-known/openid-configuration"; }

install_oidc() {
    local src="$REPO/tests/servers/oidc"
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        [[ $EUID -eq 0 ]] || die "node/npm missing and not root: run as root"
        log "installing from Debian: nodejs npm"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm \
            </dev/null >>"$DIR/apt.log" 2>&1 || { log_tail "$DIR/apt.log"; die "apt-get install nodejs npm failed"; }
    fi
    mkdir -p "$OIDC/app"
    cp "$src/server.mjs" "$OIDC/app/server.mjs"
    if ! cmp -s "$src/package-lock.json" "$OIDC/app/package-lock.json" || [[ ! -d "$OIDC/app/node_modules" ]]; then
        cp "$src/package.json" "$src/package-lock.json" "$OIDC/app/"
        (cd "$OIDC/app" && npm ci --no-audit --no-fund </dev/null >"$OIDC/npm.log" 2>&1) ||
            { log_tail "$OIDC/npm.log"; die "npm ci for the OpenID provider failed"; }
    fi
    mkdir -p "$OIDC/keys"
    local k
    for k in sig-a sig-b; do
        [[ -f "$OIDC/keys/$k.pem" ]] ||
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$OIDC/keys/$k.pem" 2>/dev/null
    done
    chmod 644 "$OIDC/keys"/*.pem
}

start_oidc() {
    install_oidc
    # setsid: its own session, so the caller's terminal or job control does not take it down.
    # exec: the pid recorded is node's own.
    (
        cd "$OIDC/app" || exit 1
        OIDC_PORT="$OIDC_PORT" OIDC_KEYS="$OIDC/keys/sig-a.pem,$OIDC/keys/sig-b.pem" \
            exec setsid node server.mjs </dev/null >"$OIDC/oidc.log" 2>&1
    ) &
    echo $! >"$OIDC/oidc.pid"
    local deadline=$((SECONDS + 30))
    until oidc_answers; do
        if ((SECONDS > deadline)) || ! pid_alive "$(oidc_pid)"; then
            log_tail "$OIDC/oidc.log"
            die "the OpenID provider does not answer on 127.0.0.1:$OIDC_PORT"
        fi
        sleep 0.05
    done
}

# The OpenID provider and the OAuth passdb joined after the other servers: an instance whose mail servers
# already run gains them without a restart (new configs, then a reload).
ensure_oidc() {
    local pid
    pid="$(oidc_pid)"
    # Restarted too when the repository's server.mjs changed (its state is in memory: tokens
    # issued before are gone).
    if ! { pid_alive "$pid" && oidc_answers; } ||
        ! cmp -s "$REPO/tests/servers/oidc/server.mjs" "$OIDC/app/server.mjs"; then
        if pid_alive "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            while pid_alive "$pid"; do sleep 0.05; done
        fi
        start_oidc
    fi
    if ! grep -q 'driver = oauth2' "$DOV/dovecot.conf" 2>/dev/null ||
        ! grep -q 'anvil-auth-penalty' "$DOV/dovecot.conf" 2>/dev/null; then
        write_dovecot_conf
        dovecot -c "$DOV/dovecot.conf" reload </dev/null >>"$DOV/dovecot.stdio.log" 2>&1 || die "dovecot reload failed"
        # A disabled listener leaves its old socket behind; without the file the auth processes
        # started by the reload run without the penalty (with it they retry it for 5 s).
        rm -f "$DOV/run/anvil-auth-penalty"
    fi
    if ! grep -q '^line_length_limit' "$PFX/conf/main.cf" 2>/dev/null; then
        write_postfix_conf
        postfix -c "$PFX/conf" reload </dev/null >>"$PFX/start.log" 2>&1 || die "postfix reload failed"
    fi
}

# ------------------------------------------------------------------------------------------- Radicale
# CardDAV (RFC 6352) over TLS with the test CA's leaf, htpasswd users with bcrypt (cost 4, so logins
# stay fast): carddav / carddav-password owns the address books under /carddav/, other /
# other-password must not reach them. Debian's 3.1.8 takes one htpasswd scheme per file. Debian's own
# /usr/bin/python3 runs it (a python3 earlier on the PATH, e.g. pyenv's, lacks the Debian modules).
write_radicale_conf() {
    mkdir -p "$RAD/collections"
    /usr/bin/python3 - "$RAD/users" <<'PY'
import sys, bcrypt
with open(sys.argv[1], "w") as f:
    for user, password in (("carddav", b"carddav-password"), ("other", b"other-password")):
        f.write(user + ":" + bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode() + "\n")
PY
    cat >"$RAD/config" <<EOF
# Generated by scripts/test-servers.sh: loopback, TLS, htpasswd, each user sees only their own.
[server]
hosts = 127.0.0.1:$CARDDAV_PORT
ssl = True
certificate = $TLS/server.pem
key = $TLS/server.key

[auth]
type = htpasswd
htpasswd_filename = $RAD/users
htpasswd_encryption = bcrypt
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = $RAD/collections

[logging]
level = warning
EOF
}

carddav_answers() { port_answers "$CARDDAV_PORT"; }

start_radicale() {
    rm -rf "$RAD"
    write_radicale_conf
    # --config FILE: only that file and the built-in defaults (never /etc/radicale/config).
    setsid /usr/bin/python3 -m radicale --config "$RAD/config" </dev/null >"$RAD/radicale.log" 2>&1 &
    echo $! >"$RAD/radicale.pid"
    local deadline=$((SECONDS + 30))
    until carddav_answers; do
        if ((SECONDS > deadline)); then
            log_tail "$RAD/radicale.log"
            die "radicale does not answer on 127.0.0.1:$CARDDAV_PORT"
        fi
        sleep 0.05
    done
}

# Radicale joined after the others: a running instance gets it added without a restart.
ensure_radicale() {
    local pid
    pid="$(radicale_pid)"
    pid_alive "$pid" && carddav_answers && return 0
    install_missing
    if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    start_radicale
}

# ------------------------------------------------------------------------------------------------ env
write_env() {
    cat >"$DIR/env" <<EOF
# Written by scripts/test-servers.sh start; source it to run the tests by hand.
export MAILSIG_TEST_DIR=$DIR
export MAILSIG_TEST_CA=$TLS/ca.pem
export MAILSIG_TEST_IMAP_PORT=$IMAP_PORT
export MAILSIG_TEST_IMAPS_PORT=$IMAPS_PORT
export MAILSIG_TEST_SMTP_PORT=$SMTP_PORT
export MAILSIG_TEST_SMTPS_PORT=$SMTPS_PORT
export MAILSIG_TEST_PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres
export MAILSIG_TEST_DNS_PORT=$DNS_PORT
export MAILSIG_TEST_DKIM_KEYS=$DNS/keys
# OpenID provider (tests/servers/oidc/server.mjs describes its accounts, clients and scopes)
export MAILSIG_TEST_OIDC_ISSUER=http://127.0.0.1:$OIDC_PORT
export MAILSIG_TEST_OIDC_CLIENT_ID=mailsig
export MAILSIG_TEST_OIDC_CLIENT_SECRET=mailsig-secret
export MAILSIG_TEST_OIDC_APP_MAILBOX=mailsig-notifier
export MAILSIG_TEST_OIDC_OTHER_CLIENT_ID=mailsig-other
export MAILSIG_TEST_OIDC_OTHER_CLIENT_SECRET=mailsig-other-secret
export MAILSIG_TEST_OIDC_APP=$OIDC/app
export MAILSIG_TEST_OIDC_KEYS=$OIDC/keys
# CardDAV (Radicale): users carddav / carddav-password and other / other-password
export MAILSIG_TEST_CARDDAV_URL=https://127.0.0.1:$CARDDAV_PORT
EOF
}

# ---------------------------------------------------------------------------------------- orchestration
all_ports_answer() {
    local p
    for p in $(all_ports); do port_answers "$p" || return 1; done
}

wait_for_ports() {
    local deadline=$((SECONDS + 60)) p
    for p in $(all_ports); do
        until port_answers "$p"; do
            if ((SECONDS > deadline)); then
                log "port $p does not answer after 60 s"
                log_tail "$DOV/dovecot.log"
                log_tail "$PFX/postfix.log"
                log_tail "$PG/postgres.log"
                die "servers did not come up"
            fi
            sleep 0.1
        done
    done
}

cmd_start() {
    [[ $EUID -eq 0 ]] || die "must run as root (Dovecot and Postfix start as root)"
    if pid_alive "$(dovecot_pid)" && pid_alive "$(postfix_pid)" && pid_alive "$(postgres_pid)" &&
        all_ports_answer; then
        ensure_nsd
        ensure_oidc
        ensure_radicale
        MAILSIG_TEST_DIR="$DIR" "$REPO/scripts/test-tools.sh"
        write_env
        log "already running in $DIR"
        return 0
    fi
    # Partly running (a crash, a killed script): restart from clean.
    cmd_stop
    install_missing
    local p
    for p in $(all_ports); do
        if port_answers "$p"; then
            local other
            if other="$(cmd_locate)" && [[ "$other" != "$DIR" ]]; then
                die "port $p is served by the test servers of $other: use MAILSIG_TEST_DIR=$other, or stop them with MAILSIG_TEST_DIR=$other $0 stop"
            fi
            ss -ltnp "sport = :$p" >&2 || true
            die "port $p is already in use by another process (another MAILSIG_TEST_DIR? stop it, or choose other ports with MAILSIG_TEST_*_PORT)"
        fi
    done
    rm -rf "$TLS" "$DIR/tls-untrusted" "$DOV" "$PFX" "$PG" "$DNS" "$RAD" "$DIR/private" "$DIR/env" "$OIDC/keys"
    # Many IDLE connections of one uid need more inotify instances than the default 128.
    local cur
    cur="$(sysctl -n fs.inotify.max_user_instances 2>/dev/null || echo 0)"
    if ((cur < 8192)); then
        sysctl -qw fs.inotify.max_user_instances=8192 >/dev/null 2>&1 || log "warning: could not raise fs.inotify.max_user_instances"
    fi
    make_ca_and_leaf "$TLS" "mailsig test CA"
    make_ca_and_leaf "$DIR/tls-untrusted" "mailsig UNTRUSTED test CA"
    start_dovecot
    start_postfix
    start_postgres
    start_nsd
    start_oidc
    start_radicale
    # After start_oidc, which installs Node and npm when missing (axe-core comes from npm).
    MAILSIG_TEST_DIR="$DIR" "$REPO/scripts/test-tools.sh"
    wait_for_ports
    write_env
    log "running in $DIR (imap $IMAP_PORT, imaps $IMAPS_PORT, smtp $SMTP_PORT, smtps $SMTPS_PORT, pg $PG_PORT)"
}

# Private Dovecots that tests started under $DIR/private (mailsig_tests::servers::PrivateDovecot) and
# left behind when the test process was killed: SIGKILL their process groups.
stop_private_dovecots() {
    local pid cmdline
    for pid in $(pgrep -x dovecot 2>/dev/null || true); do
        cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
        if [[ "$cmdline" == *" -c $DIR/private/"* ]]; then
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done
}

cmd_stop() {
    stop_private_dovecots
    local pids=() pid
    pid="$(postgres_pid)"
    if pid_alive "$pid"; then kill -INT "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    pid="$(postfix_pid)"
    if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    pid="$(dovecot_pid)"
    if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    pid="$(nsd_pid)"
    if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    pid="$(oidc_pid)"
    if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    pid="$(radicale_pid)"
    if pid_alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    [[ ${#pids[@]} -eq 0 ]] && return 0
    local deadline=$((SECONDS + 20))
    for pid in "${pids[@]}"; do
        while pid_alive "$pid"; do
            if ((SECONDS > deadline)); then
                log "pid $pid did not stop in 20 s; SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
        done
    done
    # The masters' children (login processes) may hold the listening sockets a moment longer.
    local p
    for p in $(all_ports); do
        while port_answers "$p" && ((SECONDS <= deadline + 10)); do sleep 0.1; done
    done
    log "stopped servers of $DIR"
}

cmd_status() {
    local rc=0 name pid
    for name in dovecot postfix postgres nsd oidc radicale; do
        pid="$("${name}_pid")"
        if pid_alive "$pid"; then echo "$name: running (pid $pid)"; else echo "$name: stopped"; rc=3; fi
    done
    for p in $(all_ports); do
        if port_answers "$p"; then echo "port $p: answers"; else echo "port $p: closed"; rc=3; fi
    done
    if dns_answers; then echo "dns $DNS_PORT: answers"; else echo "dns $DNS_PORT: silent"; rc=3; fi
    if oidc_answers; then echo "oidc $OIDC_PORT: answers"; else echo "oidc $OIDC_PORT: silent"; rc=3; fi
    if carddav_answers; then echo "carddav $CARDDAV_PORT: answers"; else echo "carddav $CARDDAV_PORT: closed"; rc=3; fi
    return $rc
}

cmd_locate() {
    local cmdline conf dir pid
    for pid in $(pgrep -x dovecot 2>/dev/null || true); do
        cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
        conf="$(sed -n 's/.* -c \([^ ]*dovecot\/dovecot\.conf\).*/\1/p' <<<"$cmdline")"
        [[ -n "$conf" ]] || continue
        dir="$(dirname "$(dirname "$conf")")"
        if [[ -f "$dir/env" ]] && grep -qx "export MAILSIG_TEST_IMAP_PORT=$IMAP_PORT" "$dir/env"; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

cmd_env() {
    [[ -f "$DIR/env" ]] || die "$DIR/env missing: run scripts/test-servers.sh start"
    grep '^export ' "$DIR/env"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
locate) cmd_locate ;;
*)
    echo "usage: $0 start|stop|status|env|locate" >&2
    exit 2
    ;;
esac
