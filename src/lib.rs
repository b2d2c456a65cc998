//! tidb-changefeed

pub mod emulator;
pub mod proto;
