//! Domain rules as the filters and the org blocklist apply them: a rule matches the domain itself
//! and every subdomain of it (`example.com` also covers `mail.example.com`), compared without
//! case, written with or without a leading `@` or `.`.

/// Whether `domain` is `rule` or one of its subdomains. Both are compared case-insensitively;
/// a rule may be written with a leading `@` or `.`.
pub fn domain_matches(domain: &str, rule: &str) -> bool {
    let rule = normalise_domain(rule);
    if rule.is_empty() {
        return false;
    }
    let domain = normalise_domain(domain);
    domain == rule
        || domain
            .strip_suffix(rule.as_str())
            .is_some_and(|head| head.ends_with('.'))
}

/// A domain or a rule in the form it is compared in: trimmed, without a leading `@` or `.` or a
/// trailing `.`, lower case.
pub(crate) fn normalise_domain(domain: &str) -> String {
    domain
        .trim()
        .trim_start_matches(['@', '.'])
        .trim_end_matches('.')
        .to_ascii_lowercase()
}
