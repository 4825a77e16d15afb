//! Outlook's contact properties and the seam's [`BookContact`], both ways.
//!
//! | seam | Graph `contact` |
//! |---|---|
//! | `name` | `displayName` (read: else `givenName` + `surname`); a new contact also gets `givenName` and `surname` split at the last space |
//! | `company` | `companyName` |
//! | `title` | `jobTitle` |
//! | `emails` | `emailAddresses[].address` (Outlook keeps [`MAX_EMAILS`]) |
//! | phones `work`, `fax`, `other` | `businessPhones[]` |
//! | phone `mobile` | `mobilePhone` (one number; a second mobile joins `businessPhones`) |
//! | phone `home` | `homePhones[]` |
//! | `websites` | `businessHomePage` (one) |
//! | `address` | `businessAddress` (read: its parts joined; written as its `street` when it differs) |
//!
//! `department`, `middleName`, notes, categories and every other property are never named in a
//! `PATCH`, so Outlook keeps them as they are. An update is built from the contact as Outlook
//! has it now, so it adds and never removes: an address's display name, a number's place, the
//! other parts of an address stay.

use serde_json::{Map, Value, json};

use crate::domain::address_book::{BookContact, BookPhone};

/// E-mail addresses an Outlook contact holds.
pub const MAX_EMAILS: usize = 3;

fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn texts(object: &Map<String, Value>, key: &str) -> Vec<String> {
    object
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn emails(object: &Map<String, Value>) -> Vec<String> {
    object
        .get("emailAddresses")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|e| e.get("address").and_then(Value::as_str))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The parts of a `physicalAddress`, in the order a postal address is read.
const ADDRESS_PARTS: &[&str] = &["street", "postalCode", "city", "state", "countryOrRegion"];

fn address(object: &Map<String, Value>) -> Option<String> {
    let parts = object.get("businessAddress").and_then(Value::as_object)?;
    let joined: Vec<String> = ADDRESS_PARTS
        .iter()
        .filter_map(|k| text(parts, k))
        .collect();
    (!joined.is_empty()).then(|| joined.join(", "))
}

fn phone(kind: &str, number: String) -> BookPhone {
    BookPhone {
        kind: kind.to_owned(),
        number,
    }
}

/// The seam's view of a contact as Graph returns it.
pub fn contact_of(object: &Map<String, Value>) -> BookContact {
    let name = text(object, "displayName").or_else(|| {
        let parts: Vec<String> = ["givenName", "surname"]
            .iter()
            .filter_map(|k| text(object, k))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let mut phones: Vec<BookPhone> = texts(object, "businessPhones")
        .into_iter()
        .map(|n| phone("work", n))
        .collect();
    if let Some(mobile) = text(object, "mobilePhone") {
        phones.push(phone("mobile", mobile));
    }
    phones.extend(
        texts(object, "homePhones")
            .into_iter()
            .map(|n| phone("home", n)),
    );
    BookContact {
        name,
        company: text(object, "companyName"),
        title: text(object, "jobTitle"),
        emails: emails(object),
        phones,
        websites: text(object, "businessHomePage").into_iter().collect(),
        address: address(object),
    }
}

fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The body of `POST …/contacts` for a new contact.
pub fn new_contact(contact: &BookContact) -> Value {
    update_of(&Map::new(), contact, true)
}

/// The body of the `PATCH` that makes `current` (the contact as Outlook has it) carry
/// `contact`'s values by the seam's additive contract; only the properties that change.
pub fn patch_of(current: &Map<String, Value>, contact: &BookContact) -> Value {
    update_of(current, contact, false)
}

fn update_of(current: &Map<String, Value>, contact: &BookContact, new: bool) -> Value {
    let mut body = Map::new();
    let set_text = |body: &mut Map<String, Value>, key: &str, value: Option<&str>| {
        if let Some(value) = value
            && text(current, key).as_deref() != Some(value)
        {
            body.insert(key.to_owned(), json!(value));
        }
    };
    if let Some(name) = present(&contact.name) {
        set_text(&mut body, "displayName", Some(name));
        if new {
            match name.rsplit_once(' ') {
                Some((given, surname)) => {
                    set_text(&mut body, "givenName", Some(given.trim()));
                    set_text(&mut body, "surname", Some(surname.trim()));
                }
                None => set_text(&mut body, "givenName", Some(name)),
            }
        }
    }
    set_text(&mut body, "companyName", present(&contact.company));
    set_text(&mut body, "jobTitle", present(&contact.title));
    if text(current, "businessHomePage").is_none() {
        set_text(
            &mut body,
            "businessHomePage",
            contact
                .websites
                .first()
                .map(|w| w.trim())
                .filter(|w| !w.is_empty()),
        );
    }
    // The address is one text in the seam: written as the street, and only when it is not
    // what Outlook's parts already say (a merge passes the book's own value back unchanged).
    if let Some(street) = present(&contact.address)
        && address(current).as_deref() != Some(street)
    {
        body.insert("businessAddress".into(), json!({ "street": street }));
    }
    add_emails(current, contact, &mut body);
    add_phones(current, contact, &mut body);
    Value::Object(body)
}

fn add_emails(current: &Map<String, Value>, contact: &BookContact, body: &mut Map<String, Value>) {
    // Kept whole (with each address's display name); new addresses appended.
    let mut list: Vec<Value> = current
        .get("emailAddresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut known = emails(current);
    let before = list.len();
    for email in contact.emails.iter().map(|e| e.trim()) {
        if email.is_empty() || known.iter().any(|k| k.eq_ignore_ascii_case(email)) {
            continue;
        }
        if list.len() >= MAX_EMAILS {
            break;
        }
        let mut entry = json!({ "address": email });
        if let Some(name) = present(&contact.name) {
            entry["name"] = json!(name);
        }
        list.push(entry);
        known.push(email.to_owned());
    }
    if list.len() != before {
        body.insert("emailAddresses".into(), Value::Array(list));
    }
}

fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

fn add_phones(current: &Map<String, Value>, contact: &BookContact, body: &mut Map<String, Value>) {
    let mut business = texts(current, "businessPhones");
    let mut home = texts(current, "homePhones");
    let mut mobile = text(current, "mobilePhone");
    let (business_before, home_before, mobile_before) =
        (business.len(), home.len(), mobile.clone());
    for p in &contact.phones {
        let number = p.number.trim();
        let key = digits(number);
        if key.is_empty() {
            continue;
        }
        let known = business
            .iter()
            .chain(home.iter())
            .chain(mobile.iter())
            .any(|n| digits(n) == key);
        if known {
            continue;
        }
        match p.kind.as_str() {
            "mobile" if mobile.is_none() => mobile = Some(number.to_owned()),
            "home" => home.push(number.to_owned()),
            _ => business.push(number.to_owned()),
        }
    }
    if business.len() != business_before {
        body.insert("businessPhones".into(), json!(business));
    }
    if home.len() != home_before {
        body.insert("homePhones".into(), json!(home));
    }
    if mobile != mobile_before {
        body.insert("mobilePhone".into(), json!(mobile));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn ann() -> BookContact {
        BookContact {
            name: Some("Ann Lee Smith".into()),
            company: Some("Acme".into()),
            title: Some("Buyer".into()),
            emails: vec!["ann@acme.example".into()],
            phones: vec![
                BookPhone {
                    kind: "work".into(),
                    number: "+49 30 1234".into(),
                },
                BookPhone {
                    kind: "mobile".into(),
                    number: "+49 170 555".into(),
                },
            ],
            websites: vec!["https://acme.example".into()],
            address: Some("Main St 1, Berlin".into()),
        }
    }

    #[test]
    fn a_new_contact_carries_every_field_and_reads_back_the_same() {
        let body = new_contact(&ann());
        assert_eq!(body["givenName"], "Ann Lee");
        assert_eq!(body["surname"], "Smith");
        assert_eq!(body["businessPhones"], json!(["+49 30 1234"]));
        assert_eq!(body["mobilePhone"], "+49 170 555");
        assert_eq!(body["businessAddress"]["street"], "Main St 1, Berlin");
        assert_eq!(contact_of(&object(body)), ann());
    }

    #[test]
    fn an_update_adds_and_never_blanks_or_replaces_what_outlook_keeps() {
        let current = object(json!({
            "displayName": "Ann Smith",
            "department": "Purchasing",
            "jobTitle": "Head of Purchasing",
            "emailAddresses": [{"address": "ann.private@home.example", "name": "Ann (home)"}],
            "mobilePhone": "+49 170 999",
            "businessAddress": {"city": "Hamburg"},
        }));
        let mut ours = ann();
        ours.name = None;
        ours.title = None;
        ours.address = Some("Hamburg".into());
        let patch = object(patch_of(&current, &ours));
        assert!(!patch.contains_key("displayName") && !patch.contains_key("jobTitle"));
        assert!(!patch.contains_key("department") && !patch.contains_key("businessAddress"));
        assert_eq!(
            patch["emailAddresses"],
            json!([
                {"address": "ann.private@home.example", "name": "Ann (home)"},
                {"address": "ann@acme.example"}
            ])
        );
        // Outlook has one mobile number: the second joins the business numbers.
        assert_eq!(
            patch["businessPhones"],
            json!(["+49 30 1234", "+49 170 555"])
        );
        assert!(!patch.contains_key("mobilePhone"));
        assert_eq!(patch["companyName"], "Acme");
    }

    #[test]
    fn nothing_new_is_an_empty_patch() {
        let current = object(new_contact(&ann()));
        assert_eq!(patch_of(&current, &ann()), json!({}));
    }

    #[test]
    fn outlook_keeps_three_addresses() {
        let current = object(json!({"emailAddresses": [
            {"address": "a@x.example"}, {"address": "b@x.example"}, {"address": "c@x.example"}
        ]}));
        let ours = BookContact {
            emails: vec!["d@x.example".into()],
            ..BookContact::default()
        };
        assert_eq!(patch_of(&current, &ours), json!({}));
    }
}
