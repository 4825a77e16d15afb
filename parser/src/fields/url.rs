//! Websites: link targets first (authoritative over anchor text), then hosts written in the
//! text (`www.…`, `https://…`, or a bare domain alone in its cell). Normalised to scheme + host
//! (+ meaningful path), lower-case host, no trailing slash. Social profiles and privacy or
//! unsubscribe links are not websites.

use once_cell::sync::Lazy;
use regex::Regex;

use super::Cell;
use crate::line::Line;
use crate::tables::words::SOCIAL_HOSTS;

static URL: Lazy<Option<Regex>> = Lazy::new(|| {
    Regex::new(
        r"(?i)(?:https?://|www\.)[a-z0-9\-._~%]+(?:\.[a-z]{2,24})(?::\d+)?(?:/[^\s<>()\[\]|]*)?",
    )
    .ok()
});
static BARE: Lazy<Option<Regex>> = Lazy::new(|| {
    Regex::new(r"(?i)^(?:[a-z]{1,12}\.?\s*:\s*)?([a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)*\.(?:[a-z]{2}|com|net|org|info|biz|studio|design|agency|law|tech|shop|online|site|app|dev|io|eu|art|cafe|media|group|legal|consulting|digital|travel|energy)(?:/[^\s<>()|]*)?)$").ok()
});

/// Paths that mark a link as not a contact website.
const NOT_WEBSITE: &[&str] = &[
    "privacy",
    "datenschutz",
    "unsubscribe",
    "abmelden",
    "desinscri",
    "gdpr",
    "rgpd",
    "/legal",
    "impressum",
    "cookie",
    "mailing",
    "tracking",
    "click.",
    "/track",
    "utm_",
    "maps.google",
    "goo.gl/maps",
    "calendly",
];

/// Normalises a URL (or a written host) to `scheme://host[/path]`; `None` when it is not a web URL.
pub(crate) fn normalise(raw: &str) -> Option<String> {
    let raw = raw
        .trim()
        .trim_end_matches(['.', ',', ';', ')', '>', '"', '\'']);
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("https".to_string(), raw),
    };
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (host, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = host.to_ascii_lowercase();
    if !host.contains('.') || host.contains('@') || host.starts_with('.') {
        return None;
    }
    let path = path
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    Some(format!("{scheme}://{host}{path}"))
}

/// Host without a leading `www.`.
pub(crate) fn bare_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    host.trim_start_matches("www.").to_string()
}

pub(crate) fn is_social(url: &str) -> bool {
    let host = bare_host(url);
    SOCIAL_HOSTS.iter().any(|s| {
        host.strip_suffix(s)
            .is_some_and(|sub| sub.is_empty() || sub.ends_with('.'))
    })
}

fn excluded(url: &str) -> bool {
    let lower = url.to_lowercase();
    NOT_WEBSITE.iter().any(|w| lower.contains(w))
}

/// All web URLs of the block, links first: `(normalised url, block line)`.
pub(crate) fn all(cells: &[Cell], lines: &[Line]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    let push = |out: &mut Vec<(String, usize)>, url: String, line: usize| {
        if !out.iter().any(|(u, _)| {
            bare_host(u) == bare_host(&url)
                && u.split_once("://")
                    .map(|x| x.1.split_once('/').map(|p| p.1).unwrap_or(""))
                    == url
                        .split_once("://")
                        .map(|x| x.1.split_once('/').map(|p| p.1).unwrap_or(""))
        }) {
            out.push((url, line));
        }
    };
    for (i, line) in lines.iter().enumerate() {
        for link in &line.links {
            if let Some(url) = normalise(link) {
                push(&mut out, url, i);
            }
        }
    }
    let linked_hosts: Vec<String> = out.iter().map(|(u, _)| bare_host(u)).collect();
    // Both patterns need a '.' (before the top-level domain): a cell without one has no URL.
    for cell in cells.iter().filter(|c| c.text.contains('.')) {
        let mut found = false;
        if let Some(re) = URL.as_ref() {
            for m in re.find_iter(&cell.text) {
                let start = m.start();
                if cell.text[..start].ends_with('@') {
                    continue;
                }
                if let Some(url) = normalise(m.as_str()) {
                    found = true;
                    if !linked_hosts.contains(&bare_host(&url)) {
                        push(&mut out, url, cell.line);
                    }
                }
            }
        }
        if !found
            && !cell.text.contains('@')
            && let Some(c) = BARE
                .as_ref()
                .and_then(|re| re.captures(&cell.text))
                .and_then(|c| c.get(1))
            && let Some(url) = normalise(c.as_str())
            && !linked_hosts.contains(&bare_host(&url))
        {
            push(&mut out, url, cell.line);
        }
    }
    out
}

/// Websites: web URLs that are neither social profiles nor excluded links.
pub(crate) fn websites(all: &[(String, usize)]) -> Vec<(String, usize)> {
    all.iter()
        .filter(|(u, _)| {
            !is_social(u)
                && !excluded(u)
                && !u.ends_with(".png")
                && !u.ends_with(".jpg")
                && !u.ends_with(".gif")
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(
            normalise("https://WWW.Acme.de/").as_deref(),
            Some("https://www.acme.de")
        );
        assert_eq!(
            normalise("www.acme.de").as_deref(),
            Some("https://www.acme.de")
        );
        assert_eq!(normalise("mailto:a@b.c"), None);
        assert_eq!(
            normalise("https://acme.de/team/ann?x=1").as_deref(),
            Some("https://acme.de/team/ann")
        );
    }

    #[test]
    fn link_target_wins() {
        let mut lines = crate::mime::text_lines("acme.de\nwww.other.org");
        lines[0].links.push("https://www.acme.de/".into());
        let cells = super::super::cells(&lines);
        let urls: Vec<String> = websites(&all(&cells, &lines))
            .into_iter()
            .map(|u| u.0)
            .collect();
        assert_eq!(urls, ["https://www.acme.de", "https://www.other.org"]);
    }
}
