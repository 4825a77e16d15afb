//! Who is calling, for the rate limits: the peer address, or the client address a trusted
//! reverse proxy put into `X-Forwarded-For`, grouped the way one client holds addresses.
//!
//! `X-Forwarded-For` is believed only from a peer the operator named in `[http]
//! trusted_proxies`; from anyone else it is ignored (a client can write any address there and
//! would otherwise pick its own rate-limit key). Behind a chain of trusted proxies the client
//! is the right-most entry that is not itself a trusted proxy.
//!
//! An IPv6 client usually holds a whole /64 (SLAAC, privacy addresses), so IPv6 addresses are
//! limited per /64 ([`RateKey`]); an IPv4-mapped IPv6 address counts as its IPv4 address.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed (`[http] trusted_proxies`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `trusted_proxies` entry that is neither an address nor a network.
#[derive(Debug, thiserror::Error)]
#[error("not an address or network: {0:?}")]
pub struct NotANetwork(String);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    /// Parses `["10.0.0.1", "192.168.0.0/16", "::1"]` (a bare address is a /32 or /128).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, NotANetwork> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| NotANetwork(entry.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy, then the
    /// right-most `X-Forwarded-For` entry that is not a trusted proxy.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for entry in forwarded.iter().rev() {
            match entry.trim().parse::<IpAddr>() {
                Ok(address) if self.contains(address) => continue,
                Ok(address) => return address,
                // An entry that is no address ends the chain we can believe.
                Err(_) => break,
            }
        }
        peer
    }

    /// [`client_address`](Self::client_address) of a request served with `ConnectInfo`;
    /// `None` when the request has no peer (called in process).
    pub fn of_request<B>(&self, request: &Request<B>) -> Option<IpAddr> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())?;
        Some(self.client_address(peer, request.headers()))
    }
}

/// The client address of a request, as the rate limit saw it (a request extension set by the
/// API's and pages' rate-limit layer; `None` when called in process without a peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

/// The key a client address is rate limited under: IPv4 as is, IPv6 by its /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateKey(IpAddr);

impl RateKey {
    pub fn of(address: IpAddr) -> RateKey {
        match canonical(address) {
            IpAddr::V4(v4) => RateKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                RateKey(IpAddr::V6(Ipv6Addr::from(bits)))
            }
        }
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = forwarded.parse() {
            headers.insert("x-forwarded-for", value);
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "::1"]).unwrap_or_default();
        let forged = headers("1.2.3.4, 198.51.100.7");
        assert_eq!(
            trusted.client_address(ip("203.0.113.9"), &forged),
            ip("203.0.113.9")
        );
        assert_eq!(
            trusted.client_address(ip("10.1.2.3"), &forged),
            ip("198.51.100.7")
        );
        // A chain of trusted proxies is skipped; the client is the first untrusted entry.
        let chain = headers("1.2.3.4, 198.51.100.7, 10.9.9.9");
        assert_eq!(
            trusted.client_address(ip("::1"), &chain),
            ip("198.51.100.7")
        );
        // Nobody trusted: the header is ignored.
        let nobody = TrustedProxies::default();
        assert_eq!(
            nobody.client_address(ip("10.1.2.3"), &forged),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        assert_eq!(
            RateKey::of(ip("2001:db8:1:2:aaaa::1")),
            RateKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            RateKey::of(ip("2001:db8:1:2::1")),
            RateKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            RateKey::of(ip("::ffff:192.0.2.1")),
            RateKey::of(ip("192.0.2.1"))
        );
        assert_ne!(RateKey::of(ip("192.0.2.1")), RateKey::of(ip("192.0.2.2")));
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example"]).is_err());
    }
}
