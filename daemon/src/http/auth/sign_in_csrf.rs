//! The sign-in form's CSRF token ("login CSRF"): before anyone is signed in there is no session
//! to hold a synchronizer token, yet a third-party page could still post the form with the
//! *attacker's* credentials and sign the victim's browser in as the attacker (everything the
//! victim then links or reviews lands in the attacker's account).
//!
//! So the sign-in page issues a pre-session token twice — in a short-lived `__Host-` cookie and
//! in a hidden form field — and the POST must bring both, equal (double submit, compared in
//! constant time) and not older than [`SIGN_IN_TOKEN_TTL`]. A third-party page can make the
//! browser send the cookie but can neither read it nor set it (`__Host-` forbids a `Domain`,
//! so a sibling subdomain cannot plant one; `SameSite=Strict` keeps it off cross-site posts
//! altogether), so it cannot fill in the matching field.

use std::time::{Duration, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use zeroize::Zeroizing;

use super::AuthError;
use super::session::cookie_value;

/// The pre-session cookie's name (`__Host-`: Secure, `Path=/`, no `Domain`).
pub const SIGN_IN_COOKIE: &str = "__Host-mailsig_signin";
/// How long a sign-in form stays usable.
pub const SIGN_IN_TOKEN_TTL: Duration = Duration::from_secs(30 * 60);
/// Clock skew tolerated for a token "from the future" (several replicas, one cookie).
const FUTURE_SKEW: Duration = Duration::from_secs(60);

/// A fresh pre-session token: put [`SignInToken::value`] into the form's hidden `csrf_token`
/// field and send [`SignInToken::set_cookie`] with the page.
pub struct SignInToken {
    value: String,
}

impl SignInToken {
    /// `<unix seconds>.<256 random bits in hex>`; the time lets the server enforce the lifetime
    /// (the cookie's Max-Age is only the browser's side of it).
    pub fn issue() -> Result<SignInToken, AuthError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut())
            .map_err(|e| AuthError::Internal(format!("sign-in token randomness: {e}")))?;
        Ok(SignInToken {
            value: format!("{}.{}", unix_now().as_secs(), hex::encode(bytes.as_ref())),
        })
    }

    /// For the hidden form field.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The `Set-Cookie` header value that gives the browser the token.
    pub fn set_cookie(&self) -> HeaderValue {
        let value = format!(
            "{SIGN_IN_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
            self.value,
            SIGN_IN_TOKEN_TTL.as_secs()
        );
        // Digits, a dot and hex: always a valid header value.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

/// The `Set-Cookie` value that removes the pre-session cookie (once signed in it is useless).
pub fn clear_sign_in_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-mailsig_signin=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
    )
}

/// Why a sign-in POST's token was refused (for the log; the visitor gets one answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    NoCookie,
    NoField,
    Mismatch,
    Expired,
}

impl TokenRefusal {
    /// The reason as a log field value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRefusal::NoCookie => "no_cookie",
            TokenRefusal::NoField => "no_field",
            TokenRefusal::Mismatch => "mismatch",
            TokenRefusal::Expired => "expired",
        }
    }
}

/// Checks the form's `presented` token against the request's pre-session cookie.
pub fn check_sign_in_token(
    headers: &HeaderMap,
    presented: Option<&str>,
) -> Result<(), TokenRefusal> {
    let cookie =
        Zeroizing::new(cookie_value(headers, SIGN_IN_COOKIE).ok_or(TokenRefusal::NoCookie)?);
    let presented = presented
        .filter(|p| !p.is_empty())
        .ok_or(TokenRefusal::NoField)?;
    if !super::same_token(presented, &cookie) {
        return Err(TokenRefusal::Mismatch);
    }
    let issued = cookie
        .split_once('.')
        .and_then(|(secs, _)| secs.parse::<u64>().ok())
        .map(Duration::from_secs)
        .ok_or(TokenRefusal::Mismatch)?;
    let now = unix_now();
    if issued > now + FUTURE_SKEW || now.saturating_sub(issued) > SIGN_IN_TOKEN_TTL {
        return Err(TokenRefusal::Expired);
    }
    Ok(())
}

fn unix_now() -> Duration {
    crate::clock::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::COOKIE;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(cookie) {
            h.insert(COOKIE, v);
        }
        h
    }

    #[test]
    fn the_cookie_and_the_field_must_match() {
        let Ok(token) = SignInToken::issue() else {
            panic!("randomness")
        };
        let Ok(other) = SignInToken::issue() else {
            panic!("randomness")
        };
        assert_ne!(token.value(), other.value());
        let h = headers(&format!("a=b; {SIGN_IN_COOKIE}={}", token.value()));
        assert_eq!(check_sign_in_token(&h, Some(token.value())), Ok(()));
        assert_eq!(
            check_sign_in_token(&h, Some(other.value())),
            Err(TokenRefusal::Mismatch)
        );
        assert_eq!(check_sign_in_token(&h, None), Err(TokenRefusal::NoField));
        assert_eq!(
            check_sign_in_token(&h, Some("")),
            Err(TokenRefusal::NoField)
        );
        assert_eq!(
            check_sign_in_token(&headers("a=b"), Some(token.value())),
            Err(TokenRefusal::NoCookie)
        );
        let cookie = token.set_cookie();
        let cookie = cookie.to_str().unwrap_or_default();
        assert!(
            cookie.starts_with("__Host-")
                && cookie.contains("Secure")
                && cookie.contains("HttpOnly")
        );
        assert!(
            cookie.contains("SameSite=Strict")
                && cookie.contains("Path=/")
                && !cookie.contains("Domain")
        );
    }

    #[test]
    fn an_old_token_is_refused() {
        let old = format!(
            "{}.{}",
            unix_now().as_secs() - SIGN_IN_TOKEN_TTL.as_secs() - 5,
            "ab".repeat(32)
        );
        let h = headers(&format!("{SIGN_IN_COOKIE}={old}"));
        assert_eq!(
            check_sign_in_token(&h, Some(&old)),
            Err(TokenRefusal::Expired)
        );
        let future = format!("{}.{}", unix_now().as_secs() + 3600, "ab".repeat(32));
        let h = headers(&format!("{SIGN_IN_COOKIE}={future}"));
        assert_eq!(
            check_sign_in_token(&h, Some(&future)),
            Err(TokenRefusal::Expired)
        );
    }
}
