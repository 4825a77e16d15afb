//! The contact's name: the line that carries the sender's name (From display name, "Last, First",
//! initials, the address's local part), or else the first line shaped like a person's name.
//! Academic prefixes are kept; post-nominal credentials and parenthesised readings are dropped.
//! Words are compared through [`super::name_match`] (nicknames, short forms, transliteration),
//! two people on one line ("Lena & Tomas Brandt") are one name, and scripts without case
//! (Arabic, Hebrew) or without spaces (CJK, Hangul) are shaped by their own rules.

use super::name_match;
use super::{Cell, is_cjk, is_contact_cell};
use crate::tables::words::{
    CONJUNCTIONS, GREETINGS, NAME_PARTICLES, NAME_PREFIXES, POST_NOMINALS, TITLE_WORDS,
};

/// What we know of the sender's name from the headers.
#[derive(Default, Clone)]
pub(crate) struct Sender {
    /// Lower-case name tokens (display name, then the address's local part).
    pub tokens: Vec<String>,
    /// Tokens from the display name only.
    pub display_tokens: Vec<String>,
    /// Letters of the address's local part ("hello" for hello@hartbakery.com).
    pub local: String,
    /// Letters of the domain without its suffix ("hartbakery").
    pub domain: String,
    /// ASCII key of each token ([`name_match::key`]) with its nickname spellings, in the order
    /// of `tokens`.
    keys: Vec<Vec<String>>,
    /// What an ASCII line must contain to hold one of the tokens: each key's spellings, cut to
    /// their first four letters (a prefix short form matches too).
    needles: Vec<String>,
}

fn tokenize(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
        .filter(|t| t.chars().count() >= 2 || t.chars().any(is_cjk))
        .map(str::to_lowercase)
        .filter(|t| !NAME_PREFIXES.iter().any(|p| p.trim_end_matches('.') == t))
        .collect()
}

impl Sender {
    pub fn new(display: Option<&str>, address: Option<&str>) -> Sender {
        let display_tokens = display.map(tokenize).unwrap_or_default();
        let mut tokens = display_tokens.clone();
        if let Some(local) = address.and_then(|a| a.split('@').next()) {
            for t in tokenize(&local.replace(['.', '_', '-'], " ")) {
                if t.len() >= 3 && !tokens.contains(&t) && !t.chars().any(|c| c.is_ascii_digit()) {
                    tokens.push(t);
                }
            }
        }
        let letters = |s: &str| {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        };
        let (local, domain) = address
            .and_then(|a| a.rsplit_once('@'))
            .map(|(l, d)| (letters(l), letters(&super::registrable_label(d))))
            .unwrap_or_default();
        let keys: Vec<Vec<String>> = tokens
            .iter()
            .map(|t| name_match::spellings(&name_match::key(t)))
            .collect();
        let mut needles: Vec<String> = Vec::new();
        for spelling in keys.iter().flatten() {
            let cut: String = spelling.chars().take(4).collect();
            if !needles.contains(&cut) {
                needles.push(cut);
            }
        }
        Sender {
            tokens,
            display_tokens,
            local,
            domain,
            keys,
            needles,
        }
    }

    /// How many of the sender's tokens one of `words` stands for ([`name_match::same_spelling`]).
    fn hits(&self, words: &[String]) -> usize {
        let word_keys: Vec<std::borrow::Cow<'_, str>> = words
            .iter()
            .map(|w| {
                if w.is_ascii() {
                    std::borrow::Cow::Borrowed(w.as_str())
                } else {
                    std::borrow::Cow::Owned(name_match::key(w))
                }
            })
            .collect();
        self.keys
            .iter()
            .filter(|spellings| {
                word_keys
                    .iter()
                    .any(|w| spellings.iter().any(|k| name_match::same_spelling(w, k)))
            })
            .count()
    }

    /// A business writing as itself: "Hart Bakery" <hello@hartbakery.com> spells the domain,
    /// and the address's local part is none of the name's words.
    pub fn is_business_name(&self, text: &str) -> bool {
        let words = tokenize(text);
        // Compared through ASCII keys: "Kargo Hızlı" spells kargohizli.com.tr.
        let squashed: String = words.iter().map(|w| name_match::key(w)).collect();
        squashed.len() >= 4
            && !self.domain.is_empty()
            && (self.domain.contains(&squashed) || squashed.contains(&self.domain))
            && !words.iter().any(|w| self.local.contains(w.as_str()))
    }

    /// Number of the sender's tokens that `text` contains.
    pub fn overlap(&self, text: &str) -> usize {
        self.hits(&tokenize(text))
    }

    /// Whether an ASCII `text` cannot hold any of the sender's tokens as a word: none of the
    /// needles occurs in it at all, in any ASCII case. (A word standing for a token starts with
    /// one of the needles; a non-ASCII needle occurs in no ASCII text.) Answers most lines
    /// of a message without splitting them into lower-cased words.
    fn surely_absent(&self, text: &str) -> bool {
        text.is_ascii()
            && !self.needles.iter().any(|t| {
                !t.is_empty()
                    && t.len() <= text.len()
                    && text
                        .as_bytes()
                        .windows(t.len())
                        .any(|w| w.eq_ignore_ascii_case(t.as_bytes()))
            })
    }

    /// `text` reads as the sender's name.
    pub fn is_name_line(&self, text: &str) -> bool {
        if text.split_whitespace().count() > 6 || is_contact_cell(text) {
            return false;
        }
        // No token of the sender's in the line: `hits` below would be 0, which is never enough.
        if self.surely_absent(text) {
            return false;
        }
        let words = tokenize(text);
        let hits = self.hits(&words);
        let needed = if self.display_tokens.len() >= 2 { 2 } else { 1 };
        let shape = clean(text);
        // Every word the sender's ("Ola Hagen" starts like the greeting "olá"): the shape's
        // greeting test does not apply.
        let all_sender = words.len() >= 2 && hits >= words.len();
        hits >= needed.min(words.len().max(1))
            && !words.is_empty()
            && (person_shaped(&shape)
                || couple_shaped(&shape)
                || (all_sender && person_shaped_words(&shape)))
            && !self.is_business_name(text)
    }
}

/// Removes parenthesised readings, post-nominals and "i. A." from a name cell.
pub(crate) fn clean(text: &str) -> String {
    let mut s = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' | '（' => depth += 1,
            ')' | '）' => depth = depth.saturating_sub(1),
            _ if depth == 0 => s.push(c),
            _ => {}
        }
    }
    let mut s = s.trim().to_string();
    // Korean signs "이지영 드림" ("from Lee Ji-young"): the suffix is no part of the name.
    for suffix in [" 드림", " 올림", " 배상"] {
        if let Some(head) = s.strip_suffix(suffix) {
            s = head.trim().to_string();
        }
    }
    for prefix in ["i. a. ", "i.a. ", "i. v. ", "i.v. ", "ppa. ", "pp. "] {
        if s.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        {
            s = s.get(prefix.len()..).unwrap_or_default().trim().to_string();
        }
    }
    // ", PhD", ", ing." and other post-nominals after a comma.
    if let Some((head, tail)) = s.split_once(',') {
        let tail_words: Vec<&str> = tail.split([',', ' ']).filter(|w| !w.is_empty()).collect();
        // Post-nominals from the table, or letters in capitals ("AIA", "P.E.").
        if !tail_words.is_empty()
            && tail_words.iter().all(|w| {
                POST_NOMINALS.contains(&w.trim_end_matches(',').to_lowercase().as_str())
                    || w.chars().all(|c| c.is_uppercase() || c == '.')
            })
        {
            s = head.trim().to_string();
        }
    }
    // Trailing post-nominals without a comma ("Ann Lee MBA").
    while let Some((head, last)) = s.rsplit_once(' ') {
        if !POST_NOMINALS.contains(&last.to_lowercase().as_str()) || head.is_empty() {
            break;
        }
        s = head.trim().to_string();
    }
    s.trim_matches(|c: char| matches!(c, ',' | ';' | '-' | '–' | '|' | ' ' | '*'))
        .to_string()
}

/// Shaped like a person's name: 1–5 capitalised words (particles and prefixes allowed), no
/// digits, no title word, no legal form; or 2–10 CJK characters.
pub(crate) fn person_shaped(text: &str) -> bool {
    // Hebrew writes abbreviations with a gershayim, often typed '"' ("עו"ד", "ד"ר"): inside a
    // Hebrew word it is a letter of the word, not a quotation mark.
    let owned;
    let text = if text.contains('"') && text.chars().any(|c| ('\u{05d0}'..='\u{05ea}').contains(&c))
    {
        owned = text.replace('"', "\u{05f4}");
        owned.as_str()
    } else {
        text
    };
    if text.is_empty()
        || text.chars().count() > 50
        || text.chars().any(|c| {
            c.is_ascii_digit()
                || matches!(
                    c,
                    '@' | ':'
                        | '/'
                        | '&'
                        | '!'
                        | '?'
                        | ','
                        | ';'
                        | '：'
                        | '='
                        | '+'
                        | '"'
                        | '<'
                        | '>'
                )
        })
    {
        return false;
    }
    let lower = text.to_lowercase();
    let greeting = GREETINGS.iter().any(|g| {
        lower.strip_prefix(g).is_some_and(|rest| {
            rest.chars().next().is_none_or(|c| !c.is_alphabetic()) || g.ends_with(' ')
        })
    });
    if greeting {
        return false;
    }
    let letters: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphabetic() && !is_cjk(*c))
        .collect();
    if letters.len() > 3 && letters.iter().all(|c| c.is_uppercase()) {
        return false;
    }
    if crate::tables::NOT_A_PERSON.matches(&lower) {
        return false;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    if words
        .iter()
        .all(|w| w.chars().all(|c| is_cjk(c) || c == '・'))
    {
        let n: usize = words.iter().map(|w| w.chars().count()).sum();
        return (2..=10).contains(&n)
            && !TITLE_WORDS
                .iter()
                .any(|t| t.chars().any(is_cjk) && lower.contains(t) && t.chars().count() >= 2);
    }
    if !(2..=5).contains(&words.len()) {
        return false;
    }
    let mut n_capitalised = 0;
    for w in &words {
        let wl = w.to_lowercase();
        if NAME_PARTICLES.contains(&wl.as_str()) || NAME_PREFIXES.contains(&wl.as_str()) {
            continue;
        }
        let first = w.chars().next();
        // Scripts without case (Arabic, Hebrew …) start every name word without a capital.
        let caseless = first.is_some_and(|c| c.is_alphabetic() && !c.is_lowercase() && !is_cjk(c));
        if first.is_some_and(char::is_uppercase) || caseless {
            n_capitalised += 1;
        } else {
            return false;
        }
    }
    n_capitalised >= 1
        && !words.iter().all(|w| {
            w.chars()
                .filter(|c| c.is_alphabetic())
                .all(char::is_uppercase)
                && w.chars().count() > 3
        })
}

/// 2–5 words, each capitalised (or of a script without case), no digits or punctuation: the
/// shape of a name without the word-table tests of [`person_shaped`].
fn person_shaped_words(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    (2..=5).contains(&words.len())
        && words.iter().all(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() && !c.is_lowercase())
                && w.chars()
                    .all(|c| c.is_alphabetic() || matches!(c, '-' | '\'' | '.'))
        })
}

/// Two people signing together: "Lena & Tomas Brandt", "Ann Lee & Bo Berg", "Hélène et Marc
/// Dubois", "Ewa i Marek Nowiccy" (the word for "and" of any of the engine's languages).
pub(crate) fn couple_shaped(text: &str) -> bool {
    let Some((a, b)) = text.split_once(" & ").or_else(|| {
        text.match_indices(' ').find_map(|(i, _)| {
            let (word, tail) = text[i + 1..].split_once(' ')?;
            CONJUNCTIONS.contains(&word).then(|| (&text[..i], tail))
        })
    }) else {
        return false;
    };
    let side = |t: &str| {
        let n = t.split_whitespace().count();
        (1..=4).contains(&n)
            && t.split_whitespace().all(|w| {
                NAME_PARTICLES.contains(&w)
                    || w.chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() && !c.is_lowercase())
            })
    };
    !b.contains(" & ")
        && !b.split_whitespace().any(|w| CONJUNCTIONS.contains(&w))
        && side(a)
        && side(b)
        && person_shaped(&format!("{a} {b}"))
}

/// Whether `text`, a line other than the name's, carries one of the name's capitalised words
/// ("Cantina Marini" under "Franco Marini", "דפוס לוי" under "יוסי לוי"): a family business or
/// a practice named after the person, never a job title.
pub(crate) fn carries_name_word(text: &str, name: &str) -> bool {
    let text_words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    // (A cell with the whole name, "박민수 과장", is the name and a title written after it.)
    !text.contains(name.trim())
        && name
            .split_whitespace()
            .filter(|w| {
                w.chars().count() >= 3
                    && !w.ends_with('.')
                    && w.chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() && !c.is_lowercase())
                    && !NAME_PREFIXES.contains(&w.to_lowercase().as_str())
            })
            .any(|w| {
                text_words
                    .iter()
                    .any(|t| t.to_lowercase() == w.to_lowercase())
            })
}

/// The rest of a cell after leading title words, if it starts with any.
pub(crate) fn after_leading_title(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let n = words
        .iter()
        .take_while(|w| super::title::is_title(w))
        .count();
    (n > 0 && n < words.len()).then(|| words[n..].join(" "))
}

/// The name before trailing title words ("정우성 차장", "田中 部長"), if the cell ends with any.
pub(crate) fn before_trailing_title(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let n = words
        .iter()
        .rev()
        .take_while(|w| super::title::is_title(w))
        .count();
    (n > 0 && n < words.len()).then(|| words[..words.len() - n].join(" "))
}

/// Picks the name cell: `(name, block line, rule)`.
pub(crate) fn find(
    cells: &[Cell],
    sender: &Sender,
    inline: Option<&str>,
) -> Option<(String, usize, &'static str)> {
    for cell in cells.iter().take(12) {
        let cleaned = clean(&cell.text);
        if sender.is_name_line(&cell.text) {
            return Some((cleaned, cell.line, "name.sender_match"));
        }
        // "ディレクター 高橋 美咲", "Geschäftsführer Jan Berg": a title written before the name.
        if let Some(rest) = after_leading_title(&cleaned)
            && person_shaped(&rest)
            && (sender.overlap(&rest) > 0 || rest.chars().any(is_cjk))
        {
            return Some((rest, cell.line, "name.after_title"));
        }
        // "정우성 차장": the sender's name with the title after it (as CJK names are written).
        if let Some(head) = before_trailing_title(&cleaned)
            && head.chars().all(|c| is_cjk(c) || c == ' ')
            && person_shaped(&head)
            && sender.is_name_line(&head)
        {
            return Some((head, cell.line, "name.before_title"));
        }
    }
    if let Some(inline) = inline {
        let cleaned = clean(inline);
        if cleaned.split_whitespace().count() >= 2 && person_shaped(&cleaned) {
            return Some((cleaned, 0, "name.after_valediction"));
        }
    }
    for cell in cells.iter().take(4) {
        let cleaned = clean(&cell.text);
        // (A couple whose surname is written in the plural, "Ewa i Marek Nowiccy" for Ewa
        // Nowicka, shares a first name with the sender.)
        let couple = couple_shaped(&cleaned) && sender.overlap(&cleaned) > 0;
        if (couple || person_shaped(&cleaned))
            && cleaned.split_whitespace().count() >= 2
            && !sender.is_business_name(&cleaned)
        {
            return Some((cleaned, cell.line, "name.person_shaped"));
        }
    }
    // The sender's first name alone on one of the block's first lines ("Mark" above the title).
    cells.iter().take(4).find_map(|cell| {
        let word = clean(&cell.text);
        let is_first_name = !word.contains(' ')
            && word.chars().next().is_some_and(char::is_uppercase)
            && word.chars().all(char::is_alphabetic)
            && sender
                .display_tokens
                .first()
                .is_some_and(|t| *t == word.to_lowercase());
        is_first_name.then_some((word, cell.line, "name.first_name"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_names() {
        assert_eq!(clean("Ann Lee, PhD"), "Ann Lee");
        assert_eq!(clean("Rachel Stein, AIA"), "Rachel Stein");
        assert_eq!(clean("Dr. Ann Lee MBA"), "Dr. Ann Lee");
        assert_eq!(clean("山田 太郎（Taro Yamada）"), "山田 太郎");
        assert_eq!(clean("i. A. Jan Berg"), "Jan Berg");
    }

    #[test]
    fn shapes_and_sender() {
        assert!(person_shaped("Dr. Friederike Albers"));
        assert!(person_shaped("Jan de Vries"));
        assert!(!person_shaped("Senior Logistics Coordinator"));
        assert!(!person_shaped("Acme Freight Solutions, Inc."));
        assert!(!person_shaped("Mike"));
        let s = Sender::new(Some("Okafor, Chinedu"), Some("c.okafor@uni.example"));
        assert!(s.is_name_line("Dr. Chinedu Okafor"));
        assert!(!s.is_name_line("Chinedu"));
        let s = Sender::new(Some("Robert Kessler"), Some("robert.kessler@example.com"));
        assert!(s.is_name_line("Bob Kessler"));
        assert!(!s.is_name_line("Bob Kasper"));
        let s = Sender::new(Some("Olga Smirnova"), Some("o.smirnova@example.ru"));
        assert!(s.is_name_line("Ольга Смирнова"));
        let s = Sender::new(Some("Lena Brandt"), Some("lena@example.com"));
        assert!(s.is_name_line("Lena & Tomas Brandt"));
        assert!(!couple_shaped("Torres & Lowe Construction, Inc."));
        assert!(couple_shaped("Joost & Marieke de Groot"));
        assert!(couple_shaped("Tom and Becky Whitfield"));
        assert!(couple_shaped("Hélène et Marc Dubois"));
        assert!(couple_shaped("Ewa i Marek Nowiccy"));
        assert!(!couple_shaped("Sales and Marketing"));
        assert!(carries_name_word("Cantina Marini", "Franco Marini"));
        assert!(carries_name_word("דפוס לוי", "יוסי לוי"));
        assert!(!carries_name_word("박민수 과장", "박민수"));
        assert!(!carries_name_word("Vertriebsleiter", "Anna Berg"));
        assert!(person_shaped("أحمد الفارسي"));
        assert!(!person_shaped("납품 일정 확인 부탁드립니다."));
        assert!(person_shaped("עו\"ד אורי לוין"));
        let s = Sender::new(Some("Ola Hagen"), Some("ola.hagen@example.no"));
        assert!(s.is_name_line("Ola Hagen"));
        assert_eq!(clean("이지영 드림"), "이지영");
        assert_eq!(
            before_trailing_title("정우성 차장").as_deref(),
            Some("정우성")
        );
    }
}
