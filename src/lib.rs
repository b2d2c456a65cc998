//! tidb-changefeed
pub mod mount;
pub mod schema;
