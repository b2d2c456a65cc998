//! Rules of `[sink]`: only the built protocols, each dispatcher's rules, each column
//! selector complete, and a `kafka-config` exactly when the sink type is `kafka` (whose rules
//! are in `kafka`).

use std::path::Path;

use super::{Report, dispatch, kafka, selector};
use crate::config::{ChangefeedConfig, KeyPath, Protocol, SinkKind};

pub(super) fn check(r: &mut Report, p: &KeyPath, cf: &mut ChangefeedConfig, base: &Path) {
    let s = &mut cf.sink;
    if s.protocol != Protocol::CanalJson {
        r.unsupported(
            p.key("protocol"),
            format!(
                "protocol = {:?} (only \"canal-json\" is built)",
                s.protocol.name()
            ),
        );
    }
    for (i, rule) in s.dispatchers.iter().enumerate() {
        dispatch::check(r, &p.key("dispatchers").index(i), rule, s.protocol);
    }
    selector::required(r, p, &s.column_selectors);
    match (s.kind, s.kafka_config.as_mut()) {
        (SinkKind::Kafka, None) => r.err(
            p.key("kafka-config"),
            "a kafka sink needs [changefeed.sink.kafka-config] with `brokers` and `topic`",
        ),
        (SinkKind::Kafka, Some(k)) => kafka::check(
            r,
            &p.key("kafka-config"),
            k,
            s.protocol,
            cf.force_replicate == Some(true),
            base,
        ),
        (SinkKind::Stdout, Some(_)) => r.err(
            p.key("kafka-config"),
            "kafka-config is set but sink type is \"stdout\"; remove one of them",
        ),
        (SinkKind::Stdout, None) => {}
    }
}
