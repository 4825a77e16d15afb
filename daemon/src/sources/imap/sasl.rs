//! OAuth 2.0 bearer-token SASL for IMAP: OAUTHBEARER (RFC 7628) and Google's and Microsoft's
//! XOAUTH2, chosen from what the server advertises (`AUTH=` capabilities).
//!
//! Exchange Online and Gmail refuse passwords over IMAP; they take an access token from the
//! identity platform inside one of these two mechanisms instead. OAUTHBEARER is the standard and
//! preferred when offered; Exchange Online offers only XOAUTH2.
//!
//! The initial response carries the bearer token, so it is built in a zeroizing buffer. On a
//! refused token both mechanisms send one error challenge (a JSON status, RFC 7628 §3.2.2) that
//! the client must answer before the server gives its tagged NO: XOAUTH2 with an empty line,
//! OAUTHBEARER with a single `%x01`. The JSON itself is not kept (it is the far end's text).

use async_imap::Authenticator;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The SASL mechanism used to present a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerMechanism {
    /// RFC 7628.
    OAuthBearer,
    /// The pre-standard mechanism of Gmail and Exchange Online.
    XOAuth2,
}

impl BearerMechanism {
    /// The name on the `AUTHENTICATE` line.
    pub const fn name(self) -> &'static str {
        match self {
            BearerMechanism::OAuthBearer => "OAUTHBEARER",
            BearerMechanism::XOAuth2 => "XOAUTH2",
        }
    }

    /// The mechanism to use given the server's capabilities (as sent, any case), or `None` when it
    /// offers neither.
    pub fn choose<'a>(capabilities: impl IntoIterator<Item = &'a str>) -> Option<BearerMechanism> {
        let mut xoauth2 = false;
        for capability in capabilities {
            if capability.eq_ignore_ascii_case("AUTH=OAUTHBEARER") {
                return Some(BearerMechanism::OAuthBearer);
            }
            xoauth2 |= capability.eq_ignore_ascii_case("AUTH=XOAUTH2");
        }
        xoauth2.then_some(BearerMechanism::XOAuth2)
    }
}

/// Answers the server's challenges of one `AUTHENTICATE` with a bearer token.
pub struct BearerAuthenticator {
    initial: Option<Zeroizing<Vec<u8>>>,
    mechanism: BearerMechanism,
}

impl BearerAuthenticator {
    /// `host` and `port` go into the OAUTHBEARER message (RFC 7628 §3.1); XOAUTH2 has no place for
    /// them.
    pub fn new(
        mechanism: BearerMechanism,
        user: &str,
        token: &SecretString,
        host: &str,
        port: u16,
    ) -> BearerAuthenticator {
        let token = token.expose_secret();
        let mut message = Zeroizing::new(Vec::with_capacity(token.len() + user.len() + 64));
        match mechanism {
            BearerMechanism::XOAuth2 => {
                message.extend_from_slice(b"user=");
                message.extend_from_slice(user.as_bytes());
                message.extend_from_slice(b"\x01auth=Bearer ");
                message.extend_from_slice(token.as_bytes());
                message.extend_from_slice(b"\x01\x01");
            }
            BearerMechanism::OAuthBearer => {
                // gs2 header: no channel binding, the authorization identity with ',' and '='
                // escaped (RFC 5801 §4).
                message.extend_from_slice(b"n,a=");
                for byte in user.bytes() {
                    match byte {
                        b',' => message.extend_from_slice(b"=2C"),
                        b'=' => message.extend_from_slice(b"=3D"),
                        other => message.push(other),
                    }
                }
                message.extend_from_slice(b",\x01host=");
                message.extend_from_slice(host.as_bytes());
                message.extend_from_slice(format!("\x01port={port}").as_bytes());
                message.extend_from_slice(b"\x01auth=Bearer ");
                message.extend_from_slice(token.as_bytes());
                message.extend_from_slice(b"\x01\x01");
            }
        }
        BearerAuthenticator {
            initial: Some(message),
            mechanism,
        }
    }
}

impl Authenticator for BearerAuthenticator {
    type Response = Zeroizing<Vec<u8>>;

    fn process(&mut self, _challenge: &[u8]) -> Self::Response {
        match self.initial.take() {
            Some(initial) => initial,
            // The error challenge after a refused token: the reply that lets the server finish.
            None => Zeroizing::new(match self.mechanism {
                BearerMechanism::XOAuth2 => Vec::new(),
                BearerMechanism::OAuthBearer => vec![0x01],
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauthbearer_is_preferred_and_xoauth2_is_the_fallback() {
        let both = ["IMAP4rev1", "AUTH=XOAUTH2", "auth=oauthbearer"];
        assert_eq!(
            BearerMechanism::choose(both),
            Some(BearerMechanism::OAuthBearer)
        );
        let outlook = ["IMAP4rev1", "AUTH=PLAIN", "AUTH=XOAUTH2", "SASL-IR"];
        assert_eq!(
            BearerMechanism::choose(outlook),
            Some(BearerMechanism::XOAuth2)
        );
        assert_eq!(BearerMechanism::choose(["IMAP4rev1", "AUTH=PLAIN"]), None);
    }

    #[test]
    fn the_messages_follow_the_mechanisms_formats() {
        let token = SecretString::from("tok123");
        let mut x = BearerAuthenticator::new(
            BearerMechanism::XOAuth2,
            "a@b.test",
            &token,
            "imap.b.test",
            993,
        );
        assert_eq!(
            x.process(b"").as_slice(),
            b"user=a@b.test\x01auth=Bearer tok123\x01\x01"
        );
        assert_eq!(x.process(b"{\"status\":\"401\"}").as_slice(), b"");
        let mut o = BearerAuthenticator::new(
            BearerMechanism::OAuthBearer,
            "a,=b@c.test",
            &token,
            "imap.c.test",
            993,
        );
        assert_eq!(
            o.process(b"").as_slice(),
            b"n,a=a=2C=3Db@c.test,\x01host=imap.c.test\x01port=993\x01auth=Bearer tok123\x01\x01"
        );
        assert_eq!(o.process(b"{}").as_slice(), b"\x01");
    }
}
