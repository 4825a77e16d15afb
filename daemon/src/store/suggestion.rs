//! The stored shape of a contact suggestion and the field-level merge rules.
//!
//! Only extracted fields are kept, each with its confidence and the rule that produced it;
//! never any other text of the message (no subject, body or signature lines).

use mailsig_parser::{Contact, Extraction, Field, Phone, PhoneKind};
use serde::{Deserialize, Serialize};

use crate::domain::SenderAuth;

/// One extracted value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredField {
    pub value: String,
    pub confidence: f32,
    pub rule: String,
}

/// One phone number: `kind` is `work`, `mobile`, `fax` or `other`; `e164` normalised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredPhone {
    pub kind: String,
    pub e164: String,
    pub confidence: f32,
    pub rule: String,
}

/// Every field of a suggestion (serialised as the `fields` JSON column).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SuggestionFields {
    pub name: Option<StoredField>,
    pub title: Option<StoredField>,
    pub company: Option<StoredField>,
    pub emails: Vec<StoredField>,
    pub phones: Vec<StoredPhone>,
    pub websites: Vec<StoredField>,
    pub address: Option<StoredField>,
    pub social: Vec<StoredField>,
}

/// What the pipeline commits for one message that yielded a contact.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSuggestion {
    /// The sender's address (From), lower-cased by the store.
    pub sender_email: String,
    pub fields: SuggestionFields,
    /// Overall confidence that the contact belongs to the sender, in [0, 1].
    pub confidence: f64,
    /// Whether the message's sender is authenticated: decides what the message may change
    /// (`store::commit`), and is kept as the suggestion's provenance.
    pub auth: SenderAuth,
}

impl NewSuggestion {
    /// Builds the suggestion from an extraction; `None` when there is no contact.
    pub fn from_extraction(sender_email: &str, extraction: &Extraction) -> Option<NewSuggestion> {
        let contact = extraction.contact.as_ref()?;
        Some(NewSuggestion {
            sender_email: sender_email.trim().to_lowercase(),
            fields: SuggestionFields::from(contact),
            confidence: f64::from(extraction.confidence),
            auth: SenderAuth::UNCHECKED,
        })
    }
}

fn stored(f: &Field<String>) -> StoredField {
    StoredField {
        value: f.value.clone(),
        confidence: f.confidence,
        rule: f.rule.to_owned(),
    }
}

fn stored_phone(f: &Field<Phone>) -> StoredPhone {
    let kind = match f.value.kind {
        PhoneKind::Work => "work",
        PhoneKind::Mobile => "mobile",
        PhoneKind::Fax => "fax",
        PhoneKind::Other => "other",
    };
    StoredPhone {
        kind: kind.to_owned(),
        e164: f.value.e164.clone(),
        confidence: f.confidence,
        rule: f.rule.to_owned(),
    }
}

impl From<&Contact> for SuggestionFields {
    fn from(c: &Contact) -> Self {
        SuggestionFields {
            name: c.name.as_ref().map(stored),
            title: c.title.as_ref().map(stored),
            company: c.company.as_ref().map(stored),
            emails: c.emails.iter().map(stored).collect(),
            phones: c.phones.iter().map(stored_phone).collect(),
            websites: c.websites.iter().map(stored).collect(),
            address: c.address.as_ref().map(stored),
            social: c.social.iter().map(stored).collect(),
        }
    }
}

impl SuggestionFields {
    /// Drops every value a vCard attachment supplied (rules `vcard.*`): a card counts only from
    /// an authenticated sender whose address it lists.
    pub fn without_vcard(mut self) -> SuggestionFields {
        let from_card = |rule: &str| rule.starts_with("vcard.");
        for scalar in [
            &mut self.name,
            &mut self.title,
            &mut self.company,
            &mut self.address,
        ] {
            if scalar.as_ref().is_some_and(|f| from_card(&f.rule)) {
                *scalar = None;
            }
        }
        self.emails.retain(|f| !from_card(&f.rule));
        self.websites.retain(|f| !from_card(&f.rule));
        self.social.retain(|f| !from_card(&f.rule));
        self.phones.retain(|p| !from_card(&p.rule));
        self
    }

    /// Whether a vCard supplied any value and listed `address` among its e-mails.
    pub fn vcard_lists(&self, address: &str) -> bool {
        self.emails
            .iter()
            .any(|f| f.rule.starts_with("vcard.") && f.value.eq_ignore_ascii_case(address))
    }

    /// Whether any value came from a vCard.
    pub fn has_vcard_values(&self) -> bool {
        let from_card = |rule: &str| rule.starts_with("vcard.");
        [&self.name, &self.title, &self.company, &self.address]
            .into_iter()
            .flatten()
            .any(|f| from_card(&f.rule))
            || self.emails.iter().any(|f| from_card(&f.rule))
            || self.websites.iter().any(|f| from_card(&f.rule))
            || self.social.iter().any(|f| from_card(&f.rule))
            || self.phones.iter().any(|p| from_card(&p.rule))
    }
}

/// Names of the fields, as used in history rows and merge edits.
pub const FIELD_NAMES: [&str; 8] = [
    "name", "title", "company", "emails", "phones", "websites", "address", "social",
];

/// A field whose value changed, with old and new values as display text (lists as JSON
/// arrays of values).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldChange {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// One field's difference: the accepted value and the one the message offered (display text;
/// list fields as JSON arrays, like the field history).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldDiff {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Lower-case words of letters and digits, single-spaced: "Dr.  Anna-Maria SCHMIDT" and
/// "dr anna maria schmidt" give the same key. `None` when nothing is left.
pub(crate) fn match_key(text: &str) -> Option<String> {
    let key = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    (!key.is_empty()).then_some(key)
}

impl SuggestionFields {
    pub(crate) fn name_key(&self) -> Option<String> {
        self.name.as_ref().and_then(|f| match_key(&f.value))
    }

    pub(crate) fn company_key(&self) -> Option<String> {
        self.company.as_ref().and_then(|f| match_key(&f.value))
    }

    /// Current display value of a field (lists as a JSON array of values).
    pub(crate) fn display(&self, field: &str) -> Option<String> {
        fn list(values: Vec<&str>) -> Option<String> {
            (!values.is_empty()).then(|| serde_json::Value::from(values).to_string())
        }
        match field {
            "name" => self.name.as_ref().map(|f| f.value.clone()),
            "title" => self.title.as_ref().map(|f| f.value.clone()),
            "company" => self.company.as_ref().map(|f| f.value.clone()),
            "address" => self.address.as_ref().map(|f| f.value.clone()),
            "emails" => list(self.emails.iter().map(|f| f.value.as_str()).collect()),
            "phones" => list(self.phones.iter().map(|p| p.e164.as_str()).collect()),
            "websites" => list(self.websites.iter().map(|f| f.value.as_str()).collect()),
            "social" => list(self.social.iter().map(|f| f.value.as_str()).collect()),
            _ => None,
        }
    }

    /// Folds a newer extraction into `self`: a present scalar replaces a different old one;
    /// list values are added when new (compared case-insensitively, phones by E.164).
    /// Returns each field that changed.
    pub(crate) fn merge_from(&mut self, newer: &SuggestionFields) -> Vec<FieldChange> {
        let before = self.clone();
        merge_scalar(&mut self.name, &newer.name);
        merge_scalar(&mut self.title, &newer.title);
        merge_scalar(&mut self.company, &newer.company);
        merge_scalar(&mut self.address, &newer.address);
        merge_list(&mut self.emails, &newer.emails, |f| f.value.to_lowercase());
        merge_list(&mut self.phones, &newer.phones, |p| p.e164.clone());
        merge_list(&mut self.websites, &newer.websites, |f| {
            f.value.to_lowercase()
        });
        merge_list(&mut self.social, &newer.social, |f| f.value.to_lowercase());
        self.changes_since(&before)
    }

    /// The fields whose display value differs from `before`.
    pub(crate) fn changes_since(&self, before: &SuggestionFields) -> Vec<FieldChange> {
        FIELD_NAMES
            .iter()
            .filter_map(|field| {
                let old = before.display(field);
                let new = self.display(field);
                (old != new).then_some(FieldChange { field, old, new })
            })
            .collect()
    }
}

fn merge_scalar(old: &mut Option<StoredField>, new: &Option<StoredField>) {
    if let Some(new) = new {
        let same = old.as_ref().is_some_and(|o| o.value == new.value);
        if !same {
            *old = Some(new.clone());
        }
    }
}

fn merge_list<T: Clone>(old: &mut Vec<T>, new: &[T], key: impl Fn(&T) -> String) {
    for item in new {
        let k = key(item);
        if !old.iter().any(|o| key(o) == k) {
            old.push(item.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(v: &str) -> Option<StoredField> {
        Some(StoredField {
            value: v.into(),
            confidence: 0.9,
            rule: "test".into(),
        })
    }

    #[test]
    fn match_key_ignores_case_and_punctuation() {
        assert_eq!(
            match_key("Dr.  Anna-Maria SCHMIDT"),
            match_key("dr anna maria schmidt")
        );
        assert_eq!(match_key(" .,- "), None);
    }

    #[test]
    fn merge_records_changed_fields_only() {
        let mut old = SuggestionFields {
            name: field("Ann"),
            title: field("CEO"),
            ..Default::default()
        };
        let new = SuggestionFields {
            name: field("Ann"),
            title: field("CTO"),
            company: field("Acme"),
            ..Default::default()
        };
        let changes = old.merge_from(&new);
        let names: Vec<_> = changes.iter().map(|c| c.field).collect();
        assert_eq!(names, ["title", "company"]);
        assert_eq!(changes[0].old.as_deref(), Some("CEO"));
        assert_eq!(changes[0].new.as_deref(), Some("CTO"));
        assert!(old.merge_from(&new).is_empty());
    }
}
