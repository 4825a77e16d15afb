//! Reading the `Authentication-Results` header (RFC 8601) that the mailbox's own provider stamped.
//!
//! Anyone can write such a header into a message; it means something only when the receiving
//! provider wrote it. A provider stamps its result when the message enters its domain, and RFC 8601
//! (section 5) has it remove headers that claim its authserv-id from incoming mail. Every hop
//! prepends its `Received:` header, so the headers above the first `Received:` written by a host
//! outside the provider were added by the provider's own MTAs; everything below it was in the
//! message before it reached them, and anyone may have written it. So the results that count are
//! those above any untrusted hop: reading from the top, the first `Authentication-Results` header
//! decides when its authserv-id is one the operator trusts for this mailbox; a header of another
//! authserv-id (a hop that is not the provider stamped the message after it), or a `Received:`
//! whose `by` host is outside the provider's domains, ends the search with no verdict.
//!
//! The provider's domains follow from the trusted authserv-ids: `outlook.com` for Exchange Online
//! ([`MICROSOFT_365`]), `google.com` for [`GOOGLE`], and for any other authserv-id (conventionally
//! the host name of the MTA that stamps) that name and its parent domain. A `by` that is an address
//! literal or a name without a dot (Gmail's internal hops, a single host) says nothing either way.
//! The operator adds the names of their own MTAs (`[sender_auth] trusted_hosts`) when those stamp
//! the results.
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

    /// The domains of the provider's own MTAs, as the module docs derive them.
    fn provider_domains(&self) -> Vec<String> {
        let mut domains = Vec::new();
        for id in &self.0 {
            match id.as_str() {
                MICROSOFT_365 => domains.push("outlook.com".to_owned()),
                GOOGLE => domains.push("google.com".to_owned()),
                host => {
                    domains.push(host.to_owned());
                    if let Some((_, parent)) = host.split_once('.')
                        && parent.contains('.')
                    {
                        domains.push(parent.to_owned());
                    }
                }
            }
        }
        domains
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

/// The verdict of the topmost `Authentication-Results` header above any untrusted hop, when its
/// authserv-id is trusted; `None` when there is no such header (then the daemon verifies itself).
///
/// `headers` are the message's header fields top to bottom; `hosts` are the operator's own MTAs
/// (`[sender_auth] trusted_hosts`); `from_domain` is the domain of `From:`.
pub fn trusted_verdict(
    headers: &[(&[u8], &[u8])],
    trusted: &TrustedIds,
    hosts: &TrustedIds,
    from_domain: &str,
) -> Option<SenderAuth> {
    if trusted.is_empty() {
        return None;
    }
    let mut provider = trusted.provider_domains();
    provider.extend(hosts.0.iter().cloned());
    for (name, value) in headers {
        let name = trim(name);
        if name.eq_ignore_ascii_case(b"received") {
            let value = String::from_utf8_lossy(value);
            if hop_outside(&value, &provider) {
                return None;
            }
        } else if name.eq_ignore_ascii_case(b"authentication-results") {
            let value = std::str::from_utf8(value).ok()?;
            return trusted_value_verdict(value, trusted, from_domain);
        }
    }
    None
}

/// True when a `Received:` value was written by a host outside the provider's `domains`: its `by`
/// clause names a host (not an address literal, with a dot) that is none of them or under none.
fn hop_outside(received: &str, domains: &[String]) -> bool {
    let text = strip_comments(received);
    let mut tokens = text.split_whitespace();
    let Some(host) = tokens
        .by_ref()
        .find(|t| t.eq_ignore_ascii_case("by"))
        .and(tokens.next())
    else {
        return false;
    };
    let host = host
        .trim_end_matches(';')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let literal = host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok();
    if literal || !host.contains('.') {
        return false;
    }
    !domains.iter().any(|d| {
        host == *d
            || host
                .strip_suffix(d.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    })
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
        trusted_verdict(
            headers,
            &TrustedIds::new(trusted),
            &TrustedIds::default(),
            from,
        )
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
    fn results_below_a_hop_outside_the_provider_are_ignored() {
        let forged: &[u8] = b"mx.google.com; dmarc=pass header.from=example.com";
        // Gmail's layout: internal hop, its entry hop, then its own stamp.
        let headers: &[(&[u8], &[u8])] = &[
            (b"Received", b"by 2002:a05:6a10:8a0f::1 with SMTP id x;\r\n Sun, 6 Dec 2026"),
            (
                b"Received",
                b"from mail.example.com (mail.example.com. [192.0.2.1])\r\n by mx.google.com with ESMTPS id y",
            ),
            (b"Authentication-Results", forged),
        ];
        assert_eq!(check(headers, &[GOOGLE], "example.com"), Some(PASS));
        // The same header below the sender's own MTA's hop: written before the provider saw it.
        let headers: &[(&[u8], &[u8])] = &[
            (
                b"Received",
                b"from mail.example.com (mail.example.com. [192.0.2.1])\r\n by mx.google.com with ESMTPS id y",
            ),
            (
                b"Received",
                b"from laptop (by the way) by mail.attacker.example with ESMTPSA",
            ),
            (b"Authentication-Results", forged),
        ];
        assert_eq!(check(headers, &[GOOGLE], "example.com"), None);
        // Exchange Online: internal hops under outlook.com, its stamp below them.
        let headers: &[(&[u8], &[u8])] = &[
            (
                b"Received",
                b"from AM0PR01 (2603:10a6::1) by DB5PR02.eurprd02.prod.outlook.com with HTTPS",
            ),
            (
                b"Received",
                b"from mail.example.com (192.0.2.1) by AM1EUR01FT003.mail.protection.outlook.com (10.0.0.1) with Microsoft SMTP Server",
            ),
            (b"Authentication-Results", MICROSOFT),
        ];
        assert_eq!(check(headers, &[MICROSOFT_365], "example.com"), Some(PASS));
        // An operator's own MTA: its name and its parent domain are the provider's.
        let headers: &[(&[u8], &[u8])] = &[
            (
                b"Received",
                b"from mx1.corp.example by store.corp.example with LMTP",
            ),
            (
                b"Received",
                b"from mail.example.com by mx1.corp.example with ESMTP",
            ),
            (
                b"Authentication-Results",
                b"mx1.corp.example; dmarc=pass header.from=example.com",
            ),
        ];
        assert_eq!(
            check(headers, &["mx1.corp.example"], "example.com"),
            Some(PASS)
        );
        assert!(hop_outside(
            "from a by evilcorp.example with SMTP",
            &["corp.example".into()]
        ));
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
