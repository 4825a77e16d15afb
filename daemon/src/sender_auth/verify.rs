//! The daemon's own check when no trusted provider vouched for the message: DKIM signatures
//! verified against the keys in DNS, then DMARC alignment of the `From:` domain (mail-auth).
//!
//! There is no SMTP session here (the message comes out of a mailbox), so SPF cannot be
//! evaluated; DMARC passes only through an aligned DKIM signature. A `From:` domain without a DMARC
//! record is authenticated by a valid signature of exactly that domain (the domain signed it;
//! without a policy nothing says a parent or sibling domain may vouch for it).

use mail_auth::dkim::Signature;
use mail_auth::{
    AuthenticatedMessage, DkimOutput, DkimResult, DmarcResult, MessageAuthenticator, Parameters,
    SpfOutput, dmarc::verify::DmarcParameters,
};

use super::cache::TtlCache;
use super::results::TrustedIds;
use crate::domain::{AuthMethod, AuthResult, SenderAuth};

/// The caches mail-auth consults (TXT only: DKIM keys and DMARC records).
pub type TxtCache = TtlCache<Box<str>, mail_auth::Txt>;

/// Verifies DKIM and evaluates DMARC for the single `From:` domain of `message`.
pub async fn dkim_and_dmarc(
    authenticator: &MessageAuthenticator,
    cache: &TxtCache,
    message: &AuthenticatedMessage<'_>,
    from_domain: &str,
) -> SenderAuth {
    let dkim = authenticator
        .verify_dkim(Parameters::new(message).with_txt_cache(cache))
        .await;
    // No SMTP envelope: SPF is "none" and the MAIL FROM domain is From's own.
    let spf = SpfOutput::new(from_domain.to_owned());
    let dmarc = authenticator
        .verify_dmarc(
            Parameters::new(DmarcParameters::new(message, &dkim, from_domain, &spf))
                .with_txt_cache(cache),
        )
        .await;
    let temporary = dkim
        .iter()
        .any(|o| matches!(o.result(), DkimResult::TempError(_)))
        || matches!(dmarc.dkim_result(), DmarcResult::TempError(_));
    if temporary {
        super::stats::record_dns_temporary_failure();
    }
    decide(
        &dkim,
        dmarc.dkim_result(),
        dmarc.dmarc_record().is_some(),
        from_domain,
    )
}

/// ARC (RFC 8617), for mail a forwarder passed on (a mailing list, a redirect) and so broke its
/// DKIM signature: authenticated when the seal chain verifies and the newest seal's
/// `ARC-Authentication-Results` come from a trusted authserv-id and say the message passed for
/// the `From:` domain when it reached that forwarder. `None` otherwise.
pub async fn arc(
    authenticator: &MessageAuthenticator,
    cache: &TxtCache,
    message: &AuthenticatedMessage<'_>,
    trusted: &TrustedIds,
    from_domain: &str,
) -> Option<SenderAuth> {
    if trusted.is_empty() || message.as_headers.is_empty() {
        return None;
    }
    let output = authenticator
        .verify_arc(Parameters::new(message).with_txt_cache(cache))
        .await;
    if output.result() != &DkimResult::Pass {
        return None;
    }
    let newest = output.sets().iter().max_by_key(|set| set.seal.header.i)?;
    let value = std::str::from_utf8(newest.results.value).ok()?;
    // "i=N; authserv-id; method=result …"
    let (_, results) = value.split_once(';')?;
    let verdict = super::results::trusted_value_verdict(results, trusted, from_domain)?;
    verdict
        .is_authenticated()
        .then_some(SenderAuth::new(AuthResult::Authenticated, AuthMethod::Arc))
}

/// The policy of the module docs, on the verifiers' outputs.
fn decide(
    dkim: &[DkimOutput<'_>],
    dmarc_dkim: &DmarcResult,
    has_dmarc_record: bool,
    from_domain: &str,
) -> SenderAuth {
    let dns_trouble = dkim
        .iter()
        .any(|o| matches!(o.result(), DkimResult::TempError(_)));
    if has_dmarc_record {
        let result = match dmarc_dkim {
            DmarcResult::Pass => AuthResult::Authenticated,
            DmarcResult::TempError(_) => AuthResult::Unknown,
            // An aligned signature that could not be checked for a DNS reason: undecided.
            _ if dns_trouble => AuthResult::Unknown,
            _ => AuthResult::NotAuthenticated,
        };
        return SenderAuth::new(result, AuthMethod::Dmarc);
    }
    if let DmarcResult::TempError(_) = dmarc_dkim {
        // The DMARC look-up itself failed: whether a policy exists is unknown.
        return SenderAuth::new(AuthResult::Unknown, AuthMethod::Dmarc);
    }
    let own_signature = dkim.iter().any(|o| {
        o.result() == &DkimResult::Pass
            && o.signature()
                .is_some_and(|s: &Signature| s.d.eq_ignore_ascii_case(from_domain))
    });
    let result = if own_signature {
        AuthResult::Authenticated
    } else if dns_trouble {
        AuthResult::Unknown
    } else {
        AuthResult::NotAuthenticated
    };
    SenderAuth::new(result, AuthMethod::Dkim)
}
