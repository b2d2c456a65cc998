//! The house rule that keeps `src/` readable: every top-level module of the daemon imports only
//! modules listed before it in [`LAYERS`] (foundations first, then the stages in data-flow
//! order, then what the operator runs), never one after it, so there is no import cycle and
//! no upward import. Test modules (`#[cfg(test)]` at the end of a file) may import anything.
//! The README's "Layout" section shows the same order.

use std::path::{Path, PathBuf};

/// Top-level modules of `src/`, lowest first.
const LAYERS: &[&str] = &[
    // Foundations: shared leaves, no tasks of their own.
    "build_info",
    "proto",
    "model",
    "mount",
    "event",
    "filter",
    "config",
    "metrics",
    "shutdown",
    "fence",
    "status",
    "tls",
    // Stages, in data-flow order.
    "upstream",
    "schema",
    "sorter",
    "dispatch",
    "codec",
    "sink",
    "checkpoint",
    "pipeline",
    // What the operator runs.
    "check",
    "decode",
    "checkpoint_cli",
    "import_ticdc",
    "admin_cli",
    "server",
    "runtime",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs and main.rs).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (!matches!(name.as_str(), "lib" | "main")).then_some(name)
}

/// The `crate::x` modules a file names outside its trailing test module.
fn imported(text: &str) -> Vec<String> {
    let body = match text.find("\n#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

#[test]
fn modules_import_only_earlier_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut upward = Vec::new();
    let mut unlisted = Vec::new();
    for file in &files {
        let Some(module) = top_module(&src, file) else {
            continue;
        };
        let Some(own) = rank(&module) else {
            unlisted.push(file.display().to_string());
            continue;
        };
        let text = std::fs::read_to_string(file).expect("source file is readable");
        for target in imported(&text) {
            if let Some(r) = rank(&target)
                && r > own
            {
                upward.push(format!("{}: {module} imports {target}", file.display()));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "top-level modules missing from LAYERS (add them where they belong): {unlisted:?}"
    );
    assert!(
        upward.is_empty(),
        "upward imports (a module may import only layers before it):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_checker_sees_imports() {
    let text = "use crate::event::RowEvent;\nfn f() { crate::codec::build(); }\n#[cfg(test)]\nmod tests { use crate::runtime; }";
    assert_eq!(imported(text), ["event", "codec"]);
}
