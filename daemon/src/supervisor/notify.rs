//! systemd readiness notifications (`sd_notify(3)`): `READY=1` once the daemon serves,
//! `RELOADING=1` … `READY=1` around a configuration reload, `STOPPING=1` when shutdown begins,
//! `STATUS=` for a one-line state.
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

/// Tells systemd a configuration reload begins (`READY=1` ends it). `MONOTONIC_USEC` is what
/// `Type=notify-reload` units need; plain `Type=notify` units accept it too.
pub fn reloading() -> io::Result<bool> {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let usec = u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000;
    send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"))
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
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(socket) => send_to(&socket, state).map(|()| true),
        None => Ok(false),
    }
}

/// Sends one notification to the given socket (a path, or `@name` for an abstract socket).
pub fn send_to(socket_path: &std::ffi::OsStr, state: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    let path = socket_path.to_string_lossy();
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_arrives_as_one_datagram_on_a_path_and_an_abstract_socket() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path)?;
        send_to(path.as_os_str(), "READY=1")?;
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer)?;
        assert_eq!(&buffer[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("mailsig-test-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let abstract_receiver = UnixDatagram::bind_addr(&address)?;
        send_to(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1")?;
        let n = abstract_receiver.recv(&mut buffer)?;
        assert_eq!(&buffer[..n], b"STOPPING=1");
        Ok(())
    }
}
