//! The reviewer's choice in the merge view between the connected book's value and the contact's
//! own, per field, against the one entry the choice was made for. The write-back follows it
//! (`books::merge::apply`): a field chosen from the book stays as the book has it (nothing is
//! added to it), a field chosen from the contact replaces the book's value, and every other
//! field is only filled where the book is blank. Field names only, never values.

use super::{BookContact, BookEntryId, email_key, phone_key};

/// The fields of an entry a choice can name: the single-valued ones, and the e-mails and phones.
pub const CHOICE_FIELDS: [&str; 6] = ["name", "title", "company", "address", "emails", "phones"];

/// Which side each field of the entry takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookChoice {
    /// The entry the reviewer saw; the choice holds for it alone.
    pub entry: BookEntryId,
    /// Fields that keep the book's value.
    pub book: Vec<&'static str>,
    /// Fields whose value the contact's replaces.
    pub ours: Vec<&'static str>,
}

impl BookChoice {
    /// A choice for `entry` with no field chosen yet.
    pub fn new(entry: BookEntryId) -> BookChoice {
        BookChoice {
            entry,
            book: Vec::new(),
            ours: Vec::new(),
        }
    }

    /// Whether `field` keeps the book's value.
    pub fn keeps_book(&self, field: &str) -> bool {
        self.book.contains(&field)
    }

    /// Whether the contact's `field` replaces the book's.
    pub fn takes_ours(&self, field: &str) -> bool {
        self.ours.contains(&field)
    }

    /// The stored form of one side: field names joined by commas.
    pub fn join(fields: &[&'static str]) -> String {
        fields.join(",")
    }

    /// Reads a stored side back; names that are not choice fields are dropped.
    pub fn split(stored: &str) -> Vec<&'static str> {
        stored
            .split(',')
            .filter_map(|f| CHOICE_FIELDS.iter().copied().find(|c| *c == f))
            .collect()
    }
}

impl BookContact {
    /// The entry's value of a single-valued field (`name`, `title`, `company`, `address`),
    /// `None` when blank or for any other field.
    pub fn value(&self, field: &str) -> Option<&str> {
        let value = match field {
            "name" => &self.name,
            "title" => &self.title,
            "company" => &self.company,
            "address" => &self.address,
            _ => &None,
        };
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    /// Whether the entry has this e-mail address (compared by its duplicate-check key).
    pub fn has_email(&self, email: &str) -> bool {
        let Some(key) = email_key(email) else {
            return false;
        };
        self.emails
            .iter()
            .any(|e| email_key(e).as_ref() == Some(&key))
    }

    /// Whether the entry has this phone number (E.164; the entry's compared by their key).
    pub fn has_phone(&self, e164: &str) -> bool {
        let key = phone_key(e164, None).unwrap_or_else(|| e164.to_owned());
        self.phones
            .iter()
            .any(|p| phone_key(&p.number, None).unwrap_or_else(|| p.number.clone()) == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_is_stored_as_names_and_read_back_without_unknown_ones() {
        let joined = BookChoice::join(&["title", "phones"]);
        assert_eq!(joined, "title,phones");
        assert_eq!(BookChoice::split(&joined), ["title", "phones"]);
        assert_eq!(BookChoice::split("name,notes,,emails"), ["name", "emails"]);
        assert!(BookChoice::split("").is_empty());
    }
}
