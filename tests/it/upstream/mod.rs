//! The upstream client (`tidb_changefeed::upstream`) against the emulator: PD helpers and
//! the span feed delivering committed rows and a rising frontier, through region errors.

mod feed;
mod gc;
mod multi;
mod pd;
mod pd_leader;
pub mod tls;
