//! Coming from TiCDC: its Kafka sink URI ([`SinkUri`]), the table of every TiCDC Kafka
//! changefeed setting and what becomes of it here ([`keys`]), and the code that writes those
//! settings into this daemon's `[[changefeed]]` ([`apply`]). The configuration loader uses
//! it for `sink-uri` in `[changefeed.sink]`; `import-ticdc` for whole TiCDC changefeeds.

pub mod apply;
pub mod keys;
pub mod uri;

pub use apply::{Dropped, Outcome, SecretStyle, Verdict, apply_uri};
pub use uri::{SinkUri, UriError};
