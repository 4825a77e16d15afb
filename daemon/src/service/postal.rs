//! A postal address as the parts an address book stores (vCard `ADR`: street, locality,
//! region, postal code, country), read from the one text a signature gives.
//!
//! Why a heuristic and not an address library: the text is already known to be an address (the
//! parser found it), written the way its country writes it; what an address book needs is the
//! street apart from the town and the postcode. Parts are the text's lines or comma-separated
//! pieces: the first is the street, a piece with a postcode gives the code and the town (code
//! first, "10115 Berlin"; or last, "CA 94158" after the town), a known country name at the end
//! is the country. Nothing is dropped: a piece that fits nowhere stays in the street.

/// The parts of an address; empty when not found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostalAddress {
    pub street: String,
    pub locality: String,
    pub region: String,
    pub code: String,
    pub country: String,
}

const COUNTRIES: [&str; 24] = [
    "usa",
    "united states",
    "united states of america",
    "canada",
    "uk",
    "united kingdom",
    "germany",
    "deutschland",
    "austria",
    "österreich",
    "switzerland",
    "schweiz",
    "suisse",
    "france",
    "netherlands",
    "nederland",
    "sweden",
    "sverige",
    "norway",
    "norge",
    "denmark",
    "danmark",
    "spain",
    "italy",
];

fn is_code(token: &str) -> bool {
    let digits = token.chars().filter(char::is_ascii_digit).count();
    digits >= 3 && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Reads `text` into its parts.
pub fn parse(text: &str) -> PostalAddress {
    let mut parts: Vec<String> = text
        .split(['\n', ','])
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    let mut out = PostalAddress::default();
    if parts.len() < 2 {
        out.street = parts.join(", ");
        return out;
    }
    if let Some(last) = parts.last()
        && COUNTRIES.contains(&last.to_lowercase().as_str())
    {
        out.country = parts.pop().unwrap_or_default();
    }
    let street = parts.remove(0);
    let mut rest = Vec::new();
    for part in parts {
        let tokens: Vec<&str> = part.split_whitespace().collect();
        if !out.code.is_empty() {
            rest.push(part);
            continue;
        }
        match tokens.as_slice() {
            // "10115 Berlin", "SE-111 52 Stockholm" style: code first, then the town.
            [first, town @ ..] if is_code(first) && !town.is_empty() => {
                out.code = (*first).to_owned();
                out.locality = town.join(" ");
            }
            // "CA 94158" (the town was the piece before), or "San Francisco CA 94158".
            [head @ .., last] if is_code(last) => {
                out.code = (*last).to_owned();
                match head {
                    [] => {}
                    [region] if region.len() <= 3 && region.chars().all(char::is_uppercase) => {
                        out.region = (*region).to_owned();
                    }
                    [town @ .., region]
                        if region.len() <= 3 && region.chars().all(char::is_uppercase) =>
                    {
                        out.region = (*region).to_owned();
                        out.locality = town.join(" ");
                    }
                    town => out.locality = town.join(" "),
                }
                if out.locality.is_empty()
                    && let Some(town) = rest.pop()
                {
                    out.locality = town;
                }
            }
            _ => rest.push(part),
        }
    }
    if out.code.is_empty() && out.locality.is_empty() && !rest.is_empty() {
        // No postcode: "Main Street 1, Springfield" → the last piece is the town.
        out.locality = rest.pop().unwrap_or_default();
    }
    out.street = std::iter::once(street)
        .chain(rest)
        .collect::<Vec<_>>()
        .join(", ");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> [String; 5] {
        let a = parse(text);
        [a.street, a.locality, a.region, a.code, a.country]
    }

    #[test]
    fn common_layouts_split_into_their_parts() {
        assert_eq!(
            parts("500 Terry A Francois Blvd, San Francisco, CA 94158"),
            [
                "500 Terry A Francois Blvd".to_owned(),
                "San Francisco".to_owned(),
                "CA".to_owned(),
                "94158".to_owned(),
                String::new()
            ]
        );
        assert_eq!(
            parts("Main St 1\n10115 Berlin"),
            [
                "Main St 1".to_owned(),
                "Berlin".to_owned(),
                String::new(),
                "10115".to_owned(),
                String::new()
            ]
        );
        assert_eq!(
            parts("Hauptstraße 5, 8001 Zürich, Switzerland"),
            [
                "Hauptstraße 5".to_owned(),
                "Zürich".to_owned(),
                String::new(),
                "8001".to_owned(),
                "Switzerland".to_owned()
            ]
        );
        assert_eq!(
            parts("18 Ropemaker Street, Suite 4, London EC2Y 9AR")[0],
            "18 Ropemaker Street, Suite 4"
        );
    }

    #[test]
    fn nothing_is_dropped() {
        assert_eq!(parts("Building 7")[0], "Building 7");
        let a = parse("Main Street 1, Springfield");
        assert_eq!(
            (a.street.as_str(), a.locality.as_str()),
            ("Main Street 1", "Springfield")
        );
    }
}
