//! Calibrated confidence: a field's confidence is the share of the values its rule found that
//! were right, measured, so that "0.96" means right 96 times in 100.
//!
//! Measured 2026-12-06 (177 benchmark messages, 118 fixtures) with `python3 parser/benchmark/score.py --reliability --rules` over the
//! fixtures, the open benchmark set and the two development sets (authored-dev, enron-train):
//! 1,916 predicted values. Each confidence is (right + 1/2) / (values + 1) (the
//! Krichevsky-Trofimov estimate), so a rule seen a few times stays below one seen often with the
//! same record. Re-measure and update the table when
//! the rules change; `BENCHMARKS.md` has the reliability table this gives.

/// (rule, confidence); the comment is right / values found.
const TABLE: &[(&str, f32)] = &[
    ("address.pattern", 0.98),           // 101/103
    ("company.after_title", 0.94),       // 8/8
    ("company.after_title_comma", 0.96), // 11/11
    ("company.domain_match", 0.96),      // 59/61
    ("company.legal_form", 0.99),        // 233/234
    ("company.logo_alt", 0.83),          // 2/2
    ("email.from_header", 0.99),         // 311/315
    ("email.signature", 0.94),           // 41/43
    ("name.after_title", 0.75),          // 1/1
    ("name.after_valediction", 0.75),    // 1/1
    ("name.before_title", 0.88),         // 3/3
    ("name.first_name", 0.83),           // 2/2
    ("name.person_shaped", 0.94),        // 7/7
    ("name.sender_match", 0.98),         // 305/311
    ("name.unmatched_block", 0.89),      // 12/13
    ("phone.labelled", 0.99),            // 350/354
    ("phone.number_type", 0.98),         // 105/107
    ("social", 0.95),                    // 10/10
    ("title.keyword", 0.97),             // 197/203
    ("title.next_to_name", 0.98),        // 81/82
    ("vcard.email", 0.5),                // not yet seen
    ("vcard.fn", 0.75),                  // 1/1
    ("vcard.org", 0.75),                 // 1/1
    ("vcard.tel", 0.83),                 // 2/2
    ("vcard.title", 0.75),               // 1/1
    ("vcard.url", 0.75),                 // 1/1
    ("website", 0.99),                   // 39/39
];

/// The measured confidence of `rule`; a rule never measured gets one half.
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
        for (rule, c) in TABLE {
            assert!((0.5..1.0).contains(c), "{rule}");
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
