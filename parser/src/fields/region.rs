//! Default region for numbers written without a country code: country names in the
//! signature first, then the sender's domain, then the United States.

use rlibphonenumber::Region;

/// Country names and adjectives as written in signatures (lower-case) and their region.
const COUNTRY_WORDS: &[(&str, &str)] = &[
    ("germany", "DE"), ("deutschland", "DE"), ("austria", "AT"), ("österreich", "AT"), ("switzerland", "CH"),
    ("schweiz", "CH"), ("suisse", "CH"), ("svizzera", "CH"), ("france", "FR"), ("united kingdom", "GB"),
    ("england", "GB"), ("scotland", "GB"), ("uk", "GB"), ("spain", "ES"), ("españa", "ES"), ("italy", "IT"),
    ("italia", "IT"), ("netherlands", "NL"), ("nederland", "NL"), ("belgium", "BE"), ("belgique", "BE"),
    ("belgië", "BE"), ("poland", "PL"), ("polska", "PL"), ("sweden", "SE"), ("sverige", "SE"),
    ("denmark", "DK"), ("danmark", "DK"), ("portugal", "PT"), ("japan", "JP"), ("日本", "JP"),
    ("brazil", "BR"), ("brasil", "BR"), ("mexico", "MX"), ("méxico", "MX"), ("canada", "CA"),
    ("india", "IN"), ("australia", "AU"), ("ireland", "IE"), ("norway", "NO"), ("norge", "NO"),
    ("finland", "FI"), ("suomi", "FI"), ("usa", "US"), ("u.s.a.", "US"), ("united states", "US"),
    ("luxembourg", "LU"), ("new zealand", "NZ"), ("south africa", "ZA"), ("cdmx", "MX"), ("são paulo", "BR"),
];

/// Top-level domains that are not countries, or not used as one.
const GENERIC_TLDS: &[&str] = &["com", "net", "org", "edu", "gov", "io", "co", "me", "tv", "ai", "app", "biz", "info", "eu", "dev", "xyz"];

/// Regions to try, best first (never empty).
pub(crate) fn hints(signature_text: &str, from_address: Option<&str>) -> Vec<Region> {
    let mut out: Vec<Region> = Vec::new();
    let lower = signature_text.to_lowercase();
    for (word, code) in COUNTRY_WORDS {
        if super::has_word(&lower, word) {
            push(&mut out, code);
        }
    }
    if let Some(domain) = from_address.and_then(|a| a.rsplit_once('@')).map(|(_, d)| d) {
        let tld = domain.rsplit('.').next().unwrap_or_default();
        if tld == "uk" {
            push(&mut out, "GB");
        } else if !GENERIC_TLDS.contains(&tld) {
            push(&mut out, &tld.to_ascii_uppercase());
        }
    }
    push(&mut out, "US");
    out
}

fn push(out: &mut Vec<Region>, code: &str) {
    if let Ok(region) = code.parse::<Region>() {
        if !out.contains(&region) {
            out.push(region);
        }
    }
}
