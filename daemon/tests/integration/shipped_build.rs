//! What ships is built without the tests' features: the daemon's `graph-test-util` feature
//! (Graph endpoints on loopback, over plain HTTP) is turned on by the tests crate, and cargo
//! unifies features across every package of one build, so the shipped builds must never include
//! that crate.

use std::path::Path;

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The value of `key = [ ... ]` in the `[workspace]` table of the root manifest.
fn workspace_list(manifest: &str, key: &str) -> Vec<String> {
    let start = manifest
        .find(&format!("\n{key} = ["))
        .unwrap_or_else(|| panic!("no {key} in the root Cargo.toml"));
    let rest = &manifest[start..];
    let open = rest.find('[').unwrap_or_default();
    let close = rest.find(']').unwrap_or_default();
    rest[open + 1..close]
        .split(',')
        .map(|item| item.trim().trim_matches('"').to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

#[test]
fn a_plain_build_at_the_root_leaves_the_tests_crate_out() {
    let manifest = repo_file("Cargo.toml");
    let members = workspace_list(&manifest, "members");
    assert!(members.contains(&"tests".to_owned()), "{members:?}");
    let defaults = workspace_list(&manifest, "default-members");
    assert!(defaults.contains(&"daemon".to_owned()), "{defaults:?}");
    assert!(
        !defaults.contains(&"tests".to_owned()),
        "`cargo build --release` would give mailsigd the tests' graph-test-util feature"
    );
}

#[test]
fn the_container_and_the_readme_build_the_daemon_alone() {
    let dockerfile = repo_file("Dockerfile");
    let builds: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.contains("cargo build"))
        .collect();
    assert!(!builds.is_empty(), "the Dockerfile builds nothing");
    for line in builds {
        assert!(line.contains("-p mailsig-daemon"), "{line}");
        assert!(
            !line.contains("--workspace") && !line.contains("mailsig-tests"),
            "{line}"
        );
    }
    let readme = repo_file("README.md");
    for line in readme.lines().filter(|l| l.contains("cargo install")) {
        assert!(line.contains("--path daemon"), "{line}");
        assert!(!line.contains("--features"), "{line}");
    }
}

/// The `ENV` instruction's settings, `NAME=value` per entry (continuation lines joined).
fn dockerfile_env(dockerfile: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut in_env = false;
    for line in dockerfile.lines() {
        let line = line.trim();
        let body = match line.strip_prefix("ENV ") {
            Some(rest) => rest,
            None if in_env => line,
            None => continue,
        };
        entries.extend(
            body.trim_end_matches('\\')
                .split_whitespace()
                .map(str::to_owned),
        );
        in_env = line.ends_with('\\');
    }
    entries
}

/// The image is safe without edits: plain HTTP on the container's loopback only, no trusted
/// proxy switched on, the master key read as a key file (so its mode and owner are checked,
/// which a baked-in `CREDENTIALS_DIRECTORY` would skip), and the documented key set-up makes a
/// file only its owner can read.
#[test]
fn the_container_defaults_are_safe_without_edits() {
    let dockerfile = repo_file("Dockerfile");
    let env = dockerfile_env(&dockerfile);
    assert!(!env.is_empty(), "the Dockerfile sets no ENV");
    assert!(
        !env.iter().any(|e| e.starts_with("CREDENTIALS_DIRECTORY=")),
        "CREDENTIALS_DIRECTORY is baked in: {env:?}"
    );
    assert!(
        !env.iter()
            .any(|e| e.starts_with("MAILSIG_HTTP_BEHIND_PROXY=")),
        "behind_proxy is switched on by default: {env:?}"
    );
    let listen = env
        .iter()
        .find_map(|e| e.strip_prefix("MAILSIG_HTTP_LISTEN="))
        .unwrap_or_else(|| panic!("no listen address in {env:?}"));
    assert!(
        listen.starts_with("127.0.0.1:") || listen.starts_with("[::1]:"),
        "the default listen address is {listen}"
    );
    assert!(
        env.iter()
            .any(|e| e.starts_with("MAILSIG_MASTER_KEY_FILE=")),
        "the master key is not read as a key file: {env:?}"
    );
    let key_set_up: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with('#') && l.contains("> master-key"))
        .collect();
    assert!(!key_set_up.is_empty(), "no documented key set-up");
    for line in key_set_up {
        assert!(
            line.contains("umask 077") || line.contains("chmod 0600") || line.contains("chmod 600"),
            "the documented key set-up makes a file others can read: {line}"
        );
    }
}
