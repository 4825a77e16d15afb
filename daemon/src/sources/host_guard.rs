//! The guard against server-side request forgery: every connection the daemon opens to a host a
//! *user* named (linking an IMAP mailbox, and every connection its watcher opens afterwards; a
//! list's webhook endpoint, when it is added and before every delivery, under its own
//! [`HostPolicy`]: `[webhooks]` allowances, ports 80, 443 and 1024 up).
//!
//! Linking makes the daemon open a TCP connection to a host and port the user typed. Without a
//! guard, any signed-in user could point it at services inside the operator's network (a
//! database on 127.0.0.1, an admin page on 10.0.0.1, a cloud metadata endpoint on
//! 169.254.169.254) and learn from the answers whether they are there. So the host is resolved
//! ONCE here, every address it resolves to is checked, and the caller connects to exactly those
//! addresses (`sources::imap::test_login_at`, `sources::imap::connect`), so a second DNS answer cannot rebind the name to an
//! internal address between the check and the connection. The host name itself is kept for TLS
//! (SNI and the certificate check).
//!
//! Policy (documented in docs/api.md and docs/configuration.md):
//! - refused unless the operator allows it (`[imap] allow_private_hosts = true`, or the host in
//!   `[imap] allowed_hosts`): loopback, private (RFC 1918, fc00::/7, fec0::/10), link-local,
//!   CGNAT 100.64.0.0/10, benchmarking 198.18.0.0/15, "this network" 0.0.0.0/8;
//! - always refused (never an IMAP server): unspecified, multicast, broadcast, reserved 240.0.0.0/4;
//! - ports: 143, 993, or any unprivileged port (1024 and above). The other privileged ports
//!   (22, 25, 80, 443, …) belong to other protocols and are refused, so the daemon cannot be used
//!   to talk to them.
//!
//! The same check runs again before every connection the IMAP watcher opens for a mailbox a
//! user linked, and the watcher connects to exactly the addresses it checked: changing DNS after
//! linking does not lead it inside. The service layer turns a refusal into a field error
//! (`service::host_guard`).
//!
//! The operator's CLI (`mailsigd mailbox add-imap`) is trusted and does not go through this
//! guard (its mailboxes are marked `operator_trusted` in their settings).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::time::timeout;

use crate::sources::imap::ImapOptions;

/// How long the one DNS lookup may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an address may not be linked by a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Internal: allowed when the operator says so.
    Internal(&'static str),
    /// Never a server: refused whatever the configuration.
    Never(&'static str),
}

/// Whether a user may make the daemon connect to `port` (see the module docs).
pub fn port_allowed(port: u16) -> bool {
    port == 143 || port == 993 || port >= 1024
}

/// The class of `ip` that keeps a user from linking it, or `None` for a public address.
pub fn classify(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() {
        Some(Refusal::Never("unspecified"))
    } else if ip.is_broadcast() {
        Some(Refusal::Never("broadcast"))
    } else if ip.is_multicast() {
        Some(Refusal::Never("multicast"))
    } else if a >= 240 {
        Some(Refusal::Never("reserved"))
    } else if ip.is_loopback() {
        Some(Refusal::Internal("loopback"))
    } else if ip.is_private() {
        Some(Refusal::Internal("private"))
    } else if ip.is_link_local() {
        Some(Refusal::Internal("link-local"))
    } else if a == 100 && (b & 0xc0) == 64 {
        Some(Refusal::Internal("shared (CGNAT)"))
    } else if a == 0 {
        Some(Refusal::Internal("\"this network\""))
    } else if a == 198 && (b & 0xfe) == 18 {
        Some(Refusal::Internal("benchmarking"))
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some(Refusal::Never("unspecified"))
    } else if ip.is_loopback() {
        Some(Refusal::Internal("loopback"))
    } else if ip.is_multicast() {
        Some(Refusal::Never("multicast"))
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        // ::ffff:a.b.c.d reaches the IPv4 address a.b.c.d.
        classify_v4(v4)
    } else if ip.segments()[..6] == [0, 0, 0, 0, 0, 0]
        || ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) embed an IPv4 address.
        let [.., c, d] = ip.segments();
        classify_v4(Ipv4Addr::from((u32::from(c) << 16) | u32::from(d)))
    } else if (first & 0xfe00) == 0xfc00 {
        Some(Refusal::Internal("private (unique local)"))
    } else if (first & 0xffc0) == 0xfe80 {
        Some(Refusal::Internal("link-local"))
    } else if (first & 0xffc0) == 0xfec0 {
        Some(Refusal::Internal("private (site-local)"))
    } else {
        None
    }
}

/// `host` as compared with `imap.allowed_hosts`: lower case, no IPv6 brackets, no trailing dot.
pub fn normalise(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Why [`resolve_and_check`] refused a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardError {
    /// A privileged port other than 143 and 993.
    Port,
    /// The name has no address.
    Unresolvable,
    /// The name lookup did not finish within [`RESOLVE_TIMEOUT`].
    Timeout,
    /// It resolves to an address users may not reach (see [`Refusal`]).
    Refused(Refusal),
}

/// What a kind of user-named connection may reach: the operator's allowances and the ports of
/// its protocol.
#[derive(Clone, Copy, Debug)]
pub struct HostPolicy<'a> {
    pub allow_private_hosts: bool,
    /// Host names or addresses the operator allows although they are internal.
    pub allowed_hosts: &'a [String],
    pub port_allowed: fn(u16) -> bool,
}

impl<'a> HostPolicy<'a> {
    /// The policy of IMAP mailboxes (`[imap]`; ports as [`port_allowed`]).
    pub fn imap(options: &'a ImapOptions) -> HostPolicy<'a> {
        HostPolicy {
            allow_private_hosts: options.allow_private_hosts,
            allowed_hosts: &options.allowed_hosts,
            port_allowed,
        }
    }
}

/// Resolves `host` once and checks the port and every address it resolves to; returns the
/// addresses to connect to (and only those). The watcher calls it before every connection of
/// a mailbox a user linked, so a name changed after linking cannot lead it inside.
pub async fn resolve_and_check(
    host: &str,
    port: u16,
    options: &ImapOptions,
) -> Result<Vec<SocketAddr>, GuardError> {
    resolve_and_check_with(host, port, &HostPolicy::imap(options)).await
}

/// [`resolve_and_check`] under any [`HostPolicy`] (webhook targets have their own ports and
/// allowances).
pub async fn resolve_and_check_with(
    host: &str,
    port: u16,
    policy: &HostPolicy<'_>,
) -> Result<Vec<SocketAddr>, GuardError> {
    if !(policy.port_allowed)(port) {
        return Err(GuardError::Port);
    }
    let name = normalise(host);
    let addrs: Vec<SocketAddr> = match name.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match timeout(
            RESOLVE_TIMEOUT,
            tokio::net::lookup_host((name.as_str(), port)),
        )
        .await
        {
            Err(_) => return Err(GuardError::Timeout),
            Ok(Err(_)) => return Err(GuardError::Unresolvable),
            Ok(Ok(found)) => found.collect(),
        },
    };
    if addrs.is_empty() {
        return Err(GuardError::Unresolvable);
    }
    let named_allowed = policy.allowed_hosts.contains(&name);
    for addr in &addrs {
        let ip_allowed = policy
            .allowed_hosts
            .iter()
            .any(|h| h.parse::<IpAddr>().ok() == Some(addr.ip()));
        match classify(addr.ip()) {
            None => {}
            Some(Refusal::Internal(_))
                if policy.allow_private_hosts || named_allowed || ip_allowed => {}
            Some(refusal) => return Err(GuardError::Refused(refusal)),
        }
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<Refusal> {
        classify(s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.1.2.3",
            "198.18.0.1",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a9fe:a9fe",
            "::7f00:1",
        ] {
            assert!(
                matches!(class(ip), Some(Refusal::Internal(_))),
                "{ip} should be internal"
            );
        }
    }

    #[test]
    fn non_servers_are_always_refused() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::",
            "ff02::1",
            "::ffff:0.0.0.0",
        ] {
            assert!(
                matches!(class(ip), Some(Refusal::Never(_))),
                "{ip} should never be allowed"
            );
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "93.184.216.34",
            "100.128.0.1",
            "172.32.0.1",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(class(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn only_imap_and_unprivileged_ports_pass() {
        assert!(
            port_allowed(143) && port_allowed(993) && port_allowed(1143) && port_allowed(10993)
        );
        assert!(!port_allowed(22) && !port_allowed(25) && !port_allowed(80) && !port_allowed(443));
    }

    #[tokio::test]
    async fn the_operator_can_allow_internal_hosts() {
        let strict = ImapOptions::default();
        assert!(resolve_and_check("127.0.0.1", 993, &strict).await.is_err());
        assert!(resolve_and_check("[::1]", 993, &strict).await.is_err());
        let by_name = ImapOptions {
            allowed_hosts: vec!["10.0.0.1".into()],
            ..ImapOptions::default()
        };
        assert!(resolve_and_check("10.0.0.1", 993, &by_name).await.is_ok());
        assert!(resolve_and_check("10.0.0.2", 993, &by_name).await.is_err());
        let open = ImapOptions {
            allow_private_hosts: true,
            ..ImapOptions::default()
        };
        let addrs = resolve_and_check("127.0.0.1", 10993, &open).await;
        assert_eq!(
            addrs.ok(),
            Some(vec![
                "127.0.0.1:10993".parse().unwrap_or_else(|_| unreachable!())
            ])
        );
        assert!(resolve_and_check("0.0.0.0", 993, &open).await.is_err());
        assert!(resolve_and_check("1.1.1.1", 25, &open).await.is_err());
    }
}
