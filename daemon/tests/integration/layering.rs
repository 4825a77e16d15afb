//! The daemon's modules form a layered DAG, checked from the source text: a top-level module may
//! use only modules below it in [`LAYERS`], and no new import cycle may appear between files.
//!
//! Why a test rather than a picture in ARCHITECTURE.md: a picture goes stale the day someone adds
//! `use crate::config::…` to the store; this fails that day, naming the file and the import. The
//! check reads `crate::…` and `super::…` paths as text (no compiler needed), which is enough for
//! a codebase that imports by path and never through glob re-exports across modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules of `daemon/src`, bottom to top. A module may use any module to its left,
/// never one to its right: the daemon's typed values and clock at the bottom, then what talks to
/// the database and the log, the pipeline and the sources, the service layer (the only way to
/// change state), its HTTP and configuration front ends, the supervisor that runs it all, and the
/// command line on top.
const LAYERS: &[&str] = &[
    "domain",
    "clock",
    "telemetry",
    "store",
    "vault",
    "notify",
    "sender_auth",
    "pipeline",
    "sources",
    "webhooks",
    "books",
    "service",
    "http",
    "config",
    "supervisor",
    "cli",
];

/// File-level cycles that exist today, each as its files sorted (paths under `daemon/src`). A cycle
/// not listed here fails the test; one listed that no longer exists fails it too, so this list
/// only shrinks.
const KNOWN_FILE_CYCLES: &[&[&str]] = &[
    // The router (app.rs) mounts the API and the pages, which take the router's state and the
    // authentication extractors from it.
    &[
        "http/api/mod.rs",
        "http/app.rs",
        "http/auth/mod.rs",
        "http/web/mod.rs",
    ],
    // The source starts the job runner, which reports back to the source's runtime.
    &["sources/graph/jobs.rs", "sources/graph/source.rs"],
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as paths relative to `root`.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
}

/// The source without comments and string literals, so a path in a doc comment or a message is
/// not read as an import. Good enough for this codebase: no raw strings hold `crate::` paths.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' {
                in_string = true;
                continue;
            }
            out.push(c);
        }
        out.push('\n');
    }
    out
}

/// The module path of a file: `store/mod.rs` -> `["store"]`, `store/commit.rs` ->
/// `["store", "commit"]`, `lib.rs` -> `[]`.
fn module_path(file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_owned());
    }
    parts
}

/// Every path that starts with `crate::` or `super::` in the code, as module segments resolved
/// to an absolute path (`super` of `store/commit.rs` is `store`). Braced groups
/// (`use crate::{a, b::c}`) yield each member.
fn imported_paths(file: &Path, code: &str) -> Vec<Vec<String>> {
    // `super` of a module is its parent: `store/commit.rs` is `store::commit`, whose `super` is
    // `store`; `store/mod.rs` is `store`, whose `super` is the crate root.
    let here = module_path(file);
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &code[i..];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let (base, skip) = if boundary && rest.starts_with("crate::") {
            (Vec::new(), "crate::".len())
        } else if boundary && rest.starts_with("super::") {
            let mut base = here.clone();
            let mut skip = 0;
            let mut tail = rest;
            while let Some(after) = tail.strip_prefix("super::") {
                base.pop();
                skip += "super::".len();
                tail = after;
            }
            (base, skip)
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let tail = &code[i + skip..];
        for member in expand(tail) {
            let mut full = base.clone();
            full.extend(member);
            paths.push(full);
        }
        i += skip;
    }
    paths
}

/// The paths named at the start of `tail`: `a::b::C` -> `[[a, b, C]]`, `{a, b::c}` -> `[[a], [b, c]]`.
fn expand(tail: &str) -> Vec<Vec<String>> {
    let mut segments = Vec::new();
    let mut rest = tail;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let Some(close) = matching_brace(group) else {
                break;
            };
            let mut out = Vec::new();
            for member in split_top_level(&group[..close]) {
                for sub in expand(member.trim()) {
                    let mut path = segments.clone();
                    path.extend(sub);
                    out.push(path);
                }
            }
            return out;
        }
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        rest = &rest[ident.len()..];
        segments.push(ident);
        match rest.strip_prefix("::") {
            Some(after) => rest = after,
            None => break,
        }
    }
    vec![segments]
}

fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The file that defines the longest prefix of `path` (a module path), if any.
fn file_of(files: &BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<PathBuf> {
    (1..=path.len())
        .rev()
        .find_map(|n| files.get(&path[..n]).cloned())
}

struct Graph {
    /// file -> files it imports from (other than itself), with one example import each.
    edges: BTreeMap<PathBuf, BTreeMap<PathBuf, String>>,
}

fn read_graph() -> Graph {
    let root = src_dir();
    let mut files = Vec::new();
    rust_files(&root, &root, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .filter(|f| f.as_os_str() != "main.rs")
        .map(|f| (module_path(f), f.clone()))
        .collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(root.join(file)).expect("read source");
        let code = code_only(&text);
        let mut to: BTreeMap<PathBuf, String> = BTreeMap::new();
        for path in imported_paths(file, &code) {
            if let Some(target) = file_of(&modules, &path)
                && &target != file
            {
                to.entry(target).or_insert_with(|| path.join("::"));
            }
        }
        edges.insert(file.clone(), to);
    }
    Graph { edges }
}

fn top_level(file: &Path) -> String {
    let first = file
        .iter()
        .next()
        .expect("non-empty path")
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn every_import_goes_down_the_layers() {
    let graph = read_graph();
    let rank = |module: &str| LAYERS.iter().position(|m| *m == module);
    let mut upward = Vec::new();
    for (from, targets) in &graph.edges {
        let from_top = top_level(from);
        if from_top == "lib" || from_top == "main" {
            continue;
        }
        let Some(from_rank) = rank(&from_top) else {
            upward.push(format!(
                "{}: module {from_top} is not in LAYERS",
                from.display()
            ));
            continue;
        };
        for (to, example) in targets {
            let to_top = top_level(to);
            if to_top == from_top || to_top == "lib" {
                continue;
            }
            match rank(&to_top) {
                Some(to_rank) if to_rank < from_rank => {}
                _ => upward.push(format!(
                    "{} uses crate::{example} ({to_top} is not below {from_top})",
                    from.display()
                )),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that go up or sideways:\n{}",
        upward.join("\n")
    );
}

/// Strongly connected components of more than one file (Tarjan's algorithm).
fn cycles(graph: &Graph) -> BTreeSet<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g Path, usize>,
        low: BTreeMap<&'g Path, usize>,
        stack: Vec<&'g Path>,
        on_stack: BTreeSet<&'g Path>,
        next: usize,
        found: BTreeSet<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g Path) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let targets: Vec<&'g Path> = s.graph.edges[v].keys().map(PathBuf::as_path).collect();
        for w in targets {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.display().to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.insert(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: BTreeSet::new(),
    };
    for file in graph.edges.keys() {
        if !state.index.contains_key(file.as_path()) {
            visit(&mut state, file);
        }
    }
    state.found
}

#[test]
fn no_new_import_cycle_between_files() {
    let graph = read_graph();
    let found = cycles(&graph);
    let known: BTreeSet<Vec<String>> = KNOWN_FILE_CYCLES
        .iter()
        .map(|c| c.iter().map(|f| (*f).to_owned()).collect())
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "new import cycles (break them): {new:#?}\nlisted cycles that changed or are gone (update KNOWN_FILE_CYCLES): {gone:#?}"
    );
}

#[test]
fn the_reader_sees_imports_it_must_see() {
    // The check is only as good as its reading of paths: these shapes occur in the code.
    let file = Path::new("store/commit.rs");
    let code = "use super::cursors::advance_cursor;\nuse crate::{domain::SkipReason, clock};\n";
    let paths = imported_paths(file, code);
    assert!(paths.contains(&vec![
        "store".into(),
        "cursors".into(),
        "advance_cursor".into()
    ]));
    assert!(paths.contains(&vec!["domain".into(), "SkipReason".into()]));
    assert!(paths.contains(&vec!["clock".into()]));
    let mod_file = Path::new("store/mod.rs");
    let paths = imported_paths(mod_file, "use super::clock::Clock;");
    assert_eq!(paths, vec![vec!["clock".to_owned(), "Clock".to_owned()]]);
    assert_eq!(
        code_only("let a = \"crate::x\"; // crate::y\n").trim(),
        "let a = ;"
    );
}
