//! IMAP settings of the big providers, and a guess from an address's domain, for the linking
//! form: a person types their address (or picks Gmail, Outlook.com, iCloud or Fastmail) and
//! the server, port and security are filled in, with the provider's word on app passwords.
//!
//! Why a small table: these four cover most personal mailboxes and their settings are stable
//! and public; anything else gets the common `imap.<domain>` guess, said to be a guess.

/// Settings to pre-fill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preset {
    /// `gmail`, `outlook`, `icloud`, `fastmail`, or empty for a guess.
    pub key: &'static str,
    pub label: &'static str,
    pub host: String,
    pub port: u16,
    /// `tls` (all of these use implicit TLS on 993).
    pub security: &'static str,
    /// What to tell the person (app passwords, where to make one).
    pub advice: &'static str,
}

struct Provider {
    key: &'static str,
    label: &'static str,
    host: &'static str,
    domains: &'static [&'static str],
    advice: &'static str,
}

const PROVIDERS: [Provider; 4] = [
    Provider {
        key: "gmail",
        label: "Gmail",
        host: "imap.gmail.com",
        domains: &["gmail.com", "googlemail.com"],
        advice: "Gmail needs an app password: turn on 2-Step Verification, then create one under Google Account → Security → App passwords.",
    },
    Provider {
        key: "outlook",
        label: "Outlook.com",
        host: "outlook.office365.com",
        domains: &[
            "outlook.com",
            "hotmail.com",
            "live.com",
            "msn.com",
            "outlook.de",
            "hotmail.co.uk",
            "hotmail.de",
            "hotmail.fr",
        ],
        advice: "Outlook.com needs an app password: create one at account.microsoft.com → Security → Advanced security options.",
    },
    Provider {
        key: "icloud",
        label: "iCloud Mail",
        host: "imap.mail.me.com",
        domains: &["icloud.com", "me.com", "mac.com"],
        advice: "iCloud Mail needs an app-specific password: create one at appleid.apple.com → Sign-In and Security. The user name is the part of the address before @.",
    },
    Provider {
        key: "fastmail",
        label: "Fastmail",
        host: "imap.fastmail.com",
        domains: &["fastmail.com", "fastmail.fm"],
        advice: "Fastmail needs an app password: create one under Settings → Privacy & Security → Manage app passwords (access: IMAP).",
    },
];

fn preset(p: &Provider) -> Preset {
    Preset {
        key: p.key,
        label: p.label,
        host: p.host.to_owned(),
        port: 993,
        security: "tls",
        advice: p.advice,
    }
}

/// The providers offered as buttons: key and label.
pub fn offered() -> Vec<(&'static str, &'static str)> {
    PROVIDERS.iter().map(|p| (p.key, p.label)).collect()
}

/// The preset named `key`.
pub fn by_key(key: &str) -> Option<Preset> {
    PROVIDERS.iter().find(|p| p.key == key).map(preset)
}

/// The settings for `address`: a known provider's, or the `imap.<domain>` guess.
pub fn for_address(address: &str) -> Option<Preset> {
    let domain = address.trim().rsplit_once('@')?.1.to_lowercase();
    let valid = !domain.is_empty()
        && domain.contains('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    if !valid {
        return None;
    }
    Some(
        PROVIDERS
            .iter()
            .find(|p| p.domains.contains(&domain.as_str()))
            .map_or_else(
                || Preset {
                    key: "",
                    label: "",
                    host: format!("imap.{domain}"),
                    port: 993,
                    security: "tls",
                    advice: "These settings are a guess from the address: check them with your provider if the login test fails.",
                },
                preset,
            ),
    )
}

/// The user name a provider expects for `address` (iCloud: the part before @).
pub fn username_for(preset: &Preset, address: &str) -> String {
    let address = address.trim();
    if preset.key == "icloud" {
        address.split('@').next().unwrap_or(address).to_owned()
    } else {
        address.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_domains_get_their_provider_and_others_a_guess() {
        assert_eq!(for_address("Ann@GMail.com").map(|p| p.key), Some("gmail"));
        assert_eq!(
            for_address("bo@hotmail.co.uk").map(|p| p.host),
            Some("outlook.office365.com".to_owned())
        );
        let guess = for_address("kim@harbor.example").expect("a guess");
        assert_eq!(
            (guess.key, guess.host.as_str(), guess.port),
            ("", "imap.harbor.example", 993)
        );
        assert_eq!(for_address("no-at-sign"), None);
        assert_eq!(for_address("x@bad domain.com"), None);
        let icloud = by_key("icloud").expect("icloud");
        assert_eq!(username_for(&icloud, "jo@icloud.com"), "jo");
    }
}
