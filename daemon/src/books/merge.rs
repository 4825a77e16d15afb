//! What mailsig writes into an entry the book already has: the book's values stay, blanks are
//! filled from the accepted contact, and its e-mails, phones and websites that the entry lacks
//! are added. Nothing the book has is blanked, so a value someone typed there wins over one read
//! from a signature, unless the reviewer chose otherwise in the merge view ([`BookChoice`]): a
//! field chosen from the book is left exactly as the book has it (nothing added), and a field
//! chosen from the contact replaces the book's value (an e-mail or phone list chosen from the
//! contact still only adds: what the book has is never removed).

use crate::domain::address_book::{
    BookChoice, BookContact, BookKeys, BookPhone, Region, email_key, phone_key,
};
use crate::store::Suggestion;

/// The duplicate check's keys of a suggestion: its name, company, e-mail addresses (the
/// sender's among them) and phones (already E.164).
pub fn keys_of(suggestion: &Suggestion) -> BookKeys {
    let f = &suggestion.fields;
    let emails = std::iter::once(suggestion.sender_email.as_str())
        .chain(f.emails.iter().map(|e| e.value.as_str()));
    BookKeys::new(
        f.name.as_ref().map(|n| n.value.as_str()),
        f.company.as_ref().map(|c| c.value.as_str()),
        emails,
        f.phones.iter().map(|p| p.e164.as_str()),
        None,
    )
}

/// An accepted suggestion as a book entry's fields (the sender's address first).
pub fn contact_of(s: &Suggestion) -> BookContact {
    let f = &s.fields;
    let mut emails = vec![s.sender_email.clone()];
    for e in &f.emails {
        if !emails.iter().any(|x| x.eq_ignore_ascii_case(&e.value)) {
            emails.push(e.value.clone());
        }
    }
    BookContact {
        name: f.name.as_ref().map(|v| v.value.clone()),
        company: f.company.as_ref().map(|v| v.value.clone()),
        title: f.title.as_ref().map(|v| v.value.clone()),
        emails,
        phones: f
            .phones
            .iter()
            .map(|p| BookPhone {
                kind: p.kind.clone(),
                number: p.e164.clone(),
            })
            .collect(),
        websites: f.websites.iter().map(|w| w.value.clone()).collect(),
        address: f.address.as_ref().map(|v| v.value.clone()),
    }
}

fn blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// The entry after adding `ours` to `book`, or `None` when `ours` adds nothing.
pub fn fill(book: &BookContact, ours: &BookContact, region: Option<Region>) -> Option<BookContact> {
    apply(book, ours, region, None)
}

/// [`fill`], following the reviewer's `choice` for the fields it names (the caller checked that
/// it was made for this entry).
pub fn apply(
    book: &BookContact,
    ours: &BookContact,
    region: Option<Region>,
    choice: Option<&BookChoice>,
) -> Option<BookContact> {
    let keeps_book = |field: &str| choice.is_some_and(|c| c.keeps_book(field));
    let takes_ours = |field: &str| choice.is_some_and(|c| c.takes_ours(field));
    let mut merged = book.clone();
    let mut changed = false;
    for (field, slot, value) in [
        ("name", &mut merged.name, &ours.name),
        ("company", &mut merged.company, &ours.company),
        ("title", &mut merged.title, &ours.title),
        ("address", &mut merged.address, &ours.address),
    ] {
        if keeps_book(field) {
            continue;
        }
        let replace = takes_ours(field) && !blank(value) && slot.as_deref() != value.as_deref();
        if replace || (blank(slot) && !blank(value)) {
            slot.clone_from(value);
            changed = true;
        }
    }
    let emails: Vec<String> = book.emails.iter().filter_map(|e| email_key(e)).collect();
    let our_emails: &[String] = if keeps_book("emails") {
        &[]
    } else {
        &ours.emails
    };
    for e in our_emails {
        if email_key(e).is_some_and(|k| !emails.contains(&k))
            && !merged.emails.iter().any(|m| m.eq_ignore_ascii_case(e))
        {
            merged.emails.push(e.clone());
            changed = true;
        }
    }
    let key = |p: &BookPhone| phone_key(&p.number, region).unwrap_or_else(|| p.number.clone());
    let phones: Vec<String> = book.phones.iter().map(key).collect();
    let our_phones: &[BookPhone] = if keeps_book("phones") {
        &[]
    } else {
        &ours.phones
    };
    for p in our_phones {
        if !phones.contains(&key(p)) && !merged.phones.iter().any(|m| key(m) == key(p)) {
            merged.phones.push(p.clone());
            changed = true;
        }
    }
    for w in &ours.websites {
        if !merged.websites.iter().any(|m| m.eq_ignore_ascii_case(w)) {
            merged.websites.push(w.clone());
            changed = true;
        }
    }
    changed.then_some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(n: &str) -> BookPhone {
        BookPhone {
            kind: "work".into(),
            number: n.into(),
        }
    }

    #[test]
    fn the_books_values_stay_blanks_fill_and_new_numbers_are_added() {
        let book = BookContact {
            name: Some("Ann Lee".into()),
            title: Some(" ".into()),
            emails: vec!["Ann@acme.example".into()],
            phones: vec![phone("030 1234567")],
            ..BookContact::default()
        };
        let ours = BookContact {
            name: Some("Ann B. Lee".into()),
            company: Some("Acme".into()),
            title: Some("Buyer".into()),
            emails: vec!["ann@acme.example".into(), "ann.lee@acme.example".into()],
            phones: vec![phone("+49301234567"), phone("+49301234568")],
            ..BookContact::default()
        };
        let merged = fill(&book, &ours, Some(Region::DE)).expect("something to add");
        assert_eq!(merged.name.as_deref(), Some("Ann Lee"));
        assert_eq!(merged.company.as_deref(), Some("Acme"));
        assert_eq!(merged.title.as_deref(), Some("Buyer"));
        assert_eq!(merged.emails, ["Ann@acme.example", "ann.lee@acme.example"]);
        assert_eq!(merged.phones, [phone("030 1234567"), phone("+49301234568")]);
        assert_eq!(fill(&merged, &ours, Some(Region::DE)), None);
    }

    #[test]
    fn a_field_chosen_from_the_book_stays_and_one_chosen_from_the_contact_replaces() {
        let book = BookContact {
            name: Some("Ann Lee".into()),
            title: Some("Head of Buying".into()),
            emails: vec!["ann@acme.example".into()],
            phones: vec![phone("+49301234567")],
            ..BookContact::default()
        };
        let ours = BookContact {
            name: Some("Ann B. Lee".into()),
            company: Some("Acme".into()),
            title: Some("Buyer".into()),
            emails: vec!["ann@acme.example".into(), "ann.lee@acme.example".into()],
            phones: vec![phone("+49301234568")],
            ..BookContact::default()
        };
        let choice = BookChoice {
            entry: crate::domain::address_book::BookEntryId("ann.vcf".into()),
            book: vec!["title", "phones"],
            ours: vec!["name"],
        };
        let merged = apply(&book, &ours, None, Some(&choice)).expect("something to change");
        assert_eq!(merged.name.as_deref(), Some("Ann B. Lee"));
        assert_eq!(merged.title.as_deref(), Some("Head of Buying"));
        assert_eq!(merged.company.as_deref(), Some("Acme"));
        assert_eq!(merged.emails, ["ann@acme.example", "ann.lee@acme.example"]);
        assert_eq!(merged.phones, [phone("+49301234567")]);
        assert_eq!(apply(&merged, &ours, None, Some(&choice)), None);
        // Without the choice the book's name stays.
        let filled = fill(&book, &ours, None).expect("blanks to fill");
        assert_eq!(filled.name.as_deref(), Some("Ann Lee"));
    }
}
