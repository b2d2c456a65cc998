//! What this binary is: version, git commit and build profile, stamped by build.rs.

/// Crate version from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Short git commit the binary was built from, or `unknown` outside a git checkout.
pub const GIT_COMMIT: &str = env!("TIDB_CHANGEFEED_GIT_COMMIT");
/// Cargo profile (`debug` or `release`).
pub const PROFILE: &str = env!("TIDB_CHANGEFEED_BUILD_PROFILE");

/// One line for `version` and the startup log.
pub fn describe() -> String {
    format!("tidb-changefeed {VERSION} (commit {GIT_COMMIT}, {PROFILE} build)")
}
