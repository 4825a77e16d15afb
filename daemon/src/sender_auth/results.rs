//! Reading the `Authentication-Results` header (RFC 8601) that the mailbox's own provider stamped.
//!
//! Anyone can write such a header into a message; it means something only when the receiving
//! provider wrote it. A provider stamps its result when the message enters its domain, and RFC 8601
//! (section 5) has it remove headers that claim its authserv-id from incoming mail. So only the
//! topmost `Authentication-Results` header counts (nothing above it came from outside the trusted
//! hops), and only when its authserv-id is one the operator trusts for this mailbox. A forged header
//! further down, or a topmost one of another authserv-id, is ignored.
//!
//! Microsoft 365 (Exchange Online Protection) writes its header without an authserv-id
//! (`Authentication-Results: spf=pass (sender IP is …) smtp.mailfrom=…; dkim=pass … header.d=…;
//! dmarc=pass action=none header.from=…; compauth=pass reason=100`); the trust entry
//! [`MICROSOFT_365`] accepts exactly that form.
//!
//! Nothing of the header is kept or logged: the parse yields method results and two domains,
//! which are compared with `From:` and dropped.

use crate::domain::{AuthMethod, AuthResult, SenderAuth};

/// The trust entry for Exchange Online's header without an authserv-id.
pub const MICROSOFT_365: &str = "microsoft365";
/// Google Workspace and Gmail stamp this authserv-id.
pub const GOOGLE: &str = "mx.google.com";

/// The authserv-ids whose results count for one mailbox (lower-case; [`MICROSOFT_365`] for the
/// header without one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedIds(Vec<String>);

impl TrustedIds {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(ids: I) -> TrustedIds {
        let mut ids: Vec<String> = ids
            .into_iter()
            .map(|id| id.as_ref().trim().to_ascii_lowercase())
            .filter(|id| !id.is_empty())
            .collect();
        ids.sort();
        ids.dedup();
        TrustedIds(ids)
    }

    /// Both sets together.
    pub fn union(&self, other: &TrustedIds) -> TrustedIds {
        TrustedIds::new(self.0.iter().chain(other.0.iter()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, authserv_id: Option<&str>) -> bool {
        let id = authserv_id.unwrap_or(MICROSOFT_365);
        self.0.iter().any(|t| t.eq_ignore_ascii_case(id))
    }
}

/// One `method=result` of the header, with the two properties the verdict needs.
#[derive(Debug, Default, PartialEq, Eq)]
struct MethodResult {
    method: String,
    result: String,
    /// `header.d` (DKIM) or `header.from` (DMARC), lower-case.
    domain: Option<String>,
}

/// The verdict of the topmost `Authentication-Results` header when its authserv-id is trusted;
/// `None` when there is no such header or it is not trusted (then the daemon verifies itself).
///
/// `headers` are the message's header fields top to bottom; `from_domain` is the domain of `From:`.
pub fn trusted_verdict(
    headers: &[(&[u8], &[u8])],
    trusted: &TrustedIds,
    from_domain: &str,
) -> Option<SenderAuth> {
    if trusted.is_empty() {
        return None;
    }
    let (_, value) = headers
        .iter()
        .find(|(name, _)| trim(name).eq_ignore_ascii_case(b"authentication-results"))?;
    let value = std::str::from_utf8(value).ok()?;
    trusted_value_verdict(value, trusted, from_domain)
}

/// The verdict of one results value (`authserv-id; method=result …`, as in an
/// `Authentication-Results` or, after its `i=N;`, an `ARC-Authentication-Results` header) when its
/// authserv-id is trusted.
pub fn trusted_value_verdict(
    value: &str,
    trusted: &TrustedIds,
    from_domain: &str,
) -> Option<SenderAuth> {
    let (authserv_id, results) = parse(value)?;
    if !trusted.trusts(authserv_id.as_deref()) {
        return None;
    }
    Some(verdict(&results, from_domain))
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// What the provider's results say about `From:`: DMARC decides when it ran; otherwise a DKIM
/// pass of exactly the `From:` domain authenticates. A temporary error is `unknown`.
fn verdict(results: &[MethodResult], from_domain: &str) -> SenderAuth {
    let from_domain = from_domain.to_ascii_lowercase();
    let by = |result| SenderAuth::new(result, AuthMethod::AuthenticationResults);
    let same_domain = |r: &MethodResult| r.domain.as_deref().is_none_or(|d| d == from_domain);
    if let Some(dmarc) = results.iter().find(|r| r.method == "dmarc") {
        match dmarc.result.as_str() {
            "pass" if same_domain(dmarc) => return by(AuthResult::Authenticated),
            "pass" | "fail" => return by(AuthResult::NotAuthenticated),
            "temperror" => return by(AuthResult::Unknown),
            // none, permerror, Microsoft's bestguesspass: fall back to the DKIM results.
            _ => {}
        }
    }
    let dkim = results.iter().filter(|r| r.method == "dkim");
    let mut temporary = false;
    for r in dkim {
        if r.result == "pass" && r.domain.as_deref() == Some(from_domain.as_str()) {
            return by(AuthResult::Authenticated);
        }
        temporary |= r.result == "temperror";
    }
    if temporary {
        by(AuthResult::Unknown)
    } else {
        by(AuthResult::NotAuthenticated)
    }
}

/// Splits an `Authentication-Results` value into its authserv-id (`None` for Exchange Online's
/// form without one) and its method results. `None` when it is not a results header at all.
fn parse(value: &str) -> Option<(Option<String>, Vec<MethodResult>)> {
    let value = strip_comments(value);
    let mut parts = value.split(';').map(str::trim);
    let first = parts.next()?;
    let (authserv_id, first_result) = if first.contains('=') {
        (None, Some(first))
    } else {
        // "authserv-id [version]"
        let id = first.split_whitespace().next()?.to_ascii_lowercase();
        (Some(id), None)
    };
    let results = first_result
        .into_iter()
        .chain(parts)
        .filter_map(parse_result)
        .collect();
    Some((authserv_id, results))
}

fn parse_result(text: &str) -> Option<MethodResult> {
    let mut tokens = text.split_whitespace();
    let (method, result) = tokens.next()?.split_once('=')?;
    let method = method.split('/').next()?.to_ascii_lowercase();
    let mut out = MethodResult {
        method,
        result: result.to_ascii_lowercase(),
        domain: None,
    };
    for token in tokens {
        let Some((property, value)) = token.split_once('=') else {
            continue;
        };
        let value = value.trim_matches('"').to_ascii_lowercase();
        let value = value.rsplit_once('@').map_or(value.as_str(), |(_, d)| d);
        match (out.method.as_str(), property.to_ascii_lowercase().as_str()) {
            ("dkim", "header.d") | ("dmarc", "header.from") => {
                out.domain = Some(value.to_owned());
            }
            _ => {}
        }
    }
    Some(out)
}

/// Removes RFC 5322 comments (`(sender IP is …)`, nested too), which may hold `;` and `=`.
fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if depth > 0 => escaped = true,
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MICROSOFT: &[u8] = b"spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.com; dkim=pass (signature was verified) header.d=example.com;dmarc=pass action=none header.from=example.com;compauth=pass reason=100";

    fn check(headers: &[(&[u8], &[u8])], trusted: &[&str], from: &str) -> Option<SenderAuth> {
        trusted_verdict(headers, &TrustedIds::new(trusted), from)
    }

    const PASS: SenderAuth =
        SenderAuth::new(AuthResult::Authenticated, AuthMethod::AuthenticationResults);
    const FAIL: SenderAuth = SenderAuth::new(
        AuthResult::NotAuthenticated,
        AuthMethod::AuthenticationResults,
    );

    #[test]
    fn microsoft_format_counts_only_where_trusted() {
        let headers: &[(&[u8], &[u8])] = &[(b"Authentication-Results", MICROSOFT)];
        assert_eq!(check(headers, &[MICROSOFT_365], "example.com"), Some(PASS));
        assert_eq!(check(headers, &[GOOGLE], "example.com"), None);
        assert_eq!(check(headers, &[], "example.com"), None);
        // dmarc passed for another domain than From's.
        assert_eq!(
            check(headers, &[MICROSOFT_365], "other.example"),
            Some(FAIL)
        );
    }

    #[test]
    fn only_the_topmost_header_counts() {
        // A forged pass below the provider's own fail.
        let headers: &[(&[u8], &[u8])] = &[
            (b"Received", b"from mx by provider"),
            (b"Authentication-Results", b"mx.google.com; dkim=fail header.d=example.com; dmarc=fail header.from=example.com"),
            (b"Authentication-Results", b"mx.google.com; dmarc=pass header.from=example.com"),
        ];
        assert_eq!(check(headers, &[GOOGLE], "example.com"), Some(FAIL));
        // A trusted-looking header below an untrusted hop's stamp is ignored.
        let headers: &[(&[u8], &[u8])] = &[
            (b"Authentication-Results", b"relay.other.example; none"),
            (
                b"Authentication-Results",
                b"mx.google.com; dmarc=pass header.from=example.com",
            ),
        ];
        assert_eq!(check(headers, &[GOOGLE], "example.com"), None);
    }

    #[test]
    fn dkim_of_the_from_domain_decides_without_dmarc() {
        let headers: &[(&[u8], &[u8])] = &[(
            b"authentication-results",
            b"mx.google.com 1; dkim=pass (good) header.i=@example.com header.d=example.com; dmarc=none",
        )];
        assert_eq!(check(headers, &[GOOGLE], "EXAMPLE.com"), Some(PASS));
        let other: &[(&[u8], &[u8])] = &[(
            b"Authentication-Results",
            b"mx.google.com; dkim=pass header.d=attacker.example; dmarc=none",
        )];
        assert_eq!(check(other, &[GOOGLE], "example.com"), Some(FAIL));
        let temp: &[(&[u8], &[u8])] = &[(
            b"Authentication-Results",
            b"mx.google.com; dkim=temperror header.d=example.com",
        )];
        assert_eq!(
            check(temp, &[GOOGLE], "example.com").map(|v| v.result),
            Some(AuthResult::Unknown)
        );
    }

    #[test]
    fn comments_with_separators_are_ignored() {
        let (id, results) = parse(
            "mx.example (a; b=c (nested; x=y)) ; dmarc=pass (p=reject) header.from=example.com",
        )
        .expect("a results header");
        assert_eq!(id.as_deref(), Some("mx.example"));
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].domain.as_deref(), Some("example.com"));
    }
}
