//! Calibrated confidence: a field's confidence is the measured chance that its value is right,
//! so that "0.96" means right 96 times in 100. Two things can make a value wrong: the block is
//! no signature at all, or the rule read the wrong line of a real one. A value's confidence is
//! the product of the two chances:
//! - the chance that the block is a signature, a small logistic model ([`signature_share`]) over
//!   a few yes-or-no facts about the block's shape ([`Fact`]): found without a sign-off, sent
//!   to a crowd or to nobody named, among colleagues of one domain, a name with no contact data
//!   of its own, under a memo-length text. Blocks like these are where labellers (and readers)
//!   disagree whether there is a signature at all, so their values are less sure; a block after
//!   a sign-off, to one outside recipient, with a number, is almost always one;
//! - how often the field's rule is right inside a real signature ([`TABLE`]), each figure
//!   (right + 1/2) / (seen + 1) (the Krichevsky-Trofimov estimate), so a rule seen a few times
//!   stays below one seen often with the same record.
//!
//! These numbers are measuring-derived: `python3 parser/benchmark/calibrate.py` fitted them on
//! 2026-12-07 (L2 penalty 1, each set weighing the same) over every predicted signature of the
//! project's fixtures (125 messages), its open benchmark (304) and two labelled development
//! corpora kept outside the repository (authored-dev, 60; enron-train, 395): 459 blocks, 7 of
//! them labelled no signature, 2,464 values. No message of those corpora is in the repository;
//! only these weights are. The same script checks them on data they were not fitted on (each
//! mailbox owner of enron-train, each tenth of the other sets, scored by a model fitted
//! without it); `BENCHMARKS.md` has both figures. Re-fit when the rules change.

/// A structural fact about a found block that bears on whether it is a signature at all. Each is
/// a yes or no read from the message's shape, never from its words; a diagnostic with its
/// [`Fact::code`] records it, so the scorer can re-measure the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fact {
    /// Found without a sign-off, a delimiter or a client's container: by the sender's name or
    /// as a trailing run of contact lines.
    NoSignoff,
    /// To and Cc name ten or more addresses: an announcement to a crowd.
    ManyRecipients,
    /// Neither To nor Cc names an address (a blind-copied circular).
    NoRecipients,
    /// No number, extension, address, web site or e-mail address of the block's own: the name
    /// (and title or unit) is all it says.
    NameOnly,
    /// Fifteen or more non-empty lines of the sender's own text precede the block: a memo or a
    /// circular rather than a note.
    LongText,
    /// Every recipient is in the sender's own domain: mail among colleagues.
    Internal,
}

impl Fact {
    #[cfg(test)]
    pub(crate) const ALL: [Fact; 6] = [
        Fact::NoSignoff,
        Fact::ManyRecipients,
        Fact::NoRecipients,
        Fact::NameOnly,
        Fact::LongText,
        Fact::Internal,
    ];

    pub(crate) fn code(self) -> &'static str {
        match self {
            Fact::NoSignoff => "block.no_signoff",
            Fact::ManyRecipients => "block.many_recipients",
            Fact::NoRecipients => "block.no_recipients",
            Fact::NameOnly => "block.name_only",
            Fact::LongText => "block.long_text",
            Fact::Internal => "block.internal",
        }
    }
}

/// The logistic model's intercept: the log-odds that a block with none of the facts (found
/// after a sign-off or a delimiter, with contact data, to named recipients outside the
/// sender's domain) is a signature: 0.991.
const INTERCEPT: f32 = 4.753;

/// (fact, weight added to the log-odds when the fact holds).
const WEIGHTS: &[(Fact, f32)] = &[
    (Fact::NoSignoff, -1.354),
    (Fact::ManyRecipients, -1.180),
    (Fact::NoRecipients, -1.297),
    (Fact::NameOnly, -1.012),
    (Fact::LongText, -0.772),
    (Fact::Internal, -1.044),
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
    ("company.unit_signs", 0.833),        // 2/2
    ("email.from_header", 0.999),         // 422/422
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

/// The chance that a block with these facts is a signature: the logistic model
/// `1 / (1 + e^-(INTERCEPT + sum of the weights of the facts that hold))`.
pub(crate) fn signature_share(facts: &[Fact]) -> f32 {
    let z = INTERCEPT
        + facts
            .iter()
            .filter_map(|f| WEIGHTS.iter().find(|(w, _)| w == f).map(|(_, w)| *w))
            .sum::<f32>();
    1.0 / (1.0 + (-z).exp())
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

    /// A message from `from` to `to` (comma-separated), `body_lines` lines of text, then
    /// `sign_off` (if any) and a block of name, title, company and a telephone number.
    fn message(from: &str, to: &str, body_lines: usize, sign_off: &str) -> Vec<u8> {
        let mut m =
            format!("From: Ann Lee <{from}>\r\nTo: {to}\r\nSubject: s\r\n\r\nHello,\r\n\r\n");
        for i in 0..body_lines {
            m.push_str(&format!(
                "Line {i} of what I had to say about the shipment.\r\n"
            ));
        }
        m.push_str(&format!(
            "\r\n{sign_off}\r\nAnn Lee\r\nSales Director\r\nCorp Ltd\r\nTel. +44 20 7946 0018\r\n"
        ));
        m.into_bytes()
    }

    fn facts_and_confidence(raw: &[u8]) -> (Vec<&'static str>, f32) {
        let x = crate::extract(raw);
        let name = x.contact.and_then(|c| c.name).expect("a name");
        let facts = x
            .diagnostics
            .iter()
            .map(|d| d.code)
            .filter(|c| c.starts_with("block."))
            .collect();
        (facts, name.confidence)
    }

    #[test]
    fn ambiguous_blocks_get_less_confidence_than_a_signed_note() {
        let note = message("ann@corp.example", "bo@other.example", 2, "Best regards,");
        let (facts, signed) = facts_and_confidence(&note);
        assert!(facts.is_empty(), "{facts:?}");
        assert!(signed > 0.98, "{signed}");

        // The same block without a sign-off, in a memo to twelve colleagues.
        let crowd: Vec<String> = (0..12).map(|i| format!("p{i}@corp.example")).collect();
        let memo = message("ann@corp.example", &crowd.join(", "), 20, "");
        let (facts, memo_confidence) = facts_and_confidence(&memo);
        assert_eq!(
            facts,
            [
                "block.no_signoff",
                "block.many_recipients",
                "block.long_text",
                "block.internal"
            ]
        );
        let expected = signature_share(&[
            Fact::NoSignoff,
            Fact::ManyRecipients,
            Fact::LongText,
            Fact::Internal,
        ]) * confidence("name.sender_match");
        assert!(
            (memo_confidence - expected).abs() < 1e-6,
            "{memo_confidence}"
        );
        assert!(memo_confidence < 0.6, "{memo_confidence}");
    }

    #[test]
    fn a_block_with_only_a_name_and_title_to_no_named_recipient_is_less_sure() {
        let raw = b"From: Ann Lee <ann@corp.example>\r\nSubject: s\r\n\r\nHello,\r\n\r\nThe forms are due on Friday.\r\n\r\nBest regards,\r\nAnn Lee\r\nSales Director\r\n";
        let (facts, name_only) = facts_and_confidence(raw);
        assert_eq!(facts, ["block.no_recipients", "block.name_only"]);
        let with_number = message("ann@corp.example", "bo@other.example", 1, "Best regards,");
        let (_, full) = facts_and_confidence(&with_number);
        assert!(name_only < full - 0.05, "{name_only} {full}");
    }

    #[test]
    fn every_fact_lowers_the_share_and_none_gives_the_intercept() {
        let none = signature_share(&[]);
        assert!((none - 1.0 / (1.0 + (-INTERCEPT).exp())).abs() < 1e-6);
        for fact in Fact::ALL {
            assert!(signature_share(&[fact]) < none, "{fact:?}");
            assert!(fact.code().starts_with("block."));
        }
    }

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
        for fact in Fact::ALL {
            assert!(
                WEIGHTS.iter().any(|(f, _)| *f == fact),
                "{fact:?} has no weight"
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
