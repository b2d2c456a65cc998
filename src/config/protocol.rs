//! The output protocols TiCDC knows ([`Protocol`], the `protocol` setting) and what each one
//! does with DDLs, watermarks, topics, large messages and schemas ([`ProtocolCaps`]).
//!
//! Owns the one table of protocol capabilities: config validation, the dispatcher, the
//! pipeline's emitter and every encoder read it here instead of matching on protocol names.
//! Facts follow TiCDC classic v8.5 (reference/formats.md §2-§5).

use serde::{Deserialize, Serialize};

/// The output protocols TiCDC knows. Only some are built; config validation rejects the
/// rest as not supported yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    CanalJson,
    Avro,
    Debezium,
    #[serde(alias = "default")]
    OpenProtocol,
    Simple,
    Canal,
    Maxwell,
    Craft,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::CanalJson => "canal-json",
            Protocol::Avro => "avro",
            Protocol::Debezium => "debezium",
            Protocol::OpenProtocol => "open-protocol",
            Protocol::Simple => "simple",
            Protocol::Canal => "canal",
            Protocol::Maxwell => "maxwell",
            Protocol::Craft => "craft",
        }
    }
}

/// Where a protocol sends a message that is not a row (DDL, watermark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The protocol has no such message.
    Nowhere,
    /// Partition 0 of the topic (canal, canal-json).
    Partition0,
    /// Every partition of the topic (TiCDC's default for the other protocols).
    AllPartitions,
}

/// What a protocol does, as config validation, dispatch and the pipeline need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolCaps {
    /// This daemon has an encoder for it.
    pub built: bool,
    /// Where DDL messages go.
    pub ddl: Placement,
    /// Where watermark (checkpoint) messages go.
    pub watermark: Placement,
    /// `large-message-handle-option = "handle-key-only"` / `"claim-check"` are possible.
    pub large_message_reduction: bool,
    /// Every table needs its own topic: a dynamic topic expression must contain both
    /// `{schema}` and `{table}` (Avro: one subject per table, TopicNameStrategy).
    pub one_table_per_topic: bool,
    /// A schema registry is required (`[sink] schema-registry`).
    pub schema_registry: bool,
    /// Tables without a handle key cannot be replicated (`force-replicate` must be false).
    pub needs_handle_key: bool,
    /// Several rows may share one Kafka message (open-protocol's `max-batch-size`).
    pub batches_rows: bool,
}

impl Protocol {
    /// The protocol's capabilities.
    pub fn caps(self) -> ProtocolCaps {
        let ticdc_default = ProtocolCaps {
            built: false,
            ddl: Placement::AllPartitions,
            watermark: Placement::AllPartitions,
            large_message_reduction: false,
            one_table_per_topic: false,
            schema_registry: false,
            needs_handle_key: false,
            batches_rows: false,
        };
        match self {
            Protocol::CanalJson => ProtocolCaps {
                built: true,
                ddl: Placement::Partition0,
                large_message_reduction: true,
                ..ticdc_default
            },
            Protocol::Canal => ProtocolCaps {
                ddl: Placement::Partition0,
                ..ticdc_default
            },
            Protocol::Avro => ProtocolCaps {
                built: true,
                ddl: Placement::Nowhere,
                watermark: Placement::Nowhere,
                one_table_per_topic: true,
                schema_registry: true,
                needs_handle_key: true,
                ..ticdc_default
            },
            // DDLs and resolved events to every partition (TiCDC's default placement).
            Protocol::OpenProtocol => ProtocolCaps {
                built: true,
                large_message_reduction: true,
                batches_rows: true,
                ..ticdc_default
            },
            Protocol::Simple => ProtocolCaps {
                large_message_reduction: true,
                ..ticdc_default
            },
            // Classic v8.5 writes neither DDL nor checkpoint messages and refuses
            // large-message handling for Debezium (`pkg/config/large_message.go`).
            Protocol::Debezium => ProtocolCaps {
                built: true,
                ddl: Placement::Nowhere,
                watermark: Placement::Nowhere,
                ..ticdc_default
            },
            Protocol::Maxwell | Protocol::Craft => ticdc_default,
        }
    }

    /// The names of the protocols this daemon builds, for messages.
    pub fn built_names() -> Vec<&'static str> {
        Protocol::ALL
            .iter()
            .filter(|p| p.caps().built)
            .map(|p| p.name())
            .collect()
    }

    const ALL: [Protocol; 8] = [
        Protocol::CanalJson,
        Protocol::Avro,
        Protocol::Debezium,
        Protocol::OpenProtocol,
        Protocol::Simple,
        Protocol::Canal,
        Protocol::Maxwell,
        Protocol::Craft,
    ];
}
