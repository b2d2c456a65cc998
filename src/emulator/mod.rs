//! Emulated TiDB upstream (PD + TiKV CDC) for tests; never on the production path.
