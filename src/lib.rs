//! tidb-changefeed
pub mod codec;
pub mod dispatch;
pub mod mount;
pub mod schema;
