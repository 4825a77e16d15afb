# syntax=docker/dockerfile:1
# mailsigd in a container: built in a full Rust image, run in a slim Debian as a non-root user.
#
#   docker build -t mailsig .
#   (umask 077; openssl rand -hex 32 > master-key)       # mode 0600; keep a backup of it
#   sudo chown 10001:10001 master-key                     # the container's user must own it
#   docker run -d --name mailsig -p 127.0.0.1:8080:8080 -v mailsig-data:/var/lib/mailsig \
#     -e MAILSIG_HTTP_LISTEN=0.0.0.0:8080 -e MAILSIG_HTTP_BEHIND_PROXY=true \
#     -e MAILSIG_HTTP_TRUSTED_PROXIES='["172.17.0.1"]' \
#     --mount type=bind,source="$PWD/master-key",target=/run/secrets/master-key,readonly mailsig
#
# Safe without edits: by default the daemon listens on the container's loopback only (the
# health check reaches it; nothing else does). Serving plain HTTP beyond it is an explicit
# choice: MAILSIG_HTTP_LISTEN=0.0.0.0:8080 together with MAILSIG_HTTP_BEHIND_PROXY=true and
# MAILSIG_HTTP_TRUSTED_PROXIES naming the TLS-terminating proxy (above: the host's docker0
# address, with the port published on the host's loopback for a proxy there), or with a
# mounted certificate (MAILSIG_HTTP_TLS_CERT, MAILSIG_HTTP_TLS_KEY) for HTTPS.
# The master key is read as a key file, so its mode (0600 or 0400) and owner are checked.
# (With Docker Swarm or Compose `secrets:`, a secret named master-key lands at the same path.)
# CI lints this file with hadolint (scripts/lint-ops.sh) but does not build the image: the CI
# machine has no Docker engine.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mailsig-daemon --bin mailsigd \
    && install -m 0755 target/release/mailsigd /mailsigd

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# A fixed uid, so a volume's ownership survives image upgrades.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/mailsig --shell /usr/sbin/nologin mailsig \
    && install -d -o mailsig -g mailsig -m 0700 /var/lib/mailsig
COPY --from=build /mailsigd /usr/local/bin/mailsigd
COPY config/example.toml /etc/mailsig/mailsig.toml

# Settings come from the example file plus these overrides (any key: MAILSIG_<SECTION>_<KEY>).
# Secrets come from files only: the master key from /run/secrets/master-key (a key file, its
# permissions checked), the SMTP password from `smtp.password_file` or the encrypted store.
ENV MAILSIG_CONFIG=/etc/mailsig/mailsig.toml \
    MAILSIG_DATA_DIR=/var/lib/mailsig \
    MAILSIG_HTTP_LISTEN=127.0.0.1:8080 \
    MAILSIG_MASTER_KEY_FILE=/run/secrets/master-key \
    MAILSIG_LOG_FORMAT=json

USER 10001:10001
WORKDIR /var/lib/mailsig
VOLUME ["/var/lib/mailsig"]
EXPOSE 8080
STOPSIGNAL SIGTERM
# The slim image has no HTTP client; bash's /dev/tcp is enough for one GET, and keeps curl and
# its libraries out of the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/mailsigd"]
CMD ["run"]
