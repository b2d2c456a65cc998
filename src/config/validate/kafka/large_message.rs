//! Rules of `[sink.kafka-config.large-message-handle]`: handle-key-only and claim-check need
//! a handle key (not with `force-replicate`) and, under canal-json, the TiDB extension that
//! marks such messages; claim-check needs a storage URI (`file:///`, `s3://`, `gcs://`,
//! `azblob://` with TiCDC's parameters, read by `config::storage_uri`), whose secret
//! parameters in `claim-check-storage-parameters` are resolved here; its settings are set
//! only with claim-check; compression of large messages is not built yet.

use std::path::Path;

use super::super::Report;
use crate::config::{KafkaConfig, KeyPath, LargeMessageCompression, LargeMessageOption, Protocol};

pub(super) fn check(
    r: &mut Report,
    lm: &KeyPath,
    k: &mut KafkaConfig,
    protocol: Protocol,
    force_replicate: bool,
    base: &Path,
) {
    let params = lm.key("claim-check-storage-parameters");
    for (name, secret) in &mut k.large_message_handle.claim_check_storage_parameters {
        if let Err(why) = secret.resolve(base) {
            r.err(params.key(name), why);
        }
    }
    let h = &k.large_message_handle;
    match h.large_message_handle_option {
        LargeMessageOption::None => {
            if h.claim_check_storage_uri.is_some() {
                r.err(
                    lm.key("claim-check-storage-uri"),
                    "set only with large-message-handle-option = \"claim-check\"",
                );
            }
        }
        opt => {
            if !protocol.caps().large_message_reduction {
                r.err(
                    lm.key("large-message-handle-option"),
                    format!(
                        "protocol {} has no handle-key-only or claim-check form (as in TiCDC): leave large-message-handle-option = \"none\" and raise the topic's max.message.bytes if rows are large",
                        protocol.name()
                    ),
                );
            }
            if protocol == Protocol::CanalJson && !k.codec_config.enable_tidb_extension {
                r.err(
                    lm.key("large-message-handle-option"),
                    "canal-json marks handle-key-only and claim-check messages in its TiDB extension: set codec-config.enable-tidb-extension = true",
                );
            }
            if force_replicate {
                r.err(lm.key("large-message-handle-option"), "large-message handling needs a handle key and cannot be used with force-replicate = true");
            }
            if opt == LargeMessageOption::ClaimCheck {
                match h.claim_check_storage_uri.as_deref() {
                    None | Some("") => r.err(lm.key("claim-check-storage-uri"), "claim-check needs claim-check-storage-uri, e.g. \"file:///var/lib/tidb-changefeed/claim-check\""),
                    Some(_) => {
                        if let Err(e) = h.claim_check_storage() {
                            r.err(lm.key("claim-check-storage-uri"), e.to_string());
                        }
                    }
                }
            }
        }
    }
    if h.large_message_handle_compression != LargeMessageCompression::None {
        r.unsupported(
            lm.key("large-message-handle-compression"),
            "large-message-handle-compression other than \"none\"",
        );
    }
    if !h.claim_check_storage_parameters.is_empty()
        && h.large_message_handle_option != LargeMessageOption::ClaimCheck
    {
        r.err(
            params,
            "set only with large-message-handle-option = \"claim-check\"",
        );
    }
    if h.claim_check_storage_request_timeout.get() < std::time::Duration::from_millis(100) {
        r.err(
            lm.key("claim-check-storage-request-timeout"),
            "too short for any storage request; use at least 100ms (default 30s)",
        );
    }
    if h.claim_check_raw_value && h.large_message_handle_option != LargeMessageOption::ClaimCheck {
        r.err(
            lm.key("claim-check-raw-value"),
            "set only with large-message-handle-option = \"claim-check\"",
        );
    }
}
