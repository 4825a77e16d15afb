//! Email addresses written or linked in the signature, plus the sender's own address.

use once_cell::sync::Lazy;
use regex::Regex;

use super::Cell;
use crate::line::Line;

pub(crate) static EMAIL: Lazy<Option<Regex>> = Lazy::new(|| {
    Regex::new(
        r"[A-Za-z0-9][A-Za-z0-9._%+\-']{0,63}@[A-Za-z0-9][A-Za-z0-9.\-]{0,253}\.[A-Za-z]{2,24}",
    )
    .ok()
});

/// Addresses in order of appearance: `(address, block line)`; lower-cased, deduplicated.
pub(crate) fn find(cells: &[Cell], lines: &[Line]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut push = |addr: String, line: usize| {
        let addr = addr
            .trim_matches(|c: char| c == '.' || c == '\'')
            .to_lowercase();
        if !out.iter().any(|(a, _)| *a == addr) {
            out.push((addr, line));
        }
    };
    let Some(re) = EMAIL.as_ref() else {
        return Vec::new();
    };
    for cell in cells {
        for m in re.find_iter(&cell.text) {
            push(m.as_str().to_string(), cell.line);
        }
    }
    for (i, line) in lines.iter().enumerate() {
        for link in &line.links {
            if let Some(rest) = link
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case("mailto:"))
                .and(link.get(7..))
            {
                let addr = rest.split('?').next().unwrap_or(rest);
                if let Some(m) = re.find(addr) {
                    push(m.as_str().to_string(), i);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_addresses_and_mailto() {
        let mut lines = crate::mime::text_lines(
            "E-Mail: Ann.Lee@Acme.com.\nwrite to sales@acme.com or ann.lee@acme.com",
        );
        lines[1]
            .links
            .push("mailto:orders@acme.com?subject=x".into());
        let cells = super::super::cells(&lines);
        let found: Vec<String> = find(&cells, &lines).into_iter().map(|f| f.0).collect();
        assert_eq!(
            found,
            ["ann.lee@acme.com", "sales@acme.com", "orders@acme.com"]
        );
    }
}
