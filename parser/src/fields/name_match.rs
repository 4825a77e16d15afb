//! When two name words are the same person's: people sign with a nickname ("Bob" for Robert),
//! a short form ("Chris" for Christopher), without diacritics in their address ("dvorakova"
//! for Dvořáková) or in another script than their From name ("Ольга" for Olga). Every word is
//! reduced to an ASCII key (diacritics dropped, Cyrillic and Greek transliterated); a word
//! stands for a name when its key equals one of the name's spellings (its key and nicknames),
//! or one is a prefix of the other of at least four letters.

/// Common English given-name short forms: (short, full). Both sides are ASCII keys.
const NICKNAMES: &[(&str, &str)] = &[
    ("bob", "robert"),
    ("rob", "robert"),
    ("bobby", "robert"),
    ("bert", "robert"),
    ("bill", "william"),
    ("will", "william"),
    ("billy", "william"),
    ("liz", "elizabeth"),
    ("beth", "elizabeth"),
    ("betty", "elizabeth"),
    ("kate", "katherine"),
    ("kate", "catherine"),
    ("kathy", "katherine"),
    ("kathy", "kathleen"),
    ("cathy", "catherine"),
    ("jim", "james"),
    ("jimmy", "james"),
    ("jamie", "james"),
    ("mike", "michael"),
    ("mick", "michael"),
    ("dick", "richard"),
    ("rick", "richard"),
    ("rich", "richard"),
    ("tom", "thomas"),
    ("tony", "anthony"),
    ("peggy", "margaret"),
    ("maggie", "margaret"),
    ("meg", "margaret"),
    ("ted", "edward"),
    ("ed", "edward"),
    ("eddie", "edward"),
    ("jack", "john"),
    ("johnny", "john"),
    ("jon", "jonathan"),
    ("chuck", "charles"),
    ("charlie", "charles"),
    ("steve", "stephen"),
    ("steve", "steven"),
    ("dave", "david"),
    ("joe", "joseph"),
    ("sue", "susan"),
    ("jen", "jennifer"),
    ("jenny", "jennifer"),
    ("becky", "rebecca"),
    ("andy", "andrew"),
    ("drew", "andrew"),
    ("greg", "gregory"),
    ("jeff", "jeffrey"),
    ("larry", "lawrence"),
    ("harry", "henry"),
    ("hank", "henry"),
    ("pat", "patricia"),
    ("pat", "patrick"),
    ("nick", "nicholas"),
    ("ben", "benjamin"),
    ("sandy", "sandra"),
    ("cindy", "cynthia"),
    ("debbie", "deborah"),
    ("deb", "deborah"),
    ("sam", "samuel"),
    ("sam", "samantha"),
    ("dan", "daniel"),
    ("danny", "daniel"),
    ("tim", "timothy"),
    ("jerry", "gerald"),
    ("gerry", "gerald"),
    ("ron", "ronald"),
    ("don", "donald"),
    ("ken", "kenneth"),
    ("fred", "frederick"),
    ("vicky", "victoria"),
    ("vince", "vincent"),
    ("walt", "walter"),
    ("abby", "abigail"),
    ("lou", "louis"),
    ("sasha", "aleksandr"),
    ("sasha", "alexander"),
    ("pepe", "jose"),
    ("paco", "francisco"),
    ("beppe", "giuseppe"),
];

/// ASCII spelling of one character: Latin diacritics dropped, Cyrillic and Greek
/// transliterated, other characters kept as they are.
fn fold_char(c: char, out: &mut String) {
    let s: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' | 'į' => "i",
        'ł' | 'ľ' | 'ĺ' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ő' | 'ō' => "o",
        'œ' => "oe",
        'ř' | 'ŕ' => "r",
        'ś' | 'š' | 'ş' | 'ș' => "s",
        'ß' => "ss",
        'ť' | 'ţ' | 'ț' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        // Cyrillic (Russian, Ukrainian)
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'ґ' => "g",
        'д' => "d",
        'е' | 'э' | 'є' => "e",
        'ё' => "e",
        'ж' => "zh",
        'з' => "z",
        'и' | 'і' => "i",
        'ї' => "i",
        'й' => "y",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "kh",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ы' => "y",
        'ь' | 'ъ' => "",
        'ю' => "yu",
        'я' => "ya",
        // Greek
        'α' | 'ά' => "a",
        'β' => "v",
        'γ' => "g",
        'δ' => "d",
        'ε' | 'έ' => "e",
        'ζ' => "z",
        'η' | 'ή' => "i",
        'θ' => "th",
        'ι' | 'ί' | 'ϊ' | 'ΐ' => "i",
        'κ' => "k",
        'λ' => "l",
        'μ' => "m",
        'ν' => "n",
        'ξ' => "x",
        'ο' | 'ό' => "o",
        'π' => "p",
        'ρ' => "r",
        'σ' | 'ς' => "s",
        'τ' => "t",
        'υ' | 'ύ' | 'ϋ' | 'ΰ' => "y",
        'φ' => "f",
        'χ' => "ch",
        'ψ' => "ps",
        'ω' | 'ώ' => "o",
        _ => {
            out.push(c);
            return;
        }
    };
    out.push_str(s);
}

/// The ASCII key of a lower-case name word. Greek "ου" reads "ou" (Παπαδόπουλος, papadopoulos).
pub(crate) fn key(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    if word.is_ascii() {
        out.push_str(word);
        return out;
    }
    for c in word.replace("ου", "ou").replace("ού", "ou").chars() {
        fold_char(c, &mut out);
    }
    out
}

/// Whether a word (as an ASCII key) stands for a name, given one of a key's [`spellings`]: equal, or one a prefix (>= 4 letters)
/// of the other (the nickname pairs are already among the spellings).
pub(crate) fn same_spelling(word: &str, spelling: &str) -> bool {
    if word == spelling {
        return true;
    }
    let (short, long) = if word.len() <= spelling.len() {
        (word, spelling)
    } else {
        (spelling, word)
    };
    short.len() >= 4 && short.is_ascii() && long.starts_with(short)
}

/// Every ASCII spelling a word with this key may take in a signature: the key itself and its
/// nicknames or full forms (prefix short forms are found by the caller's substring test).
pub(crate) fn spellings(key: &str) -> Vec<String> {
    let mut out = vec![key.to_string()];
    if let Some(others) = NICKNAME_INDEX.get(key) {
        out.extend(others.iter().map(|o| (*o).to_string()));
    }
    out
}

/// [`NICKNAMES`] both ways: a name's key -> its other spellings (built once).
static NICKNAME_INDEX: once_cell::sync::Lazy<
    std::collections::HashMap<&'static str, Vec<&'static str>>,
> = once_cell::sync::Lazy::new(|| {
    let mut index: std::collections::HashMap<&'static str, Vec<&'static str>> =
        std::collections::HashMap::new();
    for (n, f) in NICKNAMES {
        index.entry(n).or_default().push(f);
        index.entry(f).or_default().push(n);
    }
    index
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_equivalence() {
        assert_eq!(key("dvořáková"), "dvorakova");
        assert_eq!(key("ольга"), "olga");
        assert_eq!(key("смирнова"), "smirnova");
        assert_eq!(key("παπαδόπουλος"), "papadopoulos");
        let same = |w: &str, k: &str| spellings(k).iter().any(|s| same_spelling(w, s));
        assert!(same("bob", "robert"));
        assert!(same("chris", "christopher"));
        assert!(!same("ann", "annabel"));
        assert!(!same("kate", "karl"));
        let robert = spellings("robert");
        assert!(robert.iter().any(|s| same_spelling("bob", s)));
        assert!(
            spellings("christopher")
                .iter()
                .any(|s| same_spelling("chris", s))
        );
    }
}
