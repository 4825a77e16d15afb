//! Environment overrides: `MAILSIG_<SECTION>_<KEY>` sets `[section] key`, and
//! `MAILSIG_<KEY>` sets a top-level key (`MAILSIG_DATA_DIR`, `MAILSIG_DATABASE_URL`,
//! `MAILSIG_MASTER_KEY_FILE`). Names are upper case; the key keeps its underscores
//! (`MAILSIG_PIPELINE_MAX_MESSAGE_BYTES`).
//!
//! The value is read as a TOML value when it is one (`8`, `true`, `["a.example", "b.example"]`,
//! `"quoted text"`), and as a plain string otherwise (`/var/lib/mailsig`, `15m`). A string that
//! looks like a number or boolean must therefore be quoted: `MAILSIG_SMTP_USERNAME='"1234"'`.
//!
//! Variables that match no key are ignored (other tools use the `MAILSIG_` prefix too, e.g. the
//! test harness), except when they start with a section name: `MAILSIG_SMTP_HOSTNAME` is a
//! typo for `MAILSIG_SMTP_HOST` and is refused like an unknown key in the file.
//! `MAILSIG_CONFIG` (the config file path) is read by the CLI, not here.

use toml::{Table, Value};

use super::error::ConfigError;
use super::raw::RawConfig;

pub const PREFIX: &str = "MAILSIG_";

/// One overridable key: `section` is `None` for top-level keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub section: Option<String>,
    pub name: String,
}

impl Key {
    /// The environment variable that overrides this key.
    pub fn env_var(&self) -> String {
        match &self.section {
            Some(section) => format!("{PREFIX}{}_{}", section, self.name).to_uppercase(),
            None => format!("{PREFIX}{}", self.name).to_uppercase(),
        }
    }
}

/// Every key of the configuration, derived from [`RawConfig`] itself so it cannot drift.
pub fn schema() -> Vec<Key> {
    let mut keys = Vec::new();
    let Ok(serde_json::Value::Object(top)) = serde_json::to_value(RawConfig::default()) else {
        return keys;
    };
    for (name, value) in top {
        match value {
            serde_json::Value::Object(section) => {
                for key in section.keys() {
                    keys.push(Key {
                        section: Some(name.clone()),
                        name: key.clone(),
                    });
                }
            }
            _ => keys.push(Key {
                section: None,
                name,
            }),
        }
    }
    keys
}

/// Applies the overrides found in `vars` (normally `std::env::vars_os()`) to the parsed file.
pub fn apply<I, K, V>(table: &mut Table, vars: I) -> Result<(), ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    let keys = schema();
    let sections: Vec<String> = keys
        .iter()
        .filter_map(|k| k.section.clone())
        .map(|s| format!("{PREFIX}{}_", s.to_uppercase()))
        .collect();
    for (var, value) in vars {
        let Some(var) = var.as_ref().to_str() else {
            continue;
        };
        if !var.starts_with(PREFIX) {
            continue;
        }
        let Some(key) = keys.iter().find(|k| k.env_var() == var) else {
            if sections
                .iter()
                .any(|prefix| var.starts_with(prefix.as_str()))
            {
                return Err(ConfigError::Env {
                    var: var.to_owned(),
                    reason: "no such configuration key".to_owned(),
                });
            }
            continue;
        };
        let Some(value) = value.as_ref().to_str() else {
            return Err(ConfigError::Env {
                var: var.to_owned(),
                reason: "value is not UTF-8".to_owned(),
            });
        };
        let target = match &key.section {
            Some(section) => {
                let entry = table
                    .entry(section.clone())
                    .or_insert_with(|| Value::Table(Table::new()));
                match entry {
                    Value::Table(section_table) => section_table,
                    _ => {
                        return Err(ConfigError::Env {
                            var: var.to_owned(),
                            reason: format!("`{section}` in the file is not a table"),
                        });
                    }
                }
            }
            None => &mut *table,
        };
        target.insert(key.name.clone(), parse_value(value));
    }
    Ok(())
}

/// A TOML value if the text is one, else the text as a string.
fn parse_value(text: &str) -> Value {
    match format!("v = {text}").parse::<Table>() {
        Ok(mut parsed) => parsed
            .remove("v")
            .unwrap_or_else(|| Value::String(text.to_owned())),
        Err(_) => Value::String(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_covers_sections_and_top_level_keys() {
        let vars: Vec<String> = schema().iter().map(Key::env_var).collect();
        for expected in [
            "MAILSIG_DATA_DIR",
            "MAILSIG_DATABASE_URL",
            "MAILSIG_MASTER_KEY_FILE",
            "MAILSIG_HTTP_LISTEN",
            "MAILSIG_PIPELINE_MAX_MESSAGE_BYTES",
            "MAILSIG_SMTP_HOST",
            "MAILSIG_LOG_LEVEL",
        ] {
            assert!(
                vars.iter().any(|v| v == expected),
                "{expected} missing from {vars:?}"
            );
        }
    }

    #[test]
    fn values_are_typed_when_they_are_toml() {
        let mut table = Table::new();
        let vars = [
            ("MAILSIG_PIPELINE_WORKERS", "4"),
            ("MAILSIG_FILTERS_SKIP_BULK", "false"),
            (
                "MAILSIG_FILTERS_OWN_DOMAINS",
                r#"["a.example", "b.example"]"#,
            ),
            ("MAILSIG_DATA_DIR", "/srv/mailsig"),
            ("MAILSIG_IMAP_IDLE_RENEW", "20m"),
            ("MAILSIG_TEST_DIR", "/ignored"),
            ("PATH", "/ignored"),
        ];
        assert!(apply(&mut table, vars).is_ok());
        let rendered = toml::to_string(&table).unwrap_or_default();
        assert!(rendered.contains("workers = 4"), "{rendered}");
        assert!(rendered.contains("skip_bulk = false"), "{rendered}");
        assert!(
            rendered.contains(r#"own_domains = ["a.example", "b.example"]"#),
            "{rendered}"
        );
        assert!(
            rendered.contains(r#"data_dir = "/srv/mailsig""#),
            "{rendered}"
        );
        assert!(rendered.contains(r#"idle_renew = "20m""#), "{rendered}");
        assert!(!rendered.contains("ignored"), "{rendered}");
    }

    #[test]
    fn misspelt_key_in_a_known_section_is_refused() {
        let mut table = Table::new();
        let err = apply(&mut table, [("MAILSIG_SMTP_HOSTNAME", "x")]).err();
        assert!(err.is_some_and(|e| e.to_string().contains("MAILSIG_SMTP_HOSTNAME")));
    }
}
