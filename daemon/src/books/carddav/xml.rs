//! WebDAV `207 Multi-Status` answers (RFC 4918, RFC 6352, RFC 6578) read with quick-xml: for
//! each `<response>` its `href`, status, and the properties of its `2xx` propstats that the
//! client uses; and the report's `sync-token`. Elements are matched by local name (servers
//! choose their own prefixes). Anything malformed is an error, never a panic.

use quick_xml::Reader;
use quick_xml::events::Event;

/// One `<response>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DavResponse {
    pub href: String,
    /// The response's own status (a removed member in a sync report: 404).
    pub status: Option<u16>,
    pub etag: Option<String>,
    pub address_data: Option<String>,
    pub is_addressbook: bool,
    pub display_name: Option<String>,
    pub current_user_principal: Option<String>,
    pub addressbook_home_set: Option<String>,
    pub ctag: Option<String>,
    pub sync_token: Option<String>,
}

/// A whole answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Multistatus {
    pub responses: Vec<DavResponse>,
    /// The report's `sync-token` (RFC 6578).
    pub sync_token: Option<String>,
}

/// The answer was not a multistatus document this client can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotMultistatus;

fn status_code(line: &str) -> Option<u16> {
    // "HTTP/1.1 200 OK"
    line.split_whitespace().nth(1)?.parse().ok()
}

fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// Reads a multistatus document.
pub fn parse(body: &str) -> Result<Multistatus, NotMultistatus> {
    let mut reader = Reader::from_str(body);
    let mut path: Vec<String> = Vec::new();
    let mut out = Multistatus::default();
    let mut response = DavResponse::default();
    // Properties of the current propstat, kept only if its status is 2xx.
    let mut props = DavResponse::default();
    let mut propstat_status: Option<u16> = None;
    let mut text = String::new();
    let mut seen_root = false;
    loop {
        let event = reader.read_event().map_err(|_| NotMultistatus)?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                if path.is_empty() {
                    if name != "multistatus" {
                        return Err(NotMultistatus);
                    }
                    seen_root = true;
                }
                match name.as_str() {
                    "response" => response = DavResponse::default(),
                    "propstat" => {
                        props = DavResponse::default();
                        propstat_status = None;
                    }
                    _ => {}
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                let name = e.local_name();
                if name.as_ref() == "addressbook"
                    && path.last().is_some_and(|p| p == "resourcetype")
                {
                    props.is_addressbook = true;
                }
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.into_inner()),
            Event::GeneralRef(r) => {
                let name = r.into_inner();
                text.push(entity(&name).ok_or(NotMultistatus)?);
            }
            Event::End(_) => {
                let Some(name) = path.pop() else {
                    return Err(NotMultistatus);
                };
                let parent = path.last().map(String::as_str).unwrap_or_default();
                let value = text.trim().to_owned();
                match (name.as_str(), parent) {
                    ("href", "response") => response.href = value,
                    ("href", "current-user-principal") => {
                        props.current_user_principal = Some(value);
                    }
                    ("href", "addressbook-home-set") => {
                        props.addressbook_home_set.get_or_insert(value);
                    }
                    ("status", "response") => response.status = status_code(&value),
                    ("status", "propstat") => propstat_status = status_code(&value),
                    ("getetag", _) => props.etag = Some(value),
                    ("address-data", _) => props.address_data = Some(text.clone()),
                    ("displayname", _) => props.display_name = Some(value),
                    ("getctag", _) => props.ctag = Some(value),
                    ("sync-token", "prop") => props.sync_token = Some(value),
                    ("sync-token", "multistatus") => out.sync_token = Some(value),
                    // A propstat of another status (404 for a property the server lacks) adds nothing.
                    ("propstat", _) if propstat_status.is_some_and(|s| (200..300).contains(&s)) => {
                        let p = std::mem::take(&mut props);
                        response.etag = response.etag.take().or(p.etag);
                        response.address_data = response.address_data.take().or(p.address_data);
                        response.is_addressbook |= p.is_addressbook;
                        response.display_name = response.display_name.take().or(p.display_name);
                        response.current_user_principal = response
                            .current_user_principal
                            .take()
                            .or(p.current_user_principal);
                        response.addressbook_home_set = response
                            .addressbook_home_set
                            .take()
                            .or(p.addressbook_home_set);
                        response.ctag = response.ctag.take().or(p.ctag);
                        response.sync_token = response.sync_token.take().or(p.sync_token);
                    }
                    ("response", _) => out.responses.push(std::mem::take(&mut response)),
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if seen_root && path.is_empty() {
        Ok(out)
    } else {
        Err(NotMultistatus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_report_gives_members_removals_and_the_token() {
        let body = r#"<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <response><href>/u/book/a.vcf</href>
    <propstat><prop><getetag>"e1"</getetag><C:address-data>BEGIN:VCARD&#13;
FN:A &amp; B&#13;
END:VCARD&#13;
</C:address-data></prop><status>HTTP/1.1 200 OK</status></propstat>
    <propstat><prop><displayname/></prop><status>HTTP/1.1 404 Not Found</status></propstat>
  </response>
  <response><href>/u/book/gone.vcf</href><status>HTTP/1.1 404 Not Found</status></response>
  <sync-token>http://radicale.org/ns/sync/abc</sync-token>
</multistatus>"#;
        let m = parse(body).expect("multistatus");
        assert_eq!(m.responses.len(), 2);
        assert_eq!(m.responses[0].etag.as_deref(), Some("\"e1\""));
        assert_eq!(
            m.responses[0].address_data.as_deref(),
            Some("BEGIN:VCARD\r\nFN:A & B\r\nEND:VCARD\r\n")
        );
        assert_eq!(m.responses[0].display_name, None);
        assert_eq!(m.responses[1].status, Some(404));
        assert_eq!(
            m.sync_token.as_deref(),
            Some("http://radicale.org/ns/sync/abc")
        );
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(parse("<html><body>hi</body></html>"), Err(NotMultistatus));
        assert_eq!(parse("<multistatus><response>"), Err(NotMultistatus));
        assert_eq!(parse("not xml at all <"), Err(NotMultistatus));
    }
}
