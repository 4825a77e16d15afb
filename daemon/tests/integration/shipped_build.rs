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
