//! `mailsigd parse [--json] FILE...`: runs the signature engine on message files, for trying
//! the extraction on real mail and for the evaluation scorer. Needs no configuration.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

use crate::config::validate::DEFAULT_MAX_MESSAGE_BYTES;

use super::exit::{CliError, CliResult, Exit, OrExit};

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Print the scorer's JSON prediction format, one object per line.
    #[arg(long)]
    pub json: bool,
    /// Raw RFC 5322 message files (.eml).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn parse(args: ParseArgs) -> CliResult {
    for path in &args.files {
        let file = std::fs::File::open(path).or_exit("open message file")?;
        let mut raw = zeroize::Zeroizing::new(Vec::new());
        file.take(DEFAULT_MAX_MESSAGE_BYTES + 1)
            .read_to_end(&mut raw)
            .or_exit("read message file")?;
        if raw.len() as u64 > DEFAULT_MAX_MESSAGE_BYTES {
            return Err(CliError::msg(
                Exit::Data,
                format!(
                    "read message file {}: larger than {} bytes",
                    path.display(),
                    DEFAULT_MAX_MESSAGE_BYTES
                ),
            ));
        }
        let name = path.to_string_lossy();
        let extraction = mailsig_parser::extract(&raw);
        let prediction = mailsig_parser::prediction_json(&name, &extraction);
        if args.json {
            println!("{prediction}");
        } else {
            println!("{}", summary(&name, &prediction));
        }
    }
    Ok(())
}

/// One human-readable line: the file, then the contact's non-empty fields.
fn summary(file: &str, prediction: &Value) -> String {
    let Some(contact) = prediction.get("contact").and_then(Value::as_object) else {
        return format!("{file}: no signature found");
    };
    let mut parts = Vec::new();
    for key in [
        "name", "title", "company", "emails", "phones", "websites", "address", "social",
    ] {
        match contact.get(key) {
            Some(Value::String(text)) => parts.push(format!("{key}={text}")),
            Some(Value::Array(items)) if !items.is_empty() => {
                let items: Vec<String> = items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect();
                parts.push(format!("{key}={}", items.join(", ")));
            }
            Some(Value::Null) | None => {}
            Some(other) if !other.is_array() => parts.push(format!("{key}={other}")),
            Some(_) => {}
        }
    }
    let confidence = prediction
        .get("confidence")
        .and_then(Value::as_f64)
        .unwrap_or_default();
    format!("{file}: {} (confidence {confidence:.2})", parts.join("; "))
}
