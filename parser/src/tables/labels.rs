//! Phone labels: the word written before (or after) a number and the kind it means.

use crate::PhoneKind;

/// (label, kind), lower-case, without trailing punctuation. "Generic" labels (`tel`, `tlf`)
/// map to `None`: the number's own kind decides.
pub(crate) const PHONE_LABELS: &[(&str, Option<PhoneKind>)] = &[
    // mobile
    ("mobile", Some(PhoneKind::Mobile)), ("mobil", Some(PhoneKind::Mobile)), ("mob", Some(PhoneKind::Mobile)),
    ("m", Some(PhoneKind::Mobile)), ("cell", Some(PhoneKind::Mobile)), ("cellular", Some(PhoneKind::Mobile)),
    ("c", Some(PhoneKind::Mobile)), ("cel", Some(PhoneKind::Mobile)), ("celular", Some(PhoneKind::Mobile)),
    ("cellulare", Some(PhoneKind::Mobile)), ("handy", Some(PhoneKind::Mobile)), ("mobiltelefon", Some(PhoneKind::Mobile)),
    ("port", Some(PhoneKind::Mobile)), ("portable", Some(PhoneKind::Mobile)), ("gsm", Some(PhoneKind::Mobile)),
    ("telm", Some(PhoneKind::Mobile)), ("telemóvel", Some(PhoneKind::Mobile)), ("telemovel", Some(PhoneKind::Mobile)),
    ("móvil", Some(PhoneKind::Mobile)), ("movil", Some(PhoneKind::Mobile)), ("kom", Some(PhoneKind::Mobile)),
    ("tel. kom", Some(PhoneKind::Mobile)), ("tel kom", Some(PhoneKind::Mobile)), ("komórka", Some(PhoneKind::Mobile)),
    ("hp", Some(PhoneKind::Mobile)), ("携帯", Some(PhoneKind::Mobile)), ("携帯電話", Some(PhoneKind::Mobile)),
    ("mobilnummer", Some(PhoneKind::Mobile)), ("mobiel", Some(PhoneKind::Mobile)), ("mobile phone", Some(PhoneKind::Mobile)),
    ("cell phone", Some(PhoneKind::Mobile)), ("natel", Some(PhoneKind::Mobile)), ("wa", Some(PhoneKind::Mobile)),
    ("whatsapp", Some(PhoneKind::Mobile)), ("pager", Some(PhoneKind::Other)), ("home", Some(PhoneKind::Other)),
    ("privat", Some(PhoneKind::Other)), ("private", Some(PhoneKind::Other)),
    // fax
    ("fax", Some(PhoneKind::Fax)), ("f", Some(PhoneKind::Fax)), ("telefax", Some(PhoneKind::Fax)),
    ("facsimile", Some(PhoneKind::Fax)), ("fx", Some(PhoneKind::Fax)), ("ファックス", Some(PhoneKind::Fax)),
    // work
    ("t", Some(PhoneKind::Work)), ("tel", None), ("tél", None), ("tel.", None), ("tlf", None), ("tfn", None),
    ("telephone", Some(PhoneKind::Work)), ("téléphone", Some(PhoneKind::Work)), ("telefon", None),
    ("telefono", None), ("teléfono", None), ("telefone", None), ("telefoon", None), ("phone", None),
    ("ph", None), ("p", Some(PhoneKind::Work)), ("o", Some(PhoneKind::Work)), ("office", Some(PhoneKind::Work)),
    ("work", Some(PhoneKind::Work)), ("direct", Some(PhoneKind::Work)), ("direct line", Some(PhoneKind::Work)),
    ("d", Some(PhoneKind::Work)), ("ddi", Some(PhoneKind::Work)), ("dd", Some(PhoneKind::Work)),
    ("switchboard", Some(PhoneKind::Work)), ("main", Some(PhoneKind::Work)), ("pbx", Some(PhoneKind::Work)),
    ("växel", Some(PhoneKind::Work)), ("vaxel", Some(PhoneKind::Work)), ("büro", Some(PhoneKind::Work)),
    ("buero", Some(PhoneKind::Work)), ("durchwahl", Some(PhoneKind::Work)), ("zentrale", Some(PhoneKind::Work)),
    ("bureau", Some(PhoneKind::Work)), ("fixe", Some(PhoneKind::Work)), ("oficina", Some(PhoneKind::Work)),
    ("ufficio", Some(PhoneKind::Work)), ("kantoor", Some(PhoneKind::Work)), ("escritório", Some(PhoneKind::Work)),
    ("kontor", Some(PhoneKind::Work)), ("direkt", Some(PhoneKind::Work)), ("biuro", Some(PhoneKind::Work)),
    ("電話", None), ("tel/fax", None), ("w", Some(PhoneKind::Work)), ("voice", Some(PhoneKind::Work)),
    ("tel/", None), ("fon", None), ("fone", None), ("fono", None), ("puh", None), ("tlf.", None),
];

/// Substrings of icon file names / alt texts that type a phone.
pub(crate) const ICON_HINTS: &[(&str, PhoneKind)] = &[
    ("mobile", PhoneKind::Mobile), ("mobil", PhoneKind::Mobile), ("cell", PhoneKind::Mobile),
    ("handy", PhoneKind::Mobile), ("smartphone", PhoneKind::Mobile), ("whatsapp", PhoneKind::Mobile),
    ("fax", PhoneKind::Fax), ("phone", PhoneKind::Work), ("tel", PhoneKind::Work), ("call", PhoneKind::Work),
];
