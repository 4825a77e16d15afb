//! Phrases that end the sender's own text: valedictions, device footers, quoted-history
//! headers, disclaimers and company registration blocks.

/// Sign-offs (lower-case prefixes of a short line), en de fr es it nl pt sv da pl ja.
pub(crate) const VALEDICTIONS: &[&str] = &[
    // en
    "best regards", "kind regards", "warm regards", "regards", "best wishes", "best,", "best",
    "many thanks", "thanks,", "thanks", "thank you", "thanks again", "cheers", "sincerely",
    "yours sincerely", "yours faithfully", "yours truly", "all the best", "respectfully",
    "with kind regards", "with best regards", "warmly", "take care", "talk soon", "thx", "rgds",
    "br,", "kr,", "have a great day", "have a good weekend", "speak soon",
    // de
    "mit freundlichen grüßen", "mit freundlichen grüssen", "mit freundlichem gruß",
    "mit freundlichem gruss", "freundliche grüße", "freundliche grüsse", "beste grüße",
    "beste grüsse", "viele grüße", "viele grüsse", "liebe grüße", "liebe grüsse", "herzliche grüße",
    "herzliche grüsse", "schöne grüße", "schöne grüsse", "grüße", "grüsse", "gruß", "gruss", "mfg",
    "lg", "vg", "danke", "vielen dank", "besten dank", "herzlichen dank", "mit besten grüßen",
    "mit besten grüssen", "freundliche grüße aus", "beste grüße aus",
    // fr
    "cordialement", "bien cordialement", "bien à vous", "bien a vous", "salutations",
    "meilleures salutations", "sincères salutations", "amicalement", "merci", "merci d'avance",
    "bonne journée", "bonne journee", "belle journée", "veuillez agréer", "je vous prie d'agréer",
    "bien amicalement", "à bientôt", "a bientot",
    // es
    "saludos", "saludos cordiales", "un saludo", "atentamente", "un cordial saludo", "muchas gracias",
    "gracias", "cordialmente", "abrazos", "un abrazo", "quedo atento", "quedo atenta",
    // it
    "cordiali saluti", "distinti saluti", "un saluto", "saluti", "grazie", "grazie mille",
    "a presto", "buona giornata", "un caro saluto",
    // nl
    "met vriendelijke groet", "met vriendelijke groeten", "vriendelijke groet", "vriendelijke groeten",
    "groeten", "groet", "met hartelijke groet", "hartelijke groet", "mvg", "bedankt", "alvast bedankt",
    // pt
    "atenciosamente", "cumprimentos", "melhores cumprimentos", "com os melhores cumprimentos",
    "abraços", "abraço", "obrigado", "obrigada", "um abraço", "cordiais cumprimentos", "att,", "att.",
    // sv
    "med vänliga hälsningar", "vänliga hälsningar", "med vänlig hälsning", "vänlig hälsning",
    "hälsningar", "mvh", "tack", "bästa hälsningar",
    // da
    "med venlig hilsen", "venlig hilsen", "mange hilsner", "hilsen", "de bedste hilsner",
    "bedste hilsner", "vh", "mvh", "tak",
    // pl
    "pozdrawiam", "z poważaniem", "z powazaniem", "serdecznie pozdrawiam", "łączę pozdrowienia",
    "pozdrowienia", "dziękuję", "z wyrazami szacunku",
    // ja
    "よろしくお願いいたします", "よろしくお願い致します", "よろしくお願いします", "宜しくお願い致します",
    "宜しくお願いいたします", "以上、よろしくお願いいたします", "以上", "敬具",
];

/// Footers that mobile mail apps append (prefixes, lower-case).
pub(crate) const DEVICE_FOOTERS: &[&str] = &[
    "sent from my", "sent from mail for windows", "sent from outlook", "sent from yahoo mail",
    "sent via", "get outlook for", "sent with proton", "von meinem iphone gesendet",
    "von meinem ipad gesendet", "von meinem samsung", "von meinem smartphone gesendet",
    "von meinem mobiltelefon gesendet", "gesendet von meinem", "gesendet mit der", "envoyé de mon",
    "envoyé depuis mon", "envoye de mon", "enviado desde mi", "enviado de mi", "enviado do meu",
    "enviado a partir do meu", "inviato da iphone", "inviato dal mio", "inviato da il mio",
    "verzonden vanaf mijn", "verstuurd vanaf mijn", "verzonden met", "skickat från min",
    "skickat från", "sendt fra min", "wysłane z mojego", "wysłano z mojego", "iphoneから送信",
    "ipadから送信", "android から送信", "do you yahoo", "get your free", "join the world's largest e-mail",
    "get free e-mail", "get more from the web", "free email from", "send and receive hotmail",
];

/// Phrases that open quoted or forwarded history, once leading/trailing dashes, underscores
/// and spaces are stripped (lower-case prefixes).
pub(crate) const HISTORY_PHRASES: &[&str] = &[
    "original message", "forwarded message", "forwarded by", "begin forwarded message",
    "ursprüngliche nachricht", "original nachricht", "weitergeleitete nachricht",
    "anfang der weitergeleiteten nachricht", "message d'origine", "message transféré",
    "début du message réexpédié", "debut du message reexpedie", "mensaje original", "mensaje reenviado",
    "messaggio originale", "messaggio inoltrato", "inizio messaggio inoltrato", "oorspronkelijk bericht",
    "doorgestuurd bericht", "mensagem original", "mensagem encaminhada", "ursprungligt meddelande",
    "vidarebefordrat meddelande", "oprindelig meddelelse", "videresendt meddelelse",
    "wiadomość oryginalna", "przekazana wiadomość", "oryginalna wiadomość", "元のメッセージ",
    "転送メッセージ", "転送されたメッセージ", "reply message", "reply separator",
];

/// Header labels of a quoted message's "From:" line, by language.
pub(crate) const FROM_LABELS: &[&str] = &[
    "from", "von", "de", "da", "van", "från", "fra", "od", "差出人", "送信者", "remetente", "expéditeur",
];

/// Header labels that follow the "From:" line in a quoted header block.
pub(crate) const HEADER_LABELS: &[&str] = &[
    "sent", "date", "to", "cc", "subject", "gesendet", "datum", "an", "betreff", "envoyé", "à", "objet",
    "enviado", "para", "asunto", "fecha", "inviato", "data", "a", "oggetto", "verzonden", "aan",
    "onderwerp", "skickat", "till", "ämne", "sendt", "til", "emne", "wysłano", "wysłane", "do", "temat",
    "assunto", "送信日時", "宛先", "件名", "日付",
];

/// "On … wrote:" in many languages: the line (or two joined lines) ends with one of these.
pub(crate) const WROTE_SUFFIXES: &[&str] = &[
    "wrote:", "writes:", "schrieb:", "a écrit :", "a écrit:", "escribió:", "ha scritto:", "schreef:",
    "het volgende geschreven:", "escreveu:", "skrev:", "napisał:", "napisała:", "napisal:",
    "のメッセージ:", "は書きました:", "が書きました：", "は書きました：", "wrote :",
];

/// Verbs of an attribution written with the author before the colon ("Am … schrieb Ann Lee:").
pub(crate) const WROTE_VERBS: &[&str] = &[
    " wrote", " writes", " schrieb", " a écrit", " escribió", " ha scritto", " schreef", " escreveu",
    " skrev", " napisał", " napisała", "書きました", " kirjoitti", " írta",
];

/// "On … wrote:" openers, to make sure a "…:" line is the attribution line.
pub(crate) const WROTE_OPENERS: &[&str] = &[
    "on ", "am ", "le ", "el ", "il ", "op ", "em ", "den ", "dnia ", "w dniu ", "20", "19", "the ",
];

/// Words of confidentiality, privacy and legal footers (lower-case substrings).
pub(crate) const DISCLAIMER_WORDS: &[&str] = &[
    "confidential", "intended recipient", "intended solely", "privileged", "disclaimer",
    "if you have received this", "if you are not the", "this e-mail and any", "this email and any",
    "this message and any", "gdpr", "data protection", "privacy notice", "privacy policy",
    "personal data", "vertraulich", "diese e-mail", "diese nachricht", "datenschutz", "irrtümlich",
    "empfänger", "confidentiel", "destinataire", "ce message", "données personnelles", "rgpd",
    "confidencial", "destinatario", "este mensaje", "datos personales", "riservat", "questo messaggio",
    "dati personali", "destinatari", "vertrouwelijk", "dit bericht", "geadresseerde", "persoonsgegevens",
    "avg", "confidencial", "esta mensagem", "dados pessoais", "konfidentiell", "detta meddelande",
    "personuppgifter", "fortrolig", "denne e-mail", "personoplysninger", "poufn", "ta wiadomość",
    "dane osobowe", "rodo", "機密", "守秘", "please consider the environment", "think before you print",
    "we never change our bank details", "no liability", "accept no liability",
];

/// Company registration lines (lower-case substrings); names in them are not the contact.
pub(crate) const REGISTRATION_WORDS: &[&str] = &[
    "geschäftsführer", "geschäftsführung", "geschaeftsfuehrer", "amtsgericht", "registergericht",
    "handelsregister", "hrb ", "hra ", "ust-id", "ust-idnr", "ust.-id", "steuernummer", "sitz der gesellschaft",
    "sitz:", "vorstand:", "aufsichtsrat", "komplementär", "kvk", "kvk-nummer", "btw", "krs", "nip:", "nip ",
    "regon", "kapitał zakładowy", "registered in england", "registered office", "company no",
    "company number", "registered number", "vat no", "vat reg", "rcs ", "siret", "siren", "capital de",
    "capital social", "c.i.f", "cif:", "nif:", "p.iva", "p. iva", "partita iva", "codice fiscale",
    "reg. imprese", "org.nr", "org. nr", "organisationsnummer", "cvr", "n.º de contribuinte", "nipc",
    "abn ", "firmenbuch", "fn ", "uid-nr", "uid:", "che-", "impressum",
];
