//! Social profiles (LinkedIn, XING, X/Twitter, GitHub, Instagram, Facebook) as full https URLs,
//! from link targets when only an icon or anchor text is shown.

use once_cell::sync::Lazy;
use regex::Regex;

use super::Cell;
use super::url::{is_social, normalise};

static WRITTEN: Lazy<Option<Regex>> = Lazy::new(|| {
    Regex::new(r"(?i)(?-u:\b)(?:[a-z]{2,3}\.)?(?:linkedin\.com|xing\.com|twitter\.com|x\.com|github\.com|instagram\.com|facebook\.com)/[^\s<>()|,]+").ok()
});

/// Social profile URLs: from the already collected web URLs, plus ones written without scheme.
pub(crate) fn find(all_urls: &[(String, usize)], cells: &[Cell]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for (url, line) in all_urls {
        if is_social(url) && has_profile_path(url) {
            let url = url.replacen("http://", "https://", 1);
            if !out.iter().any(|(u, _)| *u == url) {
                out.push((url, *line));
            }
        }
    }
    // Every written profile has a path: a cell without '/' holds none.
    for cell in cells.iter().filter(|c| c.text.contains('/')) {
        for m in WRITTEN
            .as_ref()
            .into_iter()
            .flat_map(|re| re.find_iter(&cell.text))
        {
            if let Some(url) = normalise(m.as_str()) {
                let key = super::url::bare_host(&url) + url.split_once(".com").map_or("", |x| x.1);
                if !out.iter().any(|(u, _)| {
                    super::url::bare_host(u) + u.split_once(".com").map_or("", |x| x.1) == key
                }) {
                    out.push((url, cell.line));
                }
            }
        }
    }
    out
}

fn has_profile_path(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split_once('/')
        .is_some_and(|(_, p)| !p.is_empty() && !p.starts_with("share") && !p.starts_with("intent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_from_links_and_text() {
        let mut lines = crate::mime::text_lines(
            "LinkedIn\nxing.com/profile/Ann_Lee\nhttps://www.linkedin.com/company/acme",
        );
        lines[0]
            .links
            .push("https://www.linkedin.com/in/ann-lee/".into());
        let cells = super::super::cells(&lines);
        let urls = super::super::url::all(&cells, &lines);
        let found: Vec<String> = find(&urls, &cells).into_iter().map(|f| f.0).collect();
        assert_eq!(
            found,
            [
                "https://www.linkedin.com/in/ann-lee",
                "https://xing.com/profile/Ann_Lee",
                "https://www.linkedin.com/company/acme"
            ]
        );
        assert!(super::super::url::websites(&urls).is_empty());
    }
}
