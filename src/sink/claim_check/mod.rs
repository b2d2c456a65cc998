//! Claim-check storage (TiCDC's `claim-check-storage-uri`): where the full form of a message
//! too large for Kafka is stored before the reduced message naming it is sent.
//!
//! (The URI and its TiCDC parameters are read into a [`StorageSpec`] by the configuration,
//! `config::storage_uri`.)
//! * [`store`]: one storage (a local directory with fsync, or S3 / GCS / Azure Blob through
//!   `object_store`), one attempt per operation;
//! * [`writer`]: the retrying writer a changefeed's workers hand objects to, whose
//!   [`PendingPut`] the emitter awaits before the message goes out;
//! * [`probe`]: `check`'s proof that the storage takes, returns and deletes an object.

pub mod store;
pub mod writer;

use std::sync::Arc;

pub use store::{ClaimStore, StoreError};
pub use writer::{ClaimCheckWriter, PendingPut, Stall, WriteError};

use crate::config::LargeMessageHandle;
use crate::config::storage_uri::Backend;

/// Proves the storage of `h` works as the writer uses it: stores a small probe object,
/// reads it back, compares, and deletes it. Returns what was done, or what failed with
/// the permission to grant.
pub async fn probe(h: &LargeMessageHandle) -> Result<Vec<String>, String> {
    let spec = match h.claim_check_storage() {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    let timeout = h.claim_check_storage_request_timeout.get();
    let store = ClaimStore::open(&spec, timeout).map_err(|e| e.to_string())?;
    let name = format!(".tidb-changefeed-check-{}.json", uuid::Uuid::new_v4());
    let body = Arc::new(br#"{"key":null,"value":""}"#.to_vec());
    let grant = |op: &str, e: &StoreError| {
        let need = match (&spec.backend, op) {
            (Backend::File { .. }, _) => "write, read and delete permission on the directory",
            (Backend::S3(_), "store") => "s3:PutObject on the bucket and prefix",
            (Backend::S3(_), "read back") => "s3:GetObject on the bucket and prefix",
            (Backend::S3(_), _) => {
                "s3:DeleteObject on the bucket and prefix (used only by this check)"
            }
            (Backend::Gcs(_), "store") => "storage.objects.create on the bucket",
            (Backend::Gcs(_), "read back") => "storage.objects.get on the bucket",
            (Backend::Gcs(_), _) => {
                "storage.objects.delete on the bucket (used only by this check)"
            }
            (Backend::Azure(_), _) => {
                "the Storage Blob Data Contributor role on the container (or a SAS with write, read and delete)"
            }
        };
        format!(
            "claim-check storage {}: cannot {op} a probe object: {e}{}",
            spec.display,
            if e.is_permission() {
                format!("; grant {need}")
            } else {
                format!("; check the bucket, endpoint and credentials (needed: {need})")
            }
        )
    };
    store
        .put(&name, Arc::clone(&body))
        .await
        .map_err(|e| grant("store", &e))?;
    let back = store.get(&name).await.map_err(|e| grant("read back", &e))?;
    if back != *body {
        return Err(format!(
            "claim-check storage {}: the probe object read back differs from what was stored",
            spec.display
        ));
    }
    store.delete(&name).await.map_err(|e| grant("delete", &e))?;
    Ok(vec![format!(
        "claim-check storage {}: stored, read back and deleted a probe object (messages will point at {}/<uuid>.json)",
        spec.display, spec.location
    )])
}
