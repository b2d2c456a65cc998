//! Rules of `[sink.kafka-config.codec-config]` against the protocol: content-compatible only
//! for canal-json and without the TiDB extension, only-output-updated-columns only for
//! canal-json and simple, debezium-disable-schema only for debezium, a batch size above zero.

use super::super::Report;
use crate::config::{CodecConfig, KeyPath, Protocol};

pub(super) fn check(r: &mut Report, cc: &KeyPath, c: &CodecConfig, protocol: Protocol) {
    if c.content_compatible && protocol != Protocol::CanalJson {
        r.err(
            cc.key("content-compatible"),
            "content-compatible applies to canal-json only",
        );
    }
    if c.content_compatible && c.enable_tidb_extension {
        r.err(
            cc.key("content-compatible"),
            "content-compatible output has no TiDB extension: set enable-tidb-extension = false",
        );
    }
    if c.only_output_updated_columns && !matches!(protocol, Protocol::CanalJson | Protocol::Simple)
    {
        r.err(
            cc.key("only-output-updated-columns"),
            "only-output-updated-columns applies to canal-json and simple only",
        );
    }
    if c.debezium_disable_schema && protocol != Protocol::Debezium {
        r.err(
            cc.key("debezium-disable-schema"),
            "debezium-disable-schema applies to debezium only",
        );
    }
    if c.max_batch_size == 0 {
        r.err(cc.key("max-batch-size"), "must be greater than 0");
    }
}
