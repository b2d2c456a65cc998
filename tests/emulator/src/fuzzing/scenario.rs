//! The `scenario` fuzz target: bytes → TOML text → [`Scenario::parse`] → [`build_cluster`].
//!
//! Invariants checked (the scenario module's contract): a rejected file gives a
//! [`ScenarioError`] that names its origin; an accepted one has a valid topology with one
//! region per `[[regions]]` entry and every declared table's info parsed; building its cluster
//! model (meta keys and initial rows, no servers) succeeds or fails with an error, never a
//! panic, and an accepted topology stays the same when asked twice.

use crate::runner::build_cluster;
use crate::scenario::{Scenario, ScenarioError};

/// The origin the fuzzed text is parsed under.
const ORIGIN: &str = "fuzz-scenario.toml";

/// One scenario text (bytes that are not UTF-8 read lossily).
pub fn scenario(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Scenario::parse(&text, ORIGIN) {
        Err(e) => {
            assert!(
                matches!(
                    e,
                    ScenarioError::Parse { .. } | ScenarioError::Invalid { .. }
                ),
                "parse does no reading: {e}"
            );
            assert!(e.to_string().contains(ORIGIN), "error names the file: {e}");
        }
        Ok(s) => {
            let topo = match s.topology() {
                Ok(t) => t,
                Err(e) => panic!("accepted scenario, topology fails: {e}"),
            };
            assert_eq!(
                topo.regions().len(),
                s.regions.len(),
                "one region per entry"
            );
            let again = s.topology().map(|t| format!("{:?}", t.regions()));
            assert_eq!(again.ok(), Some(format!("{:?}", topo.regions())));
            if let Err(e) = build_cluster(&s) {
                assert!(!e.to_string().is_empty());
            }
        }
    }
}
