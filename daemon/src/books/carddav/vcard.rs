//! vCard 4.0 (RFC 6350) and 3.0 (RFC 2426) through calcard (Stalwart's parser and writer):
//! reading the fields mailsig compares, writing a new card, and adding to an existing card
//! without touching what mailsig does not map. A card is written back in the version it came
//! in; a new one is 4.0.

use calcard::vcard::{
    VCard, VCardEntry, VCardParameter, VCardParameterName, VCardProperty, VCardType, VCardValue,
    VCardVersion,
};

use crate::domain::address_book::{BookContact, BookPhone, Region, email_key, phone_key};

/// Parses one card; `None` when the text is not a vCard.
pub fn parse(text: &str) -> Option<VCard> {
    VCard::parse(text).ok()
}

fn text_of(entry: &VCardEntry) -> Option<String> {
    let parts: Vec<&str> = entry
        .values
        .iter()
        .filter_map(VCardValue::as_text)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn first_text(entry: &VCardEntry) -> Option<String> {
    entry
        .values
        .first()
        .and_then(VCardValue::as_text)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// All components of a structured value (ADR, N), each component's parts joined.
fn components(entry: &VCardEntry) -> Vec<String> {
    entry
        .values
        .iter()
        .map(|v| match v {
            VCardValue::Component(parts) => parts.join(" "),
            other => other.as_text().unwrap_or_default().to_owned(),
        })
        .collect()
}

fn types(entry: &VCardEntry) -> Vec<String> {
    entry
        .parameters(&VCardParameterName::Type)
        .filter_map(|v| v.as_text())
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect()
}

fn phone_kind(entry: &VCardEntry) -> &'static str {
    let types = types(entry);
    let has = |t: &str| types.iter().any(|x| x == t);
    if has("fax") {
        "fax"
    } else if has("cell") {
        "mobile"
    } else if has("work") {
        "work"
    } else if has("home") {
        "home"
    } else {
        "other"
    }
}

/// The fields mailsig reads from a card.
pub fn contact_of(card: &VCard) -> BookContact {
    let mut contact = BookContact::default();
    for entry in &card.entries {
        match entry.name {
            VCardProperty::Fn => contact.name = contact.name.take().or_else(|| text_of(entry)),
            VCardProperty::Org => {
                contact.company = contact.company.take().or_else(|| first_text(entry));
            }
            VCardProperty::Title => {
                contact.title = contact.title.take().or_else(|| text_of(entry));
            }
            VCardProperty::Email => {
                if let Some(e) = first_text(entry) {
                    let e = e.strip_prefix("mailto:").unwrap_or(&e).to_owned();
                    contact.emails.push(e);
                }
            }
            VCardProperty::Tel => {
                if let Some(n) = first_text(entry) {
                    contact.phones.push(BookPhone {
                        kind: phone_kind(entry).to_owned(),
                        number: n.strip_prefix("tel:").unwrap_or(&n).to_owned(),
                    });
                }
            }
            VCardProperty::Url => {
                if let Some(u) = first_text(entry) {
                    contact.websites.push(u);
                }
            }
            VCardProperty::Adr if contact.address.is_none() => {
                let parts: Vec<String> = components(entry)
                    .into_iter()
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect();
                if !parts.is_empty() {
                    contact.address = Some(parts.join(", "));
                }
            }
            _ => {}
        }
    }
    if contact.name.is_none()
        && let Some(n) = card.property(&VCardProperty::N)
    {
        // N is family;given;additional;prefix;suffix.
        let c = components(n);
        let name = [c.get(3), c.get(1), c.get(2), c.first(), c.get(4)]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        contact.name = (!name.is_empty()).then_some(name);
    }
    contact
}

fn entry(name: VCardProperty, value: &str) -> VCardEntry {
    VCardEntry::new(name).with_value(value.to_owned())
}

fn typed(name: VCardProperty, value: &str, kind: Option<VCardType>) -> VCardEntry {
    let e = entry(name, value);
    match kind {
        Some(t) => e.with_param(VCardParameter::typ(t)),
        None => e,
    }
}

fn tel_type(kind: &str) -> Option<VCardType> {
    match kind {
        "mobile" => Some(VCardType::Cell),
        "fax" => Some(VCardType::Fax),
        "work" => Some(VCardType::Work),
        "home" => Some(VCardType::Home),
        _ => None,
    }
}

/// `N` from a display name: the last word is the family name, the rest the given names.
fn structured_name(name: &str) -> VCardEntry {
    let words: Vec<&str> = name.split_whitespace().collect();
    let (given, family) = match words.split_last() {
        Some((family, given)) if !given.is_empty() => (given.join(" "), (*family).to_owned()),
        _ => (String::new(), name.trim().to_owned()),
    };
    VCardEntry::new(VCardProperty::N).with_values(vec![
        VCardValue::Component(vec![family]),
        VCardValue::Component(vec![given]),
        VCardValue::Component(vec![String::new()]),
        VCardValue::Component(vec![String::new()]),
        VCardValue::Component(vec![String::new()]),
    ])
}

fn set_scalar(card: &mut VCard, prop: VCardProperty, value: &Option<String>) {
    let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return;
    };
    match card.entries.iter_mut().find(|e| e.name == prop) {
        Some(existing) if first_text(existing).as_deref() == Some(value) => {}
        Some(existing) => {
            // ORG keeps its units after the first component.
            if prop == VCardProperty::Org && !existing.values.is_empty() {
                existing.values[0] = VCardValue::Text(value.to_owned());
            } else {
                existing.values = vec![VCardValue::Text(value.to_owned())];
            }
        }
        None => card.entries.push(entry(prop, value)),
    }
}

/// Makes `card` carry `contact`'s values (the [`crate::domain::address_book::AddressBook::update`]
/// contract): scalars `contact` has are set, e-mails, phones and websites the card lacks are
/// added, nothing is removed, and every other property stays as it is. Phones compare by E.164
/// (numbers without a country code read in `region`), e-mails by their key.
pub fn apply(card: &mut VCard, contact: &BookContact, region: Option<Region>) {
    let had_name = card.property(&VCardProperty::Fn).is_some();
    set_scalar(card, VCardProperty::Fn, &contact.name);
    if !had_name
        && card.property(&VCardProperty::N).is_none()
        && let Some(name) = contact.name.as_deref()
    {
        card.entries.push(structured_name(name));
    }
    set_scalar(card, VCardProperty::Org, &contact.company);
    set_scalar(card, VCardProperty::Title, &contact.title);
    let current = contact_of(card);
    if current.address.is_none()
        && let Some(address) = contact.address.as_deref().filter(|a| !a.trim().is_empty())
    {
        // One line: the street component carries it (the parts are not known apart).
        card.entries.push(
            VCardEntry::new(VCardProperty::Adr)
                .with_param(VCardParameter::typ(VCardType::Work))
                .with_values(
                    ["", "", address.trim(), "", "", "", ""]
                        .into_iter()
                        .map(|c| VCardValue::Component(vec![c.to_owned()]))
                        .collect(),
                ),
        );
    }
    let emails: Vec<String> = current.emails.iter().filter_map(|e| email_key(e)).collect();
    for email in &contact.emails {
        if let Some(key) = email_key(email)
            && !emails.contains(&key)
        {
            card.entries
                .push(typed(VCardProperty::Email, &key, Some(VCardType::Work)));
        }
    }
    let phones: Vec<String> = current
        .phones
        .iter()
        .map(|p| phone_key(&p.number, region).unwrap_or_else(|| p.number.clone()))
        .collect();
    for phone in &contact.phones {
        let key = phone_key(&phone.number, region).unwrap_or_else(|| phone.number.clone());
        if !phones.contains(&key) {
            card.entries.push(typed(
                VCardProperty::Tel,
                &phone.number,
                tel_type(&phone.kind),
            ));
        }
    }
    for site in &contact.websites {
        if !current
            .websites
            .iter()
            .any(|w| w.eq_ignore_ascii_case(site))
        {
            card.entries.push(entry(VCardProperty::Url, site));
        }
    }
}

/// A new 4.0 card with `uid` and `contact`'s values.
pub fn new_card(uid: &str, contact: &BookContact, region: Option<Region>) -> VCard {
    let mut card = VCard::default();
    card.entries.push(entry(VCardProperty::Version, "4.0"));
    card.entries.push(entry(VCardProperty::Uid, uid));
    card.entries
        .push(entry(VCardProperty::Prodid, "-//mailsig//EN"));
    apply(&mut card, contact, region);
    if card.property(&VCardProperty::Fn).is_none() {
        // FN is required (RFC 6350 6.2.1): the first address stands in for a missing name.
        let fallback = contact.emails.first().cloned().unwrap_or_default();
        card.entries.push(entry(VCardProperty::Fn, &fallback));
    }
    card
}

/// The card's text, in its own version (3.0 stays 3.0), 4.0 when it names none.
pub fn write(card: &VCard) -> String {
    let version = card.version().unwrap_or(VCardVersion::V4_0);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = card.write_to(&mut out, version);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:abc\r\nFN:Ann Lee\r\nN:Lee;Ann;;;\r\nORG:Acme Inc.;Sales\r\nEMAIL;TYPE=INTERNET,WORK:ann@acme.example\r\nTEL;TYPE=CELL:+49 151 23456789\r\nNOTE:Met at the fair\r\nX-CUSTOM;X-P=1:kept as it is\r\nEND:VCARD\r\n";

    #[test]
    fn a_3_0_card_reads_and_round_trips_in_3_0_keeping_what_mailsig_does_not_map() {
        let mut card = parse(V3).expect("vcard");
        let c = contact_of(&card);
        assert_eq!(c.name.as_deref(), Some("Ann Lee"));
        assert_eq!(c.company.as_deref(), Some("Acme Inc."));
        assert_eq!(c.emails, ["ann@acme.example"]);
        assert_eq!(c.phones[0].kind, "mobile");
        let additions = BookContact {
            title: Some("Buyer".into()),
            emails: vec!["ANN@acme.example".into(), "ann.lee@acme.example".into()],
            phones: vec![BookPhone {
                kind: "work".into(),
                number: "+4915123456789".into(),
            }],
            ..BookContact::default()
        };
        apply(&mut card, &additions, None);
        let text = write(&card);
        assert!(text.contains("VERSION:3.0"), "{text}");
        assert!(text.contains("NOTE:Met at the fair"), "{text}");
        assert!(text.contains("X-CUSTOM;X-P=1:kept as it is"), "{text}");
        assert!(text.contains("ORG:Acme Inc.;Sales"), "{text}");
        let again = contact_of(&parse(&text).expect("vcard"));
        assert_eq!(again.title.as_deref(), Some("Buyer"));
        assert_eq!(again.emails, ["ann@acme.example", "ann.lee@acme.example"]);
        assert_eq!(again.phones.len(), 1, "the same number is not added twice");
    }

    #[test]
    fn a_new_card_is_4_0_with_n_and_fn() {
        let card = new_card(
            "u1",
            &BookContact {
                name: Some("Rachel Kim".into()),
                emails: vec!["rachel@example.org".into()],
                ..BookContact::default()
            },
            None,
        );
        let text = write(&card);
        assert!(
            text.contains("VERSION:4.0") && text.contains("UID:u1"),
            "{text}"
        );
        let c = contact_of(&parse(&text).expect("vcard"));
        assert_eq!(c.name.as_deref(), Some("Rachel Kim"));
        assert!(text.contains("N:Kim;Rachel;;;"), "{text}");
    }
}
