//! What an API token may be issued with: its scope and its lifetime, decided here once for the
//! API, the pages and the operator's CLI.
//!
//! The rules: every token expires (`[api] token_ttl` by default, never later than
//! `[api] token_max_ttl`); issuing needs a full-scope credential (a signed-in session or a
//! `full` token), so a `read` or `write` token cannot mint anything; a token never grants more
//! than the credential that issued it, in scope or in time (a token minted by a token expires
//! no later than its parent). The operator's CLI is trusted and bound by the lifetime limits only.

use std::time::Duration;

use crate::store::{DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL, TokenScope};

use super::{FieldCode, ServiceError, ServiceResult};

/// `[api] token_ttl` and `token_max_ttl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenLimits {
    /// Lifetime of a token whose issuer named none.
    pub default_ttl: Duration,
    /// The longest lifetime a token may be issued with.
    pub max_ttl: Duration,
}

impl Default for TokenLimits {
    fn default() -> Self {
        TokenLimits {
            default_ttl: DEFAULT_TOKEN_TTL,
            max_ttl: MAX_TOKEN_TTL,
        }
    }
}

/// How the caller proved who they are, as far as issuing tokens cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credential {
    pub scope: TokenScope,
    /// When the presented token expires (epoch ms); `None` for a browser session.
    pub expires_at: Option<i64>,
}

impl Credential {
    /// A signed-in browser session: full scope, bounded by the session itself.
    pub const SESSION: Credential = Credential {
        scope: TokenScope::Full,
        expires_at: None,
    };

    /// `Forbidden` unless this credential has at least `scope`; `action` says what was refused.
    pub fn require(self, scope: TokenScope, action: &'static str) -> ServiceResult<()> {
        if self.scope >= scope {
            Ok(())
        } else {
            Err(ServiceError::Forbidden { action })
        }
    }
}

/// Who issues a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issuer {
    /// The operator's CLI.
    Operator,
    /// A user, with the credential of this request.
    User(Credential),
}

/// What the issuer asked for; `None` takes the default (`read`, `[api] token_ttl`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenRequest {
    pub scope: Option<TokenScope>,
    pub ttl: Option<Duration>,
}

/// The scope a token is issued with when none is asked for: the least.
pub const DEFAULT_SCOPE: TokenScope = TokenScope::Read;

/// The scope and expiry (epoch ms) a token is issued with, or why it is refused.
pub fn grant(
    limits: TokenLimits,
    issuer: Issuer,
    request: TokenRequest,
    now_ms: i64,
) -> ServiceResult<(TokenScope, i64)> {
    let scope = request.scope.unwrap_or(DEFAULT_SCOPE);
    let ttl = request.ttl.unwrap_or(limits.default_ttl);
    if ttl.is_zero() || ttl > limits.max_ttl {
        return Err(ServiceError::field(
            "expires_in_days",
            FieldCode::Number,
            format!(
                "must be between 1 and {} days",
                limits.max_ttl.as_secs() / 86_400
            ),
        ));
    }
    let mut expires_at = now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    if let Issuer::User(credential) = issuer {
        credential.require(
            TokenScope::Full,
            "issue API tokens (sign in, or use a token with the full scope)",
        )?;
        if scope > credential.scope {
            return Err(ServiceError::Forbidden {
                action: "issue a token with a wider scope than your own",
            });
        }
        if let Some(parent) = credential.expires_at {
            expires_at = expires_at.min(parent);
        }
    }
    Ok((scope, expires_at))
}

/// `expires_in_days` as a lifetime (1 day and up; the limit is [`grant`]'s).
pub fn days(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn token(scope: TokenScope, expires_at: i64) -> Issuer {
        Issuer::User(Credential {
            scope,
            expires_at: Some(expires_at),
        })
    }

    #[test]
    fn read_and_write_tokens_cannot_issue_tokens() {
        for scope in [TokenScope::Read, TokenScope::Write] {
            let asked = TokenRequest {
                scope: Some(TokenScope::Read),
                ttl: None,
            };
            let refused = grant(TokenLimits::default(), token(scope, i64::MAX), asked, NOW);
            assert!(
                matches!(refused, Err(ServiceError::Forbidden { .. })),
                "{scope}: {refused:?}"
            );
        }
    }

    #[test]
    fn a_minted_token_expires_no_later_than_its_parent() {
        let parent_expiry = NOW + 3_600_000;
        let (scope, expires_at) = grant(
            TokenLimits::default(),
            token(TokenScope::Full, parent_expiry),
            TokenRequest {
                scope: Some(TokenScope::Full),
                ttl: Some(days(300)),
            },
            NOW,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((scope, expires_at), (TokenScope::Full, parent_expiry));
    }

    #[test]
    fn lifetimes_beyond_the_maximum_are_refused_and_the_default_is_read() {
        let limits = TokenLimits::default();
        let too_long = grant(
            limits,
            Issuer::Operator,
            TokenRequest {
                scope: None,
                ttl: Some(limits.max_ttl + Duration::from_secs(86_400)),
            },
            NOW,
        );
        assert!(matches!(too_long, Err(ServiceError::Validation(_))));
        let (scope, expires_at) = grant(
            limits,
            Issuer::User(Credential::SESSION),
            TokenRequest::default(),
            NOW,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scope, TokenScope::Read);
        assert_eq!(
            expires_at,
            NOW + i64::try_from(limits.default_ttl.as_millis()).unwrap_or(0)
        );
    }
}
