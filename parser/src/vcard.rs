//! `text/vcard` attachments (vCard 3.0 / 4.0): read when their email matches the sender, to
//! fill in what the typed signature lacks.

use rlibphonenumber::Region;

use crate::PhoneKind;

/// The fields of one vCard that the contact uses.
#[derive(Default)]
pub(crate) struct Card {
    pub name: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<(String, PhoneKind)>,
    pub websites: Vec<String>,
}

/// Unfolds continuation lines and splits `NAME;PARAMS:VALUE`.
fn properties(text: &str) -> Vec<(String, String, String)> {
    let mut unfolded: Vec<String> = Vec::new();
    for line in text.lines().take(500) {
        if let (Some(rest), Some(last)) = (line.strip_prefix([' ', '\t']), unfolded.last_mut()) {
            last.push_str(rest);
        } else {
            unfolded.push(line.to_string());
        }
    }
    unfolded
        .into_iter()
        .filter_map(|l| {
            let (head, value) = l.split_once(':')?;
            let (name, params) = head.split_once(';').unwrap_or((head, ""));
            let name = name.rsplit('.').next().unwrap_or(name).to_ascii_uppercase();
            Some((
                name,
                params.to_ascii_lowercase(),
                value.trim().replace("\\,", ",").replace("\\;", ";"),
            ))
        })
        .collect()
}

pub(crate) fn parse(text: &str, regions: &[Region]) -> Card {
    let mut card = Card::default();
    for (name, params, value) in properties(text) {
        match name.as_str() {
            "FN" if !value.is_empty() => card.name = Some(value),
            "TITLE" if !value.is_empty() => card.title = Some(value),
            "ORG" => {
                let org = value
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                if !org.is_empty() {
                    card.company = Some(org);
                }
            }
            "EMAIL" => card
                .emails
                .push(value.trim_start_matches("mailto:").to_lowercase()),
            "URL" => {
                if let Some(u) = crate::fields::url::normalise(&value) {
                    card.websites.push(u);
                }
            }
            "TEL" => {
                let number = value.trim_start_matches("tel:");
                let kind = if params.contains("fax") {
                    PhoneKind::Fax
                } else if params.contains("cell") || params.contains("mobile") {
                    PhoneKind::Mobile
                } else {
                    PhoneKind::Work
                };
                for region in regions {
                    if let Ok(n) = rlibphonenumber::PHONE_NUMBER_UTIL.parse(number, Some(*region))
                        && n.is_valid()
                    {
                        card.phones.push((
                            n.format_as(rlibphonenumber::PhoneNumberFormat::E164)
                                .into_owned(),
                            kind,
                        ));
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    card
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_typed_numbers() {
        let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ann Lee\r\nORG:Acme Inc.;Sales\r\nTITLE:Buyer\r\nEMAIL;TYPE=work:Ann@Acme.com\r\nTEL;TYPE=cell:tel:+1-510-555-0178\r\nTEL;TYPE=fax:(510) 555-0143\r\nURL:https://www.acme.com/\r\nNOTE:long\r\n  folded\r\nEND:VCARD\r\n";
        let card = parse(text, &[Region::US]);
        assert_eq!(card.name.as_deref(), Some("Ann Lee"));
        assert_eq!(card.company.as_deref(), Some("Acme Inc."));
        assert_eq!(card.title.as_deref(), Some("Buyer"));
        assert_eq!(card.emails, ["ann@acme.com"]);
        assert_eq!(
            card.phones,
            [
                ("+15105550178".to_string(), PhoneKind::Mobile),
                ("+15105550143".to_string(), PhoneKind::Fax)
            ]
        );
        assert_eq!(card.websites, ["https://www.acme.com"]);
    }

    #[test]
    fn garbage_is_empty() {
        let card = parse(":::\n;;;\nTEL:not a number\n", &[Region::US]);
        assert!(card.name.is_none() && card.phones.is_empty());
    }
}
