//! Words that identify names, titles, companies, addresses and social profiles.

/// Job-title words (lower-case, whole words or word prefixes ending in `*`).
pub(crate) const TITLE_WORDS: &[&str] = &[
    // en
    "manager", "director", "head", "engineer", "consultant", "counsel", "attorney", "lawyer", "partner",
    "associate", "analyst", "officer", "president", "vice", "vp", "ceo", "cto", "cfo", "coo", "cio", "cmo",
    "founder", "co-founder", "owner", "specialist", "coordinator", "assistant", "administrator",
    "executive", "advisor", "adviser", "accountant", "architect", "developer", "designer", "lead",
    "supervisor", "representative", "agent", "sales", "marketing", "chairman", "chair", "secretary",
    "geologist", "scientist", "researcher", "professor", "lecturer", "surveyor", "technician",
    "solicitor", "paralegal", "clerk", "buyer", "planner", "producer", "editor", "principal",
    "controller", "treasurer", "trader", "broker", "recruiter", "support", "operations", "dispatcher",
    "estimator", "foreman", "superintendent", "inspector", "nurse", "physician", "officer", "intern",
    "trainee", "senior", "junior", "chief", "general", "legal", "team", "project", "product", "account",
    "customer", "service", "logistics", "procurement", "purchasing", "fleet", "event", "photographer",
    "bookkeeper", "receptionist", "office", "store", "branch", "regional", "area", "manager,",
    // de
    "geschäftsführer", "geschäftsführerin", "leiter", "leiterin", "leitung", "abteilungsleiter",
    "projektleiter", "projektleiterin", "referent", "referentin", "sachbearbeiter", "sachbearbeiterin",
    "ingenieur", "ingenieurin", "berater", "beraterin", "vertrieb", "einkauf", "disposition", "disponent",
    "disponentin", "inhaber", "inhaberin", "prokurist", "prokuristin", "rechtsanwalt", "rechtsanwältin",
    "steuerberater", "assistenz", "teamleiter", "teamleiterin", "kundenberater", "kundenberaterin",
    "meister", "techniker", "verkauf", "kundendienst", "mitarbeiter", "mitarbeiterin", "gesellschafter",
    "vorstand", "architekt", "architektin", "prüfingenieur", "werkstoffprüfung", "labor", "laborleiterin",
    "laborleiter", "bauleiter", "bauleiterin", "fachberater", "fachberaterin", "projektmanager",
    "projektmanagerin", "eventmanager", "eventmanagerin", "veranstaltungstechnik", "hausverwaltung",
    "verwalter", "verwalterin", "immobilienverwaltung", "objektbetreuer", "objektbetreuerin",
    "projektleitung", "außendienst", "aussendienst", "innendienst", "kundenservice", "buchhaltung",
    "vastgoedbeheerder", "beheerder", "medewerker", "administratie", "coördinator",
    "médecin", "arzt", "ärztin", "zahnarzt", "zahnärztin", "tierarzt", "tierärztin", "apotheker",
    "apothekerin", "pharmacien", "pharmacienne", "physician", "dentist", "médico", "médica",
    "arquiteta", "arquiteto", "arquitecto", "arquitecta", "architetto", "architecte", "notaire",
    "notar", "notarin", "notary", "steuerberaterin", "wirtschaftsprüfer", "therapist", "therapeut",
    "therapeutin", "psychologist", "psychologe", "psychologin", "veterinarian", "pharmacist",
    "socia", "socio", "sócio", "sócia", "elektriker", "electrician", "plumber", "klempner", "carpenter",
    "tischler", "tischlerin", "schreiner", "schreinerin", "maler", "malerin", "painter", "roofer",
    "dachdecker", "elettricista", "idraulico", "fontanero", "electricista", "eletricista", "loodgieter",
    "timmerman", "rørmester", "elinstallatør", "hydraulik", "elektryk",
    // fr
    "directeur", "directrice", "responsable", "chef", "chargé", "chargée", "ingénieur", "ingénieure",
    "gérant", "gérante", "conseiller", "conseillère", "avocat", "avocate", "commercial", "commerciale",
    "conducteur", "conductrice", "assistante", "comptable", "associé", "associée", "président", "présidente",
    "attaché", "attachée", "technicien", "technicienne", "travaux", "achats",
    // es
    "director", "directora", "gerente", "jefe", "jefa", "responsable", "ingeniero", "ingeniera",
    "asesor", "asesora", "abogado", "abogada", "coordinador", "coordinadora", "comercial", "encargado",
    "encargada", "técnico", "técnica", "compras", "ventas", "almacén", "analista", "contador", "contadora",
    // it
    "direttore", "direttrice", "responsabile", "ingegnere", "geometra", "consulente", "avvocato",
    "amministratore", "titolare", "commerciale", "ufficio", "tecnico", "acquisti", "vendite", "geom.",
    // nl
    "directeur", "adviseur", "bedrijfsleider", "eigenaar", "medewerker", "medewerkster", "accountmanager",
    "projectleider", "verkoop", "inkoop", "makelaar", "installateur", "monteur", "klantenservice",
    // pt
    "diretor", "diretora", "gerente", "gestor", "gestora", "coordenador", "coordenadora", "consultor",
    "consultora", "advogado", "advogada", "engenheiro", "engenheira", "analista", "contabilista",
    "operações", "comercial", "sócio", "sócia", "fiscal", "contábil", "agente",
    // sv / da
    "chef", "ansvarig", "projektledare", "säljare", "konsult", "vd", "ekonomi", "inköp", "direktør",
    "projektleder", "konsulent", "sælger", "indehaver", "designer", "ejer", "partner", "rådgiver",
    "koordinator", "ingeniør", "arkitekt",
    // pl
    "dyrektor", "kierownik", "specjalista", "specjalistka", "prezes", "menedżer", "koordynator",
    "koordynatorka", "handlowiec", "doradca", "logistyki", "zakupów", "sprzedaży", "spedytor",
    // ja
    "部長", "課長", "係長", "主任", "代表取締役", "取締役", "社長", "担当", "マネージャー", "ディレクター",
    "営業", "部", "課", "室長", "リーダー", "デザイナー", "エンジニア",
];

/// Legal forms of companies (lower-case, matched as whole words at the end or inside a line).
pub(crate) const LEGAL_FORMS: &[&str] = &[
    "gmbh", "gmbh & co. kg", "gmbh & co kg", "ag", "kg", "ohg", "e.k.", "e.v.", "ug", "mbh", "se",
    "ltd", "ltd.", "limited", "llc", "l.l.c.", "llp", "l.l.p.", "lp", "l.p.", "inc", "inc.",
    "incorporated", "corp", "corp.", "corporation", "co.", "company", "plc", "pty", "pty ltd",
    "s.a.", "sa", "sas", "s.a.s.", "sarl", "s.a.r.l.", "eurl", "sasu", "sci", "s.l.", "sl", "s.l.u.",
    "s.r.l.", "srl", "s.p.a.", "spa", "s.n.c.", "s.a.s", "b.v.", "bv", "n.v.", "nv", "v.o.f.", "vof",
    "ab", "a/s", "aps", "as", "asa", "oy", "oyj", "sp. z o.o.", "sp.z o.o.", "sp. k.", "s.a.", "lda",
    "lda.", "ltda", "ltda.", "me", "eireli", "k.k.", "kk", "株式会社", "有限会社", "合同会社", "pvt",
    "pvt.", "private limited", "group", "holding", "partners", "associates", "gbr", "partg", "partg mbb",
    "sprl", "srl.", "bvba", "cvba", "ev", "s.c.", "sc", "s.c", "ltd.,", "inc.,", "l.l.p", "sagl", "gmbh.",
];

/// Prefixes that belong to a name (academic / professional), lower-case with the dot.
pub(crate) const NAME_PREFIXES: &[&str] = &[
    "dr.", "dr", "prof.", "prof", "mag.", "ing.", "dipl.-ing.", "dipl.-kfm.", "dipl.-ing.(fh)", "arch.",
    "ir.", "ir", "mr.", "mrs.", "ms.", "lic.", "licda.", "lic", "geom.", "avv.", "dott.", "dott.ssa",
    "arq.", "eng.", "me.", "mgr", "mgr.", "inż.", "dr.-ing.", "di", "dkfm.", "mmag.", "rechtsanwalt",
    "rechtsanwältin", "ra", "mag.a", "univ.-prof.", "priv.-doz.", "prof. dr.", "abogado", "maître", "me",
];

/// Post-nominal credentials dropped from a name (lower-case, without trailing punctuation).
pub(crate) const POST_NOMINALS: &[&str] = &[
    "phd", "ph.d.", "ph.d", "mba", "msc", "m.sc.", "bsc", "b.sc.", "ma", "ba", "cpa", "cfa", "pe", "p.e.",
    "esq", "esq.", "jr", "jr.", "sr", "sr.", "md", "m.d.", "cipd", "mrics", "frics", "bvsc", "mrcvs",
    "realtor", "realtor®", "realtor(r)", "ing.", "ing", "ll.m.", "llm", "dds", "rn", "cissp", "pmp",
    "acca", "aca", "fca", "ceng", "mice", "miet", "dipl.", "mag. (fh)", "b.eng.", "m.eng.", "ii", "iii",
];

/// Name particles that may be lower-case inside a name.
pub(crate) const NAME_PARTICLES: &[&str] = &[
    "de", "der", "den", "van", "von", "zu", "da", "di", "del", "della", "dos", "das", "do", "du", "la",
    "le", "y", "e", "ten", "ter", "af", "bin", "al", "st.", "mc",
];

/// Street words that make a line look like a street address (lower-case substrings or suffixes).
pub(crate) const STREET_WORDS: &[&str] = &[
    "street", "st.", "st ", "avenue", "ave", "road", "rd.", "rd ", "boulevard", "blvd", "drive", "dr.",
    "lane", "ln.", "way", "place", "pl.", "court", "ct.", "suite", "ste.", "floor", "square", "parkway",
    "pkwy", "highway", "hwy", "terrace", "p.o. box", "po box", "straße", "strasse", "str.", "weg", "platz",
    "allee", "gasse", "ring", "damm", "ufer", "chaussee", "rue", "avenue", "boulevard", "bd", "chemin",
    "place", "allée", "quai", "impasse", "calle", "c/", "avda", "avenida", "plaza", "paseo", "carrer",
    "via", "viale", "piazza", "corso", "largo", "straat", "laan", "plein", "gracht", "kade", "singel",
    "dijk", "rua", "av.", "travessa", "praça", "alameda", "gatan", "vägen", "gata", "väg", "torget",
    "gade", "vej", "allé", "plads", "ul.", "ulica", "al.", "aleja", "os.", "丁目", "番地", "ビル", "区",
    "unit", "building", "house", "park", "wharf", "row", "close", "crescent", "gardens", "mews",
];

/// Hosts of social networks and the path shape of a profile.
pub(crate) const SOCIAL_HOSTS: &[&str] = &[
    "linkedin.com", "xing.com", "twitter.com", "x.com", "github.com", "instagram.com", "facebook.com",
    "fb.com",
];

/// Greetings that open a message; a line starting with one is never a name.
pub(crate) const GREETINGS: &[&str] = &[
    "hello", "hi ", "hey", "dear", "good morning", "good afternoon", "hallo", "liebe", "lieber",
    "sehr geehrte", "guten tag", "moin", "servus", "bonjour", "bonsoir", "salut", "cher ", "chère",
    "hola", "estimad", "buenos días", "buongiorno", "ciao", "gentile", "caro ", "cara ", "beste ",
    "geachte", "olá", "ola ", "prezad", "caro", "hej", "dzień dobry", "szanown", "witam", "cześć",
    "お世話", "いつも", "thanks", "thank", "regards", "welcome", "congratulations", "happy",
];

/// Words that make a short line a company name even without a legal form.
pub(crate) const COMPANY_WORDS: &[&str] = &[
    "consultants", "consulting", "services", "solutions", "systems", "technologies", "technology",
    "communications", "partners", "associates", "group", "bank", "energy", "resources", "exploration",
    "production", "capital", "industries", "international", "logistics", "studio", "design", "media",
    "software", "labs", "laboratories", "agency", "holdings", "ventures", "networks", "broadband",
    "pipeline", "trading", "markets", "insurance", "university", "institute", "hotel", "restaurant",
    "architects", "architetti", "architekten", "builders", "construction", "roofing", "engineering",
    "transport", "freight", "shipping", "marine", "pharma", "clinic", "kanzlei", "steuerberatung",
    "immobilien", "reformas", "installatietechniek", "consultancy", "foundation", "stiftung",
    "bakery", "bäckerei", "boulangerie", "café", "cafe", "shop", "store", "salon", "atelier", "clinic",
    "klinik", "praxis", "apotheke", "pharmacy", "garage", "werkstatt", "brewery", "winery", "farm",
    "outfitters", "supplies", "supply", "printing", "rentals", "realty", "properties", "academy",
    "school", "college", "club", "centre", "center", "gallery", "galerie", "tiles", "cycles",
];
