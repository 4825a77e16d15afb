//! The pipeline: MIME -> lines -> top message -> signature block -> fields -> contact.

use crate::fields::{self, name::Sender};
use crate::line::Line;
use crate::signature::{self, Anchor};
use crate::{
    Contact, Diagnostic, Extraction, Field, Phone, PhoneKind, calibration, mime, segment, vcard,
};

/// A field found by `rule`, with the rule's measured confidence ([`calibration`]).
fn field<T>(value: T, rule: &'static str, line: Option<usize>) -> Field<T> {
    Field {
        value,
        confidence: calibration::confidence(rule),
        rule,
        line: line.and_then(|l| u32::try_from(l).ok()),
    }
}

/// The diagnostic codes that say how the signature block was found.
pub(crate) const ANCHOR_RULES: [&str; 6] = Anchor::RULES;

/// Bulk, list and machine-generated mail carries a company footer, not a person's signature.
fn is_automated(envelope: &crate::Envelope) -> bool {
    let auto = envelope
        .auto_submitted
        .as_deref()
        .is_some_and(|v| v != "no" && !v.starts_with("auto-replied"));
    let bulk = envelope
        .precedence
        .as_deref()
        .is_some_and(|p| matches!(p, "bulk" | "list" | "junk"));
    auto || bulk || envelope.has_list_unsubscribe || envelope.has_list_id
}

pub(crate) fn run(raw: &[u8]) -> Extraction {
    let mut diagnostics = Vec::new();
    let Some(body) = mime::read(raw, &mut diagnostics) else {
        diagnostics.push(Diagnostic {
            code: "mime.unparseable",
        });
        return Extraction {
            diagnostics,
            ..Extraction::default()
        };
    };
    if is_automated(&body.envelope) {
        diagnostics.push(Diagnostic {
            code: "skip.automated",
        });
        return Extraction {
            diagnostics,
            ..Extraction::default()
        };
    }
    let from_address = body.envelope.from_address.clone();
    let sender = Sender::new(body.from_name.as_deref(), from_address.as_deref());
    let (top, unwrapped) = segment::top_message(body.lines);
    if body.is_html {
        diagnostics.push(Diagnostic {
            code: "mime.html_body",
        });
    }
    if unwrapped {
        diagnostics.push(Diagnostic {
            code: "segment.forward_unwrapped",
        });
    }
    let located = signature::locate(&top, &|t| sender.is_name_line(t));
    // With no typed signature, a vCard of the sender still describes them.
    let block = match located {
        Some(block) => block,
        None if !body.vcards.is_empty() => signature::Block {
            start: top.len(),
            end: top.len(),
            anchor: Anchor::VCard,
            inline_name: None,
        },
        None => {
            diagnostics.push(Diagnostic {
                code: "signature.none",
            });
            return Extraction {
                diagnostics,
                ..Extraction::default()
            };
        }
    };
    diagnostics.push(Diagnostic {
        code: block.anchor.rule(),
    });
    let mut start = block.start;
    // A title, company or logo written just above the sender's name belongs to the block.
    if matches!(block.anchor, Anchor::SenderName | Anchor::Trailing) {
        for _ in 0..2 {
            let Some(prev) = top
                .get(..start)
                .and_then(|t| t.iter().rposition(|l| !l.is_blank()))
            else {
                break;
            };
            let line = &top[prev];
            let logo_only = !line.alts.is_empty() && line.alts.join(" ") == line.text;
            let heading = line.text.chars().count() < 60
                && (fields::title::is_title(&line.text)
                    || fields::company::has_legal_form(&line.text));
            if start - prev <= 2 && (heading || logo_only) {
                start = prev;
            } else {
                break;
            }
        }
    }
    let lines: &[Line] = top.get(start..block.end).unwrap_or_default();
    let language = fields::region::language_of_lines(&top);
    let (mut contact, evidence, extension) = build(
        lines,
        start,
        &sender,
        from_address.as_deref(),
        block.inline_name.as_deref(),
        &body.vcards,
        language,
    );
    let name_ok = contact
        .name
        .as_ref()
        .is_some_and(|n| n.rule == "name.sender_match" || sender.overlap(&n.value) > 0);
    // A full name that heads a block with a title or company and a number or an address of
    // its own is the signer's even when the From name differs (a shared or announcements
    // mailbox, a nickname the tables do not know): it is kept, with less confidence.
    // (Not below a header block the history cut missed: that block is the quoted author's.)
    let header_above = top.get(..start).unwrap_or_default().iter().any(|l| {
        let t = l.text.as_bytes();
        ["to:", "cc:", "subject:"]
            .iter()
            .any(|h| t.len() >= h.len() && t[..h.len()].eq_ignore_ascii_case(h.as_bytes()))
    });
    let strong_block = !header_above
        && contact.name.as_ref().is_some_and(|n| {
            n.value.split_whitespace().count() >= 2
                && n.line.is_some_and(|l| l as usize <= start + 1)
                && (contact.title.is_some() || contact.company.is_some())
                && (!contact.phones.is_empty()
                    || contact.emails.iter().any(|e| e.rule == "email.signature"))
        });
    if !name_ok && strong_block && !unwrapped {
        diagnostics.push(Diagnostic {
            code: "name.unmatched_kept",
        });
        if let Some(n) = contact.name.as_mut() {
            n.rule = "name.unmatched_block";
            n.confidence = calibration::confidence(n.rule);
        }
    }
    // A name that is not the sender's (a colleague in an out-of-office, a quoted author) is not
    // attributed to the sender.
    if !name_ok
        && !strong_block
        && !unwrapped
        && !sender.display_tokens.is_empty()
        && contact.name.is_some()
    {
        diagnostics.push(Diagnostic {
            code: "name.not_sender",
        });
        contact.name = None;
    }
    let strong_anchor = matches!(block.anchor, Anchor::ClientMarker);
    // A first name alone signs many messages; it makes a signature only with contact data.
    let first_name_only = contact
        .name
        .as_ref()
        .is_some_and(|n| n.rule == "name.first_name");
    let contact_data = !contact.phones.is_empty()
        || extension
        || contact.address.is_some()
        || contact.emails.iter().any(|e| e.rule == "email.signature");
    if first_name_only && !contact_data {
        contact.name = None;
    }
    // "Thank you,\nAcme Commodity Futures, Inc." from a person's own mailbox: the company
    // signs in the name's place.
    let company_signs = matches!(block.anchor, Anchor::Valediction)
        && contact.name.is_none()
        && personal_address(from_address.as_deref())
        && contact.company.as_ref().is_some_and(|c| {
            c.rule == "company.legal_form"
                && c.line.is_some_and(|l| {
                    top.get(start..)
                        .and_then(|t| t.iter().position(|x| !x.is_blank()))
                        .is_some_and(|first| first + start == l as usize)
                })
        });
    // "Parking & Transportation Desk\n3-7060": a unit of the organisation signs with an
    // internal extension, which only staff write (mail to customers gives a number they can
    // dial).
    let unit_signs = contact.name.is_none() && contact.company.is_none() && extension && {
        let first = top
            .get(start..block.end)
            .and_then(|t| t.iter().position(|x| !x.is_blank()))
            .map(|i| i + start);
        match first.and_then(|i| top.get(i).map(|l| (i, l.text.as_str()))) {
            Some((i, text))
                if fields::company::is_org_line(text)
                    && crate::tables::ORG_UNITS.matches(&text.to_lowercase()) =>
            {
                contact.company = Some(field(
                    text.trim().to_string(),
                    "company.unit_signs",
                    Some(i),
                ));
                true
            }
            _ => false,
        }
    };
    let has_signature = evidence >= 1
        && (contact.name.is_some()
            || company_signs
            || unit_signs
            || (strong_anchor && evidence >= 2));
    if !has_signature {
        diagnostics.push(Diagnostic {
            code: "signature.too_little_evidence",
        });
        return Extraction {
            diagnostics,
            ..Extraction::default()
        };
    }
    let email_ok = contact
        .emails
        .iter()
        .any(|e| e.rule == "email.signature" && from_address.as_deref() == Some(e.value.as_str()));
    let mut confidence = block.anchor.strength();
    if name_ok || email_ok {
        confidence = (confidence + 0.1).min(1.0);
    } else {
        confidence *= 0.5;
    }
    let facts = block_facts(
        block.anchor,
        top.get(..start).unwrap_or_default(),
        &contact,
        extension,
        &body.envelope,
    );
    diagnostics.extend(facts.iter().map(|f| Diagnostic { code: f.code() }));
    scale_by_signature_share(&mut contact, calibration::signature_share(&facts));
    Extraction {
        has_signature: true,
        contact: Some(contact),
        confidence,
        diagnostics,
    }
}

/// Recipients from which a message reads as an announcement to a crowd.
const MANY_RECIPIENTS: usize = 10;
/// Non-empty lines of the sender's own text above the block from which it reads as a memo.
const LONG_TEXT_LINES: usize = 15;

/// The structural facts about a found block that the chance of its being a signature is
/// conditioned on ([`calibration::signature_share`]).
fn block_facts(
    anchor: Anchor,
    above: &[Line],
    contact: &Contact,
    extension: bool,
    envelope: &crate::Envelope,
) -> Vec<calibration::Fact> {
    use calibration::Fact;
    let recipients = envelope.recipients;
    let text_above = above.iter().filter(|l| !l.is_blank()).count();
    let name_only = contact.phones.is_empty()
        && !extension
        && contact.address.is_none()
        && contact.websites.is_empty()
        && !contact.emails.iter().any(|e| e.rule == "email.signature");
    [
        (
            Fact::NoSignoff,
            matches!(anchor, Anchor::SenderName | Anchor::Trailing),
        ),
        (Fact::ManyRecipients, recipients >= MANY_RECIPIENTS),
        (Fact::NoRecipients, recipients == 0),
        (Fact::NameOnly, name_only),
        (Fact::LongText, text_above >= LONG_TEXT_LINES),
        (
            Fact::Internal,
            recipients > 0 && envelope.recipients_elsewhere == 0,
        ),
    ]
    .into_iter()
    .filter_map(|(fact, holds)| holds.then_some(fact))
    .collect()
}

/// Every value is right only if its block is a signature: each field's confidence (its rule's
/// record inside real signatures) is multiplied by the chance that a block with these facts is
/// one.
fn scale_by_signature_share(contact: &mut Contact, share: f32) {
    let Contact {
        name,
        title,
        company,
        emails,
        phones,
        websites,
        address,
        social,
    } = contact;
    for c in [name, title, company, address]
        .into_iter()
        .flatten()
        .map(|f| &mut f.confidence)
        .chain(emails.iter_mut().map(|f| &mut f.confidence))
        .chain(phones.iter_mut().map(|f| &mut f.confidence))
        .chain(websites.iter_mut().map(|f| &mut f.confidence))
        .chain(social.iter_mut().map(|f| &mut f.confidence))
    {
        *c *= share;
    }
}

/// A person's own mailbox: a local part of two or more words ("george.ellis", "ann_lee").
fn personal_address(address: Option<&str>) -> bool {
    address
        .and_then(|a| a.split_once('@'))
        .is_some_and(|(local, _)| {
            let parts: Vec<&str> = local.split(['.', '_']).filter(|p| !p.is_empty()).collect();
            parts.len() >= 2
                && parts
                    .iter()
                    .all(|p| p.chars().all(|c| c.is_alphabetic() || c == '-'))
        })
}

/// Generic mail providers: their domain says nothing about the sender's company.
const FREEMAIL: &[&str] = &[
    "gmail",
    "googlemail",
    "yahoo",
    "hotmail",
    "outlook",
    "live",
    "aol",
    "icloud",
    "me",
    "gmx",
    "web",
    "t-online",
    "orange",
    "free",
    "libero",
    "wanadoo",
    "example",
    "mail",
    "proton",
    "protonmail",
    "msn",
    "comcast",
];

/// "tallgrassdesign" for "mail.tallgrassdesign.co.uk"; empty for free-mail providers.
fn main_label(domain: &str) -> String {
    let label = fields::registrable_label(domain);
    if FREEMAIL.contains(&label.as_str()) {
        String::new()
    } else {
        label
    }
}

/// Builds the contact from the block; returns it with the count of contact evidence found and
/// whether an internal extension was written.
fn build(
    lines: &[Line],
    offset: usize,
    sender: &Sender,
    from_address: Option<&str>,
    inline_name: Option<&str>,
    vcards: &[String],
    language: Option<&str>,
) -> (Contact, usize, bool) {
    let cells = fields::cells(lines);
    let at = |l: usize| Some(l + offset);
    let mut contact = Contact::default();

    let name = fields::name::find(&cells, sender, inline_name);
    let name_line = name.as_ref().map(|n| n.1);
    let name_text = name.as_ref().map(|n| n.0.clone());
    if let Some((value, line, rule)) = name {
        contact.name = Some(field(value, rule, at(line)));
    }

    let skip: Vec<&str> = cells
        .iter()
        .filter(|c| {
            Some(c.line) == name_line
                && fields::name::clean(&c.text) == name_text.clone().unwrap_or_default()
        })
        .map(|c| c.text.as_str())
        .collect();
    let domain_label = from_address
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| main_label(d));
    let title = fields::title::find(&cells, &skip, name_text.as_deref(), domain_label.as_deref());
    let mut title_line = title.as_ref().map(|t| t.1);
    let mut from_title = None;
    if let Some((value, line, company)) = title {
        contact.title = Some(field(value, "title.keyword", at(line)));
        from_title = company;
    } else if let (Some(l), Some(n)) = (name_line, name_text.as_deref())
        && let Some((value, line, company)) =
            fields::title::structural(&cells, l, n, domain_label.as_deref())
    {
        contact.title = Some(field(value, "title.next_to_name", at(line)));
        title_line = Some(line);
        from_title = company;
    }
    let title_text = contact.title.as_ref().map(|t| t.value.clone());
    let hints = fields::company::Hints {
        name_line,
        title_line,
        name: name_text.as_deref(),
        title: title_text.as_deref(),
        from_title,
        domain_label,
    };
    if let Some((value, line, rule)) = fields::company::find(&cells, lines, &hints)
        && contact.title.as_ref().is_none_or(|t| t.value != value)
    {
        let value = if rule == "company.after_title_comma" {
            value
        } else {
            fields::company::extend(&cells, &value, line, &[name_line, title_line])
        };
        contact.company = Some(field(value, rule, at(line)));
    }

    // An internal extension ("x31545", "ext. 224", "3-5290") is no dialable number, but only
    // a signature carries one on its own line.
    let extensions = cells
        .iter()
        .filter(|c| fields::phone::is_extension(&c.text))
        .count();
    let mut evidence = usize::from(contact.title.is_some())
        + usize::from(contact.company.is_some())
        + extensions.min(1);
    if let Some(own) = from_address {
        contact
            .emails
            .push(field(own.to_string(), "email.from_header", None));
    }
    for (addr, line) in fields::email::find(&cells, lines) {
        if Some(addr.as_str()) != from_address {
            evidence += 1;
        }
        if !contact.emails.iter().any(|e| e.value == addr) {
            contact
                .emails
                .push(field(addr, "email.signature", at(line)));
        } else if let Some(e) = contact.emails.iter_mut().find(|e| e.value == addr) {
            e.rule = "email.signature";
            e.confidence = calibration::confidence(e.rule);
            e.line = at(line).and_then(|l| u32::try_from(l).ok());
        }
    }

    let text: String = lines
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let regions = fields::region::hints(&text, from_address, language);
    for found in fields::phone::find(&cells, lines, &regions) {
        evidence += 2;
        let rule = if found.labelled {
            "phone.labelled"
        } else {
            "phone.number_type"
        };
        contact.phones.push(field(
            Phone {
                kind: found.kind,
                e164: found.e164,
            },
            rule,
            at(found.line),
        ));
    }

    let urls = fields::url::all(&cells, lines);
    for (url, line) in fields::url::websites(&urls) {
        evidence += 1;
        contact.websites.push(field(url, "website", at(line)));
    }
    for (url, line) in fields::social::find(&urls, &cells) {
        evidence += 1;
        contact.social.push(field(url, "social", at(line)));
    }
    if let Some((value, line)) = fields::address::find(&cells, lines) {
        evidence += 1;
        contact.address = Some(field(value, "address.pattern", at(line)));
    }

    for text in vcards {
        let card = vcard::parse(text, &regions);
        // Only the sender's own card: one that lists the `From:` address. A card without an
        // e-mail names nobody in particular (anyone can attach one) and is ignored.
        let matches = from_address.is_some_and(|a| card.emails.iter().any(|e| e == a));
        if !matches {
            continue;
        }
        evidence += 1;
        if contact.name.is_none() {
            contact.name = card.name.map(|v| field(v, "vcard.fn", None));
        }
        if contact.title.is_none() {
            contact.title = card.title.map(|v| field(v, "vcard.title", None));
        }
        if contact.company.is_none() {
            contact.company = card.company.map(|v| field(v, "vcard.org", None));
        }
        for e in card.emails {
            if !contact.emails.iter().any(|x| x.value == e) {
                contact.emails.push(field(e, "vcard.email", None));
            }
        }
        for (e164, kind) in card.phones {
            if !contact.phones.iter().any(|p| p.value.e164 == e164) {
                contact
                    .phones
                    .push(field(Phone { kind, e164 }, "vcard.tel", None));
            }
        }
        for w in card.websites {
            if !contact
                .websites
                .iter()
                .any(|x| fields::url::bare_host(&x.value) == fields::url::bare_host(&w))
                && !fields::url::is_social(&w)
            {
                contact.websites.push(field(w, "vcard.url", None));
            }
        }
    }
    let _ = PhoneKind::Other;
    (contact, evidence, extensions > 0)
}

/// Development aid for the `parse` example: the top message's lines with the signature block
/// marked. Returns message content, so callers must never log it.
pub(crate) fn trace(raw: &[u8]) -> Vec<String> {
    let mut diagnostics = Vec::new();
    let Some(body) = mime::read(raw, &mut diagnostics) else {
        return vec!["unparseable".into()];
    };
    let sender = Sender::new(
        body.from_name.as_deref(),
        body.envelope.from_address.as_deref(),
    );
    let n_all = body.lines.len();
    let (top, _) = segment::top_message(body.lines);
    let block = signature::locate(&top, &|t| sender.is_name_line(t));
    let mut out = vec![format!(
        "sender tokens {:?}; lines {} -> top {}",
        sender.tokens,
        n_all,
        top.len()
    )];
    for (i, l) in top.iter().enumerate() {
        let inside = block.as_ref().is_some_and(|b| i >= b.start && i < b.end);
        out.push(format!(
            "{}{:3} {:?} {:?} {:?} {:?}",
            if inside { "*" } else { " " },
            i,
            l.text,
            l.links,
            l.icons,
            l.mark
        ));
    }
    if let Some(b) = block {
        out.push(format!("anchor {:?}", b.anchor));
    }
    out
}
