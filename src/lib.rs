//! tidb-changefeed

pub mod emulator;
pub mod mount;
pub mod proto;
pub mod schema;
