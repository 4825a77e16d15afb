//! Calibrated confidence: a field's confidence is the measured chance that its value is right,
//! so that "0.96" means right 96 times in 100. Two things can make a value wrong: the block is
//! no signature at all, or the rule read the wrong line of a real one. Both are measured and
//! a value's confidence is their product: how often a block found the way this one was (after
//! a sign-off, by the sender's name alone, …) is a signature ([`ANCHORS`]), times how often the
//! field's rule is right inside a real signature ([`TABLE`]).
//!
//! Measured 2026-12-06 with `python3 parser/benchmark/score.py --reliability --rules` over the
//! fixtures (123), the open benchmark set (304) and the two development sets (authored-dev,
//! enron-train): 458 predicted signatures, 2,460 predicted values. Each figure is
//! (right + 1/2) / (seen + 1) (the Krichevsky-Trofimov estimate), so a rule seen a few times
//! stays below one seen often with the same record. Re-measure and update the tables when the
//! rules change; `BENCHMARKS.md` has the reliability table this gives.

/// (signature rule, share of the blocks it found that are signatures); the comment is
/// signatures / blocks found.
const ANCHORS: &[(&str, f32)] = &[
    ("signature.client_marker", 0.75),   // 1/1
    ("signature.delimiter", 0.975),      // 19/19
    ("signature.sender_name", 0.931),    // 87/93
    ("signature.trailing_block", 0.972), // 17/17
    ("signature.valediction", 0.995),    // 326/327
    ("signature.vcard_only", 0.5),       // not yet seen
];

/// (field rule, share of its values inside real signatures that are right); the comment is
/// right / values found.
const TABLE: &[(&str, f32)] = &[
    ("address.pattern", 0.989),           // 129/130
    ("company.after_title", 0.979),       // 23/23
    ("company.after_title_comma", 0.958), // 11/11
    ("company.domain_match", 0.994),      // 79/79
    ("company.legal_form", 0.998),        // 295/295
    ("company.logo_alt", 0.833),          // 2/2
    ("company.unit_signs", 0.75),         // 1/1
    ("email.from_header", 0.999),         // 420/420
    ("email.signature", 0.988),           // 41/41
    ("name.after_title", 0.75),           // 1/1
    ("name.after_valediction", 0.75),     // 1/1
    ("name.before_title", 0.9),           // 4/4
    ("name.first_name", 0.833),           // 2/2
    ("name.person_shaped", 0.958),        // 11/11
    ("name.sender_match", 0.996),         // 400/401
    ("name.unmatched_block", 0.932),      // 20/21
    ("phone.labelled", 0.999),            // 416/416
    ("phone.number_type", 0.997),         // 147/147
    ("social", 0.958),                    // 11/11
    ("title.keyword", 0.986),             // 240/243
    ("title.next_to_name", 0.988),        // 122/123
    ("vcard.email", 0.5),                 // not yet seen
    ("vcard.fn", 0.75),                   // 1/1
    ("vcard.org", 0.75),                  // 1/1
    ("vcard.tel", 0.833),                 // 2/2
    ("vcard.title", 0.75),                // 1/1
    ("vcard.url", 0.75),                  // 1/1
    ("website", 0.988),                   // 42/42
];

/// How often a block found by `anchor` (a [`crate::signature::Anchor::rule`]) is a signature;
/// an anchor never measured gets one half.
pub(crate) fn anchor(anchor: &str) -> f32 {
    ANCHORS
        .iter()
        .find(|(a, _)| *a == anchor)
        .map_or(0.5, |(_, c)| *c)
}

/// How often `rule` reads the right value inside a real signature; a rule never measured gets
/// one half.
pub(crate) fn confidence(rule: &str) -> f32 {
    TABLE
        .iter()
        .find(|(r, _)| *r == rule)
        .map_or(0.5, |(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_the_engine_names_is_measured() {
        let src = [
            include_str!("extract.rs"),
            include_str!("fields/name.rs"),
            include_str!("fields/company.rs"),
        ]
        .concat();
        for (rule, c) in TABLE.iter().chain(ANCHORS) {
            assert!((0.5..1.0).contains(c), "{rule}");
        }
        for rule in crate::signature::Anchor::RULES {
            assert!(
                ANCHORS.iter().any(|(a, _)| *a == rule),
                "{rule} not calibrated"
            );
        }
        // Every rule string written in the engine's sources has an entry.
        for part in src.split('"').skip(1).step_by(2) {
            let is_rule = [
                "name.", "title.", "company.", "email.", "phone.", "address.", "vcard.",
            ]
            .iter()
            .any(|p| part.starts_with(p))
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                && part.contains('.')
                && !part.ends_with('.');
            if is_rule && !part.starts_with("name.not_") && part != "name.unmatched_kept" {
                assert!(
                    TABLE.iter().any(|(r, _)| *r == part),
                    "{part} not calibrated"
                );
            }
        }
    }
}
