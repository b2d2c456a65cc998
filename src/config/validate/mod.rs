//! The rules between settings that types alone cannot express: ranges, names, settings that
//! contradict each other, and settings whose behaviour is not built yet. Every rule reports
//! the key path it is about, and all problems of a file are reported together, in the order
//! of the file's sections (upstream, server, state, log, then each changefeed).
//!
//! A setting that the daemon does not implement is rejected here with "not supported yet";
//! it is never accepted and silently ignored.
//!
//! This module owns the entry point and the [`Report`] the rules write to; each submodule
//! owns the rules of one part of the file: `upstream`, `daemon` (server, state, log),
//! `changefeed` (id, time zone, and the order of the parts below), `filter`, `selector`,
//! `dispatch`, `sink` and `kafka`.

mod changefeed;
mod daemon;
mod dispatch;
mod filter;
mod kafka;
mod selector;
mod sink;
mod upstream;

use std::collections::HashMap;
use std::path::Path;

use super::locate::KeyPath;
use super::model::Config;

pub use kafka::valid_topic_name;

/// One broken rule.
#[derive(Debug, Clone)]
pub struct Violation {
    pub path: KeyPath,
    pub message: String,
}

/// The violations found so far, in the order they were found.
#[derive(Default)]
struct Report(Vec<Violation>);

impl Report {
    fn err(&mut self, path: KeyPath, message: impl Into<String>) {
        self.0.push(Violation {
            path,
            message: message.into(),
        });
    }

    fn unsupported(&mut self, path: KeyPath, what: impl AsRef<str>) {
        self.err(path, format!("{} is not supported yet", what.as_ref()));
    }
}

/// Checks the whole configuration and resolves its secrets (relative secret files are read
/// from `base`).
pub fn validate(cfg: &mut Config, base: &Path) -> Vec<Violation> {
    let mut r = Report::default();
    let root = KeyPath::root();
    upstream::check(&mut r, &root.key("upstream"), &cfg.upstream);
    daemon::check(&mut r, &root, cfg, base);

    if cfg.changefeeds.is_empty() {
        r.err(
            root.key("changefeed"),
            "no [[changefeed]] is configured; add at least one",
        );
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, cf) in cfg.changefeeds.iter_mut().enumerate() {
        let p = root.key("changefeed").index(i);
        if let Some(first) = seen.insert(cf.id.clone(), i) {
            r.err(
                p.key("id"),
                format!(
                    "duplicate changefeed id {:?} (also used by changefeed[{first}])",
                    cf.id
                ),
            );
        }
        changefeed::check(&mut r, &p, cf, base);
    }
    r.0
}
