//! What mailsig writes into an entry the book already has: the book's values stay, blanks are
//! filled from the accepted contact, and its e-mails, phones and websites that the entry lacks
//! are added. Nothing the book has is blanked or replaced, so a value someone typed there wins
//! over one read from a signature.

use crate::domain::address_book::{BookContact, BookKeys, BookPhone, Region, email_key, phone_key};
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
    let mut merged = book.clone();
    let mut changed = false;
    for (slot, value) in [
        (&mut merged.name, &ours.name),
        (&mut merged.company, &ours.company),
        (&mut merged.title, &ours.title),
        (&mut merged.address, &ours.address),
    ] {
        if blank(slot) && !blank(value) {
            slot.clone_from(value);
            changed = true;
        }
    }
    let emails: Vec<String> = book.emails.iter().filter_map(|e| email_key(e)).collect();
    for e in &ours.emails {
        if email_key(e).is_some_and(|k| !emails.contains(&k))
            && !merged.emails.iter().any(|m| m.eq_ignore_ascii_case(e))
        {
            merged.emails.push(e.clone());
            changed = true;
        }
    }
    let key = |p: &BookPhone| phone_key(&p.number, region).unwrap_or_else(|| p.number.clone());
    let phones: Vec<String> = book.phones.iter().map(key).collect();
    for p in &ours.phones {
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
}
