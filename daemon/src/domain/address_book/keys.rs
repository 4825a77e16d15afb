//! The keys the duplicate check looks up: a suggestion and a book entry are compared by these,
//! computed once when an entry enters the local index and once per suggestion, so a check is a
//! handful of index look-ups whatever the size of the book.
//!
//! - e-mail: trimmed and lower-cased (`mailto:` dropped);
//! - phone: E.164 (libphonenumber; a number without a country code is read in the book's
//!   region, and left out of the index when it still does not parse);
//! - name: accents folded, lower-cased, titles and initials dropped, the words sorted (so
//!   "Kim, Rachel" and "Rachel Kim" meet);
//! - phonetic name: the Double Metaphone code of each word of the name key, sorted (so
//!   "Meyer" and "Maier" meet);
//! - company: accents folded, lower-cased, legal forms dropped ("Acme GmbH" and "ACME" meet).

/// The region a book's numbers without a country code are read in.
pub use rlibphonenumber::Region;
use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat};
use rphonetic::{DoubleMetaphone, Encoder};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::BookContact;

/// Words left out of a name key.
const NAME_NOISE: &[&str] = &[
    "dr", "prof", "mr", "mrs", "ms", "miss", "herr", "frau", "mag", "dipl", "ing", "phd", "jr",
    "sr", "md",
];

/// Legal forms left out of a company key.
const LEGAL_FORMS: &[&str] = &[
    "gmbh",
    "ag",
    "kg",
    "co",
    "ohg",
    "ug",
    "se",
    "inc",
    "incorporated",
    "ltd",
    "limited",
    "llc",
    "llp",
    "plc",
    "corp",
    "corporation",
    "company",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "oy",
    "ab",
    "as",
    "aps",
    "kk",
    "pty",
    "the",
];

/// Lower-cased words of `text` with accents folded; anything but letters and digits separates.
fn words(text: &str) -> Vec<String> {
    let folded: String = text
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ß' => 's',
            'ø' => 'o',
            'æ' => 'a',
            'đ' | 'ð' => 'd',
            'ł' => 'l',
            c => c,
        })
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn name_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = words(name)
        .into_iter()
        .filter(|w| w.chars().count() > 1 && !NAME_NOISE.contains(&w.as_str()))
        .collect();
    words.sort();
    words.dedup();
    words
}

/// The e-mail key, `None` for something that is not an address.
pub fn email_key(email: &str) -> Option<String> {
    let e = email.trim();
    let e = e.strip_prefix("mailto:").unwrap_or(e).trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    (!local.is_empty() && !domain.is_empty() && !e.contains(char::is_whitespace)).then_some(e)
}

/// The phone key (E.164); a number without a country code is read in `region`.
pub fn phone_key(number: &str, region: Option<Region>) -> Option<String> {
    let number = number.trim();
    let number = number.strip_prefix("tel:").unwrap_or(number);
    let number = match number.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => number.to_owned(),
    };
    let parsed = PHONE_NUMBER_UTIL.parse(&number, region).ok()?;
    parsed
        .is_valid()
        .then(|| parsed.format_as(PhoneNumberFormat::E164).into_owned())
}

/// The name key, `None` when no word is left.
pub fn name_key(name: &str) -> Option<String> {
    let words = name_words(name);
    (!words.is_empty()).then(|| words.join(" "))
}

/// The phonetic name key, `None` when no word is left.
pub fn phonetic_key(name: &str) -> Option<String> {
    let encoder = DoubleMetaphone::default();
    let mut codes: Vec<String> = name_words(name)
        .iter()
        .map(|w| encoder.encode(w))
        .filter(|c| !c.is_empty())
        .collect();
    codes.sort();
    (!codes.is_empty()).then(|| codes.join(" "))
}

/// The company key, `None` when nothing but a legal form is left.
pub fn company_key(company: &str) -> Option<String> {
    let words: Vec<String> = words(company)
        .into_iter()
        .filter(|w| !LEGAL_FORMS.contains(&w.as_str()))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Every key of one contact, as the index stores them and the check looks them up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookKeys {
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub name: Option<String>,
    pub phonetic: Option<String>,
    pub company: Option<String>,
}

impl BookKeys {
    /// The keys of a book entry; its phones without a country code are read in `region`.
    pub fn of_contact(contact: &BookContact, region: Option<Region>) -> BookKeys {
        BookKeys::new(
            contact.name.as_deref(),
            contact.company.as_deref(),
            contact.emails.iter().map(String::as_str),
            contact.phones.iter().map(|p| p.number.as_str()),
            region,
        )
    }

    /// The keys of any contact's fields.
    pub fn new<'a>(
        name: Option<&str>,
        company: Option<&str>,
        emails: impl IntoIterator<Item = &'a str>,
        phones: impl IntoIterator<Item = &'a str>,
        region: Option<Region>,
    ) -> BookKeys {
        let mut emails: Vec<String> = emails.into_iter().filter_map(email_key).collect();
        emails.sort();
        emails.dedup();
        let mut phones: Vec<String> = phones
            .into_iter()
            .filter_map(|p| phone_key(p, region))
            .collect();
        phones.sort();
        phones.dedup();
        BookKeys {
            emails,
            phones,
            name: name.and_then(name_key),
            phonetic: name.and_then(phonetic_key),
            company: company.and_then(company_key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_meet_across_order_accents_titles_and_initials() {
        assert_eq!(name_key("Kim, Rachel"), name_key("Dr. Rachel M. Kim"));
        assert_eq!(name_key("José Müller"), name_key("jose muller"));
        assert_ne!(name_key("Rachel Kim"), name_key("Rachel Kimball"));
        assert_eq!(name_key("Dr."), None);
    }

    #[test]
    fn names_that_sound_alike_share_the_phonetic_key() {
        assert_eq!(phonetic_key("Anna Meyer"), phonetic_key("Anna Maier"));
        assert_eq!(
            phonetic_key("Catherine Smith"),
            phonetic_key("Kathryn Smyth")
        );
        assert_ne!(phonetic_key("Anna Meyer"), phonetic_key("Anna Becker"));
    }

    #[test]
    fn companies_meet_without_their_legal_form() {
        assert_eq!(company_key("Acme GmbH"), company_key("ACME"));
        assert_eq!(company_key("Acme, Inc."), Some("acme".to_owned()));
        assert_eq!(company_key("GmbH & Co. KG"), None);
        assert_ne!(company_key("Acme Logistics"), company_key("Acme"));
    }

    #[test]
    fn phones_and_emails_are_normalised() {
        assert_eq!(
            phone_key("030 1234567", Some(Region::DE)).as_deref(),
            Some("+49301234567")
        );
        assert_eq!(
            phone_key("0049 30 1234567", None).as_deref(),
            Some("+49301234567")
        );
        assert_eq!(
            phone_key("tel:+1-650-253-0000", None).as_deref(),
            Some("+16502530000")
        );
        assert_eq!(phone_key("12", None), None);
        assert_eq!(
            email_key(" mailto:Ann@Acme.COM ").as_deref(),
            Some("ann@acme.com")
        );
        assert_eq!(email_key("not an address"), None);
    }
}
