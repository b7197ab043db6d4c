//! Tidy checks on the source tree itself: every Rust file says what it is
//! for in its first line, no source file grows past what one job needs,
//! every path `ARCHITECTURE.md` names exists, and the black-box tests
//! stay one binary.
//! (The idea is rust-analyzer's `tidy` tests: rules about the code base
//! that a reviewer would otherwise have to remember.)

use std::path::{Path, PathBuf};

/// The repository's root (this crate's manifest directory).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, skipping build output, VCS data and dependencies.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            out.push(path.clone());
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Paths relative to the root, with `/` separators; directories end in `/`.
fn tree() -> Vec<String> {
    let root = root();
    let mut paths = Vec::new();
    files_under(&root, &mut paths);
    paths
        .iter()
        .filter_map(|path| {
            let relative = path
                .strip_prefix(&root)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            Some(if path.is_dir() {
                format!("{relative}/")
            } else {
                relative
            })
        })
        .collect()
}

#[test]
fn every_rust_file_opens_with_its_role() {
    let offenders: Vec<String> = tree()
        .into_iter()
        .filter(|path| path.ends_with(".rs"))
        .filter(|path| {
            let text = std::fs::read_to_string(root().join(path)).unwrap_or_default();
            !text.starts_with("//!")
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "these files do not open with a `//!` line saying what they are for: {offenders:?}"
    );
}

/// The backquoted words of `text` that name a file or a directory: they end
/// in a source file's extension, or in `/`.
fn named_paths(text: &str) -> Vec<String> {
    const EXTENSIONS: [&str; 8] = [
        ".rs", ".proto", ".sql", ".toml", ".md", ".sh", ".py", ".json",
    ];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| {
            let pathlike = word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c));
            let stem = word.trim_start_matches("../").trim_start_matches('.');
            // A name before the extension or the slash: `.rs` alone is not a path.
            let named = if word.ends_with('/') {
                stem.len() > 1
            } else {
                EXTENSIONS
                    .iter()
                    .any(|ext| word.ends_with(ext) && stem.len() > ext.len())
            };
            pathlike && named && !stem.starts_with('/')
        })
        .map(String::from)
        .collect()
}

#[test]
fn named_paths_are_words_in_backquotes_that_look_like_paths() {
    let text = "`src/` holds `run.rs` and `a/b.proto`; not `GET /runs`, `x.y()` or `.rs`";
    assert_eq!(named_paths(text), ["src/", "run.rs", "a/b.proto"]);
}

#[test]
fn every_path_the_architecture_map_names_exists() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let tree = tree();
    let names = named_paths(&text);
    assert!(names.len() > 50, "the map names only {} paths", names.len());
    // A name is relative to the section it is in (`run.rs` under
    // `aggregates/`), so it resolves when some path ends with it; one
    // beginning with `../` is beside the checkout.
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| {
            if let Some(outside) = name.strip_prefix("../") {
                return !root().join("..").join(outside).exists();
            }
            !tree
                .iter()
                .any(|path| path == *name || path.ends_with(&format!("/{name}")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names paths that do not exist: {missing:?}"
    );
}

/// Whether `path` is test code: a file under a `tests/` folder or named
/// `tests.rs` (a module's tests moved beside it).
fn is_test_code(path: &str) -> bool {
    path.starts_with("tests/") || path.contains("/tests/") || path.ends_with("/tests.rs")
}

#[test]
fn source_files_stay_small() {
    const MOST_LINES: usize = 400;
    let mut sizes: Vec<(usize, String)> = tree()
        .into_iter()
        .filter(|path| path.ends_with(".rs") && !is_test_code(path))
        .map(|path| {
            let text = std::fs::read_to_string(root().join(&path)).unwrap_or_default();
            (text.lines().count(), path)
        })
        .collect();
    sizes.sort();
    assert!(sizes.len() > 100, "only {} source files", sizes.len());
    let too_long: Vec<&(usize, String)> = sizes
        .iter()
        .filter(|(lines, _)| *lines > MOST_LINES)
        .collect();
    assert!(
        too_long.is_empty(),
        "over {MOST_LINES} lines (split them by job): {too_long:?}"
    );
    let median = sizes[sizes.len() / 2].0;
    assert!(median < 200, "the median source file has {median} lines");
}

/// Each test binary links the whole service (about 100 MB unoptimised), so a
/// black-box test joins `tests/integration/`; only a test that needs a
/// process of its own (a process-wide log subscriber) is a binary beside it.
#[test]
fn black_box_tests_share_one_binary() {
    const OWN_BINARIES: [&str; 3] = [
        "tests/runtime_auth.rs",
        "tests/security.rs",
        "tests/tidy.rs",
    ];
    let tree = tree();
    let mut binaries: Vec<&String> = tree
        .iter()
        .filter(|path| {
            path.starts_with("tests/") && path.ends_with(".rs") && path.matches('/').count() == 1
        })
        .collect();
    binaries.sort();
    assert_eq!(
        binaries, OWN_BINARIES,
        "a new black-box test goes in tests/integration/ (and its main.rs)"
    );
    // A module file its parent does not declare (`main.rs`, or `faults.rs`
    // for `faults/kills.rs`) is never compiled, so its tests would silently
    // never run.
    let undeclared: Vec<&String> = tree
        .iter()
        .filter_map(|path| {
            let module = path
                .strip_prefix("tests/integration/")?
                .strip_suffix(".rs")?;
            let (parent, name) = match module.rsplit_once('/') {
                Some((folder, name)) => (format!("tests/integration/{folder}.rs"), name),
                None => ("tests/integration/main.rs".to_string(), module),
            };
            let parent = std::fs::read_to_string(root().join(parent)).unwrap_or_default();
            let declared =
                module == "main" || parent.lines().any(|line| line == format!("mod {name};"));
            (!declared).then_some(path)
        })
        .collect();
    assert!(
        undeclared.is_empty(),
        "no parent module declares {undeclared:?}"
    );
}
