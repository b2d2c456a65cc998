//! tidb-changefeed
