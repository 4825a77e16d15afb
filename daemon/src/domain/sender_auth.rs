//! What the daemon concluded about the authenticity of a message's sender, as it travels from
//! `sender_auth` (which decides it) through the pipeline into the store (which keeps it as the
//! suggestion's provenance and decides with it what the message may change) and out to the API,
//! the pages, the exports and the digest. Two short words, never a header or a server's text.

use std::fmt;
use std::str::FromStr;

/// Whether the `From:` address of a message is proven to be its real sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthResult {
    /// A trusted check passed: the domain of `From:` vouches for the message.
    Authenticated,
    /// A check ran and did not pass (no signature, a broken one, one of another domain, a
    /// failed DMARC evaluation, or a trusted provider's `fail`).
    NotAuthenticated,
    /// No check could decide (DNS timed out or failed, the message could not be read).
    Unknown,
}

/// Which evidence decided the [`AuthResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// An `Authentication-Results` header of an authserv-id trusted for the mailbox.
    AuthenticationResults,
    /// The daemon's own DKIM verification and DMARC evaluation of the `From:` domain.
    Dmarc,
    /// The daemon's own DKIM verification, for a `From:` domain without a DMARC record: only
    /// a signature of exactly that domain counts.
    Dkim,
    /// An ARC chain sealed by a trusted forwarder, whose recorded results passed.
    Arc,
    /// No method applied (the message had no usable `From:` or could not be parsed).
    None,
}

/// The outcome for one message: a result and the method that decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SenderAuth {
    pub result: AuthResult,
    pub method: AuthMethod,
}

impl SenderAuth {
    pub const fn new(result: AuthResult, method: AuthMethod) -> SenderAuth {
        SenderAuth { result, method }
    }

    /// The message may change data that is already there (see `store::commit`).
    pub fn is_authenticated(self) -> bool {
        self.result == AuthResult::Authenticated
    }

    /// Nothing was checked: the value of messages committed before authentication existed,
    /// and of callers that do not authenticate.
    pub const UNCHECKED: SenderAuth = SenderAuth::new(AuthResult::Unknown, AuthMethod::None);
}

impl AuthResult {
    pub const ALL: [AuthResult; 3] = [
        AuthResult::Authenticated,
        AuthResult::NotAuthenticated,
        AuthResult::Unknown,
    ];

    /// The stored and logged text.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthResult::Authenticated => "authenticated",
            AuthResult::NotAuthenticated => "not_authenticated",
            AuthResult::Unknown => "unknown",
        }
    }
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 5] = [
        AuthMethod::AuthenticationResults,
        AuthMethod::Dmarc,
        AuthMethod::Dkim,
        AuthMethod::Arc,
        AuthMethod::None,
    ];

    /// The stored and logged text.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::AuthenticationResults => "authentication_results",
            AuthMethod::Dmarc => "dmarc",
            AuthMethod::Dkim => "dkim",
            AuthMethod::Arc => "arc",
            AuthMethod::None => "none",
        }
    }
}

/// A stored text that is none of the known words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown sender authentication {what}")]
pub struct UnknownAuthText {
    pub what: &'static str,
}

impl FromStr for AuthResult {
    type Err = UnknownAuthText;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuthResult::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownAuthText { what: "result" })
    }
}

impl FromStr for AuthMethod {
    type Err = UnknownAuthText;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            AuthMethod::AuthenticationResults,
            AuthMethod::Dmarc,
            AuthMethod::Dkim,
            AuthMethod::Arc,
            AuthMethod::None,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or(UnknownAuthText { what: "method" })
    }
}

impl fmt::Display for SenderAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.result.as_str(), self.method.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip() {
        for r in AuthResult::ALL {
            assert_eq!(r.as_str().parse::<AuthResult>(), Ok(r));
        }
        assert_eq!("dmarc".parse::<AuthMethod>(), Ok(AuthMethod::Dmarc));
        assert!("pass".parse::<AuthResult>().is_err());
    }
}
