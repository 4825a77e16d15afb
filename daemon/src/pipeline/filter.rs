//! Filters that decide, from header facts alone, that a message cannot yield a useful contact:
//! excluded sender domains, the user's own domains, automatic replies, bulk mail and role
//! addresses. Each is configurable. They run before extraction, so skipped mail costs little.
//!
//! Domain rules match the domain itself and its subdomains (`example.com` also covers
//! `mail.example.com`).

use mailsig_parser::Envelope;

use crate::domain::SkipReason;

use super::blocklist::{BlockedBy, Blocklist};
pub use super::domains::domain_matches;
use super::domains::normalise_domain;

/// Role local parts skipped by default: addresses of functions, not people.
pub const DEFAULT_ROLE_ADDRESSES: &[&str] = &[
    "info",
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "support",
    "sales",
    "admin",
    "administrator",
    "postmaster",
    "mailer-daemon",
    "hostmaster",
    "webmaster",
    "abuse",
    "billing",
    "contact",
    "hello",
    "help",
    "newsletter",
    "news",
    "notifications",
    "notification",
    "office",
    "root",
    "security",
    "service",
    "team",
    "bounce",
    "bounces",
    "marketing",
    "jobs",
    "careers",
    "privacy",
    "accounts",
    "invoice",
    "invoices",
];

/// Daemon-wide filter settings (from the `[filters]` section of the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterConfig {
    /// Skip RFC 3834 automatic replies and other auto-responder markers.
    pub skip_auto_replies: bool,
    /// Skip `Precedence: bulk|list|junk` and mailing-list mail (`List-Id`, `List-Unsubscribe`).
    pub skip_bulk: bool,
    /// Local parts (lower case) treated as role addresses. An entry ending in `*` is a prefix
    /// (`noreply*` also matches `noreply-billing`). Empty disables the filter.
    pub role_addresses: Vec<String>,
    /// The organisation's own domains, in addition to each mailbox's own domain.
    pub own_domains: Vec<String>,
    /// `[filters] excluded_domains`: the initial value of the org-wide blocklist, which the
    /// filter reads instead ([`super::blocklist`]; the store's list once the daemon runs).
    pub excluded_domains: Vec<String>,
    /// Messages larger than this are skipped as too large.
    pub max_message_bytes: u64,
}

impl Default for FilterConfig {
    fn default() -> Self {
        Self {
            skip_auto_replies: true,
            skip_bulk: true,
            role_addresses: DEFAULT_ROLE_ADDRESSES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            own_domains: Vec::new(),
            excluded_domains: Vec::new(),
            max_message_bytes: 25 * 1024 * 1024,
        }
    }
}

/// The per-mailbox part of the filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailboxRules {
    /// The mailbox owner's own domains (the mailbox address's and the user's email domain).
    pub own_domains: Vec<String>,
    /// Sender domains the user excluded for this mailbox.
    pub excluded_domains: Vec<String>,
    /// Authserv-ids whose `Authentication-Results` count for this mailbox (its provider's; see
    /// `pipeline::rules`), besides the daemon-wide ones of `[sender_auth]`.
    pub trusted_authserv_ids: crate::sender_auth::TrustedIds,
}

impl MailboxRules {
    /// Builds the rules from the mailbox's and its owner's addresses plus its exclusions.
    pub fn new<'a>(
        own_addresses: impl IntoIterator<Item = &'a str>,
        excluded_domains: Vec<String>,
    ) -> Self {
        let mut own_domains: Vec<String> = own_addresses
            .into_iter()
            .filter_map(|address| domain_of(address).map(normalise_domain))
            .collect();
        own_domains.sort();
        own_domains.dedup();
        Self {
            own_domains,
            excluded_domains: excluded_domains
                .iter()
                .map(|d| normalise_domain(d))
                .collect(),
            trusted_authserv_ids: crate::sender_auth::TrustedIds::default(),
        }
    }
}

/// Applies every filter, in a fixed order: unusable sender, a blocked or excluded domain (the
/// org blocklist's or the mailbox's), an address on the org blocklist, own domain, role address,
/// automatic reply, bulk. Returns the first reason
/// that applies.
pub fn check(
    envelope: &Envelope,
    config: &FilterConfig,
    blocklist: &Blocklist,
    mailbox: &MailboxRules,
) -> Result<(), SkipReason> {
    let Some(from) = envelope.from_address.as_deref() else {
        return Err(SkipReason::ParseError);
    };
    let (local, domain) = match from.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            (local, normalise_domain(domain))
        }
        _ => return Err(SkipReason::ParseError),
    };
    // A domain rule (the org's or the mailbox's) names the broader reason, so it wins over a
    // listed address of the same domain.
    let blocked = blocklist.verdict(local, &domain);
    if blocked == Some(BlockedBy::Domain)
        || mailbox
            .excluded_domains
            .iter()
            .any(|rule| domain_matches(&domain, rule))
    {
        return Err(SkipReason::ExcludedDomain);
    }
    if blocked == Some(BlockedBy::Address) {
        return Err(SkipReason::BlockedAddress);
    }
    let own = config.own_domains.iter().chain(&mailbox.own_domains);
    if own.into_iter().any(|rule| domain_matches(&domain, rule)) {
        return Err(SkipReason::OwnDomain);
    }
    if is_role_address(local, &config.role_addresses) {
        return Err(SkipReason::RoleAddress);
    }
    if config.skip_auto_replies && is_auto_reply(envelope) {
        return Err(SkipReason::AutoReply);
    }
    if config.skip_bulk && is_bulk(envelope) {
        return Err(SkipReason::Bulk);
    }
    Ok(())
}

/// RFC 3834: any `Auto-Submitted` value other than `no` (parameters ignored), plus the common
/// non-standard responder markers and `Precedence: auto_reply`.
pub fn is_auto_reply(envelope: &Envelope) -> bool {
    let auto_submitted = envelope
        .auto_submitted
        .as_deref()
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|keyword| !keyword.is_empty() && keyword != "no");
    let precedence_auto = envelope
        .precedence
        .as_deref()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("auto_reply"));
    auto_submitted || envelope.auto_reply_marker || precedence_auto
}

/// `Precedence: bulk|list|junk`, or any mailing-list header.
pub fn is_bulk(envelope: &Envelope) -> bool {
    let precedence_bulk = envelope
        .precedence
        .as_deref()
        .map(|p| p.trim().to_ascii_lowercase())
        .is_some_and(|p| matches!(p.as_str(), "bulk" | "list" | "junk"));
    precedence_bulk || envelope.has_list_id || envelope.has_list_unsubscribe
}

/// Whether a local part is a role address; `+tags` are ignored (`info+x` is `info`).
pub fn is_role_address(local_part: &str, roles: &[String]) -> bool {
    let local = local_part
        .split('+')
        .next()
        .unwrap_or(local_part)
        .to_ascii_lowercase();
    roles.iter().any(|role| {
        let role = role.trim().to_ascii_lowercase();
        match role.strip_suffix('*') {
            Some(prefix) => !prefix.is_empty() && local.starts_with(prefix),
            None => local == role,
        }
    })
}

fn domain_of(address: &str) -> Option<&str> {
    address
        .rsplit_once('@')
        .map(|(_, domain)| domain)
        .filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filters with an empty org blocklist.
    fn check(
        envelope: &Envelope,
        config: &FilterConfig,
        mailbox: &MailboxRules,
    ) -> Result<(), SkipReason> {
        super::check(envelope, config, &Blocklist::default(), mailbox)
    }

    fn from(address: &str) -> Envelope {
        Envelope {
            from_address: Some(address.to_owned()),
            ..Envelope::default()
        }
    }

    #[test]
    fn plain_sender_passes() {
        let rules = MailboxRules::new(["me@mycorp.example"], vec![]);
        assert_eq!(
            check(
                &from("jane@partner.example"),
                &FilterConfig::default(),
                &rules
            ),
            Ok(())
        );
    }

    #[test]
    fn excluded_domains_match_subdomains_globally_and_per_mailbox() {
        let config = FilterConfig::default();
        let org = Blocklist::of_domains(&["@Spam.example".into()]);
        let check = |envelope: &Envelope, config: &FilterConfig, rules: &MailboxRules| {
            super::check(envelope, config, &org, rules)
        };
        let rules = MailboxRules::new([], vec!["ads.example".into()]);
        assert_eq!(
            check(&from("a@mail.spam.example"), &config, &rules),
            Err(SkipReason::ExcludedDomain)
        );
        assert_eq!(
            check(&from("a@ADS.example"), &config, &rules),
            Err(SkipReason::ExcludedDomain)
        );
        assert_eq!(check(&from("a@notspam.example"), &config, &rules), Ok(()));
    }

    #[test]
    fn a_blocked_address_has_its_own_reason_and_a_domain_rule_wins_over_it() {
        use crate::store::BlocklistKind;
        let config = FilterConfig::default();
        let org = Blocklist::of_entries([
            (BlocklistKind::Address, "Boss@Partner.example"),
            (BlocklistKind::Domain, "spam.example"),
        ]);
        let none = MailboxRules::new([], vec![]);
        assert_eq!(
            super::check(&from("BOSS@partner.example"), &config, &org, &none),
            Err(SkipReason::BlockedAddress)
        );
        assert_eq!(
            super::check(&from("colleague@partner.example"), &config, &org, &none),
            Ok(())
        );
        assert_eq!(
            super::check(&from("a@mail.spam.example"), &config, &org, &none),
            Err(SkipReason::ExcludedDomain)
        );
        let excluded_here = MailboxRules::new([], vec!["partner.example".into()]);
        assert_eq!(
            super::check(&from("boss@partner.example"), &config, &org, &excluded_here),
            Err(SkipReason::ExcludedDomain)
        );
    }

    #[test]
    fn own_domains_come_from_mailbox_and_config() {
        let config = FilterConfig {
            own_domains: vec!["corp.example".into()],
            ..FilterConfig::default()
        };
        let rules = MailboxRules::new(["me@mine.example"], vec![]);
        assert_eq!(
            check(&from("boss@corp.example"), &config, &rules),
            Err(SkipReason::OwnDomain)
        );
        assert_eq!(
            check(&from("colleague@mine.example"), &config, &rules),
            Err(SkipReason::OwnDomain)
        );
    }

    #[test]
    fn role_addresses_are_configurable_with_prefixes_and_tags() {
        let config = FilterConfig::default();
        let rules = MailboxRules::default();
        assert_eq!(
            check(&from("no-reply@x.example"), &config, &rules),
            Err(SkipReason::RoleAddress)
        );
        assert_eq!(
            check(&from("Info+promo@x.example"), &config, &rules),
            Err(SkipReason::RoleAddress)
        );
        let custom = FilterConfig {
            role_addresses: vec!["bot*".into()],
            ..FilterConfig::default()
        };
        assert_eq!(
            check(&from("bot-7@x.example"), &custom, &rules),
            Err(SkipReason::RoleAddress)
        );
        assert_eq!(check(&from("info@x.example"), &custom, &rules), Ok(()));
    }

    #[test]
    fn auto_replies_follow_rfc_3834() {
        let rules = MailboxRules::default();
        let config = FilterConfig::default();
        let mut env = from("jane@x.example");
        env.auto_submitted = Some("auto-replied; owner-email=\"jane@x.example\"".into());
        assert_eq!(check(&env, &config, &rules), Err(SkipReason::AutoReply));
        env.auto_submitted = Some("no".into());
        assert_eq!(check(&env, &config, &rules), Ok(()));
        env.auto_reply_marker = true;
        assert_eq!(check(&env, &config, &rules), Err(SkipReason::AutoReply));
        let off = FilterConfig {
            skip_auto_replies: false,
            ..FilterConfig::default()
        };
        assert_eq!(check(&env, &off, &rules), Ok(()));
    }

    #[test]
    fn bulk_mail_is_skipped_unless_disabled() {
        let rules = MailboxRules::default();
        let mut env = from("jane@x.example");
        env.precedence = Some("List".into());
        assert_eq!(
            check(&env, &FilterConfig::default(), &rules),
            Err(SkipReason::Bulk)
        );
        env.precedence = None;
        env.has_list_unsubscribe = true;
        assert_eq!(
            check(&env, &FilterConfig::default(), &rules),
            Err(SkipReason::Bulk)
        );
        let off = FilterConfig {
            skip_bulk: false,
            ..FilterConfig::default()
        };
        assert_eq!(check(&env, &off, &rules), Ok(()));
    }

    #[test]
    fn unusable_sender_is_a_parse_error() {
        let rules = MailboxRules::default();
        assert_eq!(
            check(&Envelope::default(), &FilterConfig::default(), &rules),
            Err(SkipReason::ParseError)
        );
        assert_eq!(
            check(&from("nodomain@"), &FilterConfig::default(), &rules),
            Err(SkipReason::ParseError)
        );
    }
}
