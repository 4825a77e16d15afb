//! Log lines an operator reads (info, warn, error) carry values as text, never as Rust's `Debug`
//! output: `fencing = ?x` prints `Some(3)`, `rows = ?ids` prints `[OutboxId(3)]`. Checked from the
//! source text: in those macros a field may be `%value` (Display) or a plain value, not `?value`.
//! Debug and trace lines are for developers and may use `?`.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `text` with string literals and line comments blanked out (a `?` in a message is no field).
fn without_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let (mut in_string, mut escaped) = (false, false);
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '/' if chars.peek() == Some(&'/') => break,
                '"' => {
                    in_string = true;
                    out.push_str("\"\"");
                }
                c => out.push(c),
            }
        }
        out.push('\n');
    }
    out
}

/// The argument text of every `info!(`, `warn!(` and `error!(` call in `code`.
fn operator_log_calls(code: &str) -> Vec<&str> {
    let mut calls = Vec::new();
    for macro_name in ["info!(", "warn!(", "error!("] {
        for (start, _) in code.match_indices(macro_name) {
            let args = &code[start + macro_name.len()..];
            let mut depth = 0usize;
            let end = args
                .char_indices()
                .find_map(|(i, c)| match c {
                    '(' | '[' | '{' => {
                        depth += 1;
                        None
                    }
                    ')' | ']' | '}' if depth == 0 => Some(i),
                    ')' | ']' | '}' => {
                        depth -= 1;
                        None
                    }
                    _ => None,
                })
                .unwrap_or(args.len());
            calls.push(&args[..end]);
        }
    }
    calls
}

/// Whether a call's arguments format a field with `?`: `name = ?value` or a bare `?value`.
fn has_debug_field(args: &str) -> bool {
    args.split(',').any(|field| {
        let field = field.trim();
        field.starts_with('?')
            || field
                .split_once('=')
                .is_some_and(|(_, value)| value.trim_start().starts_with('?'))
    })
}

#[test]
fn operator_log_lines_format_no_field_with_debug() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read a source file");
        let code = without_strings(&text);
        for call in operator_log_calls(&code) {
            if has_debug_field(call) {
                found.push(format!("{}: {}", file.display(), call.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "Debug-formatted log fields:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_debug_fields_and_only_those() {
    let code = without_strings(
        "tracing::warn!(fencing = ?self.fencing, \"taken over\");\n\
         tracing::info!(?rows, \"sent\");\n\
         tracing::error!(rows = %ids(&rows), cause = %e, n = 3, \"held? yes\");\n\
         tracing::debug!(x = ?y, \"fine\");\n",
    );
    let calls = operator_log_calls(&code);
    assert_eq!(calls.len(), 3, "{calls:?}");
    let flagged: Vec<bool> = calls.iter().map(|c| has_debug_field(c)).collect();
    // Calls come in macro order: info, warn, error.
    assert_eq!(flagged, [true, true, false], "{calls:?}");
}
