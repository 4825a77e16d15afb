//! systemd readiness notifications (`sd_notify(3)`): `READY=1` once the daemon serves,
//! `STOPPING=1` when shutdown begins, `STATUS=` for a one-line state.
//!
//! Written by hand rather than with a crate because the protocol is one datagram to the unix
//! socket named in `$NOTIFY_SOCKET` (a path, or an abstract name starting with `@`). Without
//! `$NOTIFY_SOCKET` (not started by systemd) every call does nothing.

use std::io;
use std::os::unix::net::UnixDatagram;

/// Tells systemd the daemon is ready.
pub fn ready() -> io::Result<bool> {
    send("READY=1")
}

/// Tells systemd the daemon is stopping.
pub fn stopping() -> io::Result<bool> {
    send("STOPPING=1")
}

/// Sets the status line shown by `systemctl status` (no newlines; never message content).
pub fn status(text: &str) -> io::Result<bool> {
    send(&format!("STATUS={}", text.replace('\n', " ")))
}

/// Sends one notification; `Ok(false)` when `$NOTIFY_SOCKET` is not set.
pub fn send(state: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    let path = path.to_string_lossy();
    match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.send_to_addr(state.as_bytes(), &address)?;
        }
        None => {
            socket.send_to(state.as_bytes(), path.as_ref())?;
        }
    }
    Ok(true)
}
