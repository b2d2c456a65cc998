//! One claim-check storage as the daemon writes to it: a local directory (each object a
//! temporary file, fsync, rename, fsync of the directory — durable before it is named), or
//! an object store (S3, GCS, Azure Blob) through the `object_store` crate, built from a
//! [`StorageSpec`]. One attempt per call: retries belong to [`super::writer`].
//!
//! Guarantees: `put` returns `Ok` only once the object is durable as the backend defines it
//! (fsync'd file; the object store's 200 to a single PUT); errors say which object and
//! backend failed, and credentials never appear in them; the HTTP client is built on the
//! process's one rustls provider (ring), installed by the caller before the first request.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, ObjectStoreExt as _, PutOptions, PutPayload,
    RetryConfig,
};

use crate::config::storage_uri::{AzureOptions, Backend, GcsOptions, S3Options, StorageSpec};

/// Why one storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {op} {location}: {source}")]
    File {
        op: &'static str,
        location: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {op} {location}: {source}")]
    Object {
        op: &'static str,
        location: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot {op} {location}: no answer within {timeout:?}")]
    Timeout {
        op: &'static str,
        location: String,
        timeout: Duration,
    },
    #[error("cannot open claim-check storage {display}: {reason}")]
    Build { display: String, reason: String },
    #[error("the file-writing task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// The storage refused the credentials or the operation (not a transient fault).
    pub fn is_permission(&self) -> bool {
        match self {
            StoreError::Object { source, .. } => matches!(
                source,
                object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
            ),
            StoreError::File { source, .. } => {
                source.kind() == std::io::ErrorKind::PermissionDenied
            }
            _ => false,
        }
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A claim-check storage, ready to take objects.
#[derive(Debug, Clone)]
pub struct ClaimStore {
    backend: StoreBackend,
    /// `scheme://bucket/prefix` (or `file:///dir`): the location prefix in messages.
    location: String,
    display: String,
    timeout: Duration,
}

#[derive(Debug, Clone)]
enum StoreBackend {
    File(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: String,
        attributes: Attributes,
    },
}

impl ClaimStore {
    /// Opens the storage `spec` names (no request is made); `timeout` bounds each request.
    pub fn open(spec: &StorageSpec, timeout: Duration) -> Result<Self, StoreError> {
        let build = |reason: String| StoreError::Build {
            display: spec.display.clone(),
            reason,
        };
        let client = ClientOptions::new()
            .with_timeout(timeout)
            .with_connect_timeout(CONNECT_TIMEOUT.min(timeout));
        // One attempt per call: the writer retries, counts and reports each failure.
        let retry = RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        };
        let backend = match &spec.backend {
            Backend::File { dir } => StoreBackend::File(dir.clone()),
            Backend::S3(o) => object(
                s3(o, client, retry).map_err(|e| build(e.to_string()))?,
                &o.prefix,
                o.storage_class.as_deref(),
            ),
            Backend::Gcs(o) => object(
                gcs(o, client, retry).map_err(|e| build(e.to_string()))?,
                &o.prefix,
                o.storage_class.as_deref(),
            ),
            Backend::Azure(o) => object(
                azure(o, client, retry).map_err(|e| build(e.to_string()))?,
                &o.prefix,
                o.access_tier.as_deref(),
            ),
        };
        Ok(ClaimStore {
            backend,
            location: spec.location.clone(),
            display: spec.display.clone(),
            timeout,
        })
    }

    /// The location prefix written into messages (`<location>/<name>`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The configured URI with secrets masked.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Where `name` is stored, as written into messages.
    pub fn location_of(&self, name: &str) -> String {
        format!("{}/{name}", self.location)
    }

    /// Stores `body` as `name` (one attempt).
    pub async fn put(&self, name: &str, body: Arc<Vec<u8>>) -> Result<(), StoreError> {
        let location = self.location_of(name);
        match &self.backend {
            StoreBackend::File(dir) => {
                let dir = dir.clone();
                let name = name.to_string();
                tokio::task::spawn_blocking(move || write_file(&dir, &name, &body))
                    .await
                    .map_err(|e| StoreError::Task(e.to_string()))?
            }
            StoreBackend::Object {
                store,
                prefix,
                attributes,
            } => {
                let opts = PutOptions {
                    attributes: attributes.clone(),
                    ..PutOptions::default()
                };
                let path = object_path(prefix, name);
                self.bounded("store", &location, async {
                    store
                        .put_opts(&path, PutPayload::from(body.to_vec()), opts)
                        .await
                        .map(|_| ())
                })
                .await
            }
        }
    }

    /// Reads `name` back (for `check` and tests).
    pub async fn get(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let location = self.location_of(name);
        match &self.backend {
            StoreBackend::File(dir) => {
                let path = dir.join(name);
                tokio::fs::read(&path)
                    .await
                    .map_err(|source| StoreError::File {
                        op: "read",
                        location,
                        source,
                    })
            }
            StoreBackend::Object { store, prefix, .. } => {
                let path = object_path(prefix, name);
                self.bounded("read", &location, async {
                    store.get(&path).await?.bytes().await.map(|b| b.to_vec())
                })
                .await
            }
        }
    }

    /// Deletes `name` (the `check` probe cleans up after itself; claim-check objects are
    /// never deleted, as in TiCDC).
    pub async fn delete(&self, name: &str) -> Result<(), StoreError> {
        let location = self.location_of(name);
        match &self.backend {
            StoreBackend::File(dir) => {
                tokio::fs::remove_file(dir.join(name))
                    .await
                    .map_err(|source| StoreError::File {
                        op: "delete",
                        location,
                        source,
                    })
            }
            StoreBackend::Object { store, prefix, .. } => {
                let path = object_path(prefix, name);
                self.bounded("delete", &location, store.delete(&path)).await
            }
        }
    }

    /// Runs one object-store request within the request timeout (the client's own timeout
    /// covers each HTTP exchange; this one covers credential fetches and body reads too).
    async fn bounded<T>(
        &self,
        op: &'static str,
        location: &str,
        fut: impl Future<Output = Result<T, object_store::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout + CONNECT_TIMEOUT, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(source)) => Err(StoreError::Object {
                op,
                location: location.to_string(),
                source,
            }),
            Err(_) => Err(StoreError::Timeout {
                op,
                location: location.to_string(),
                timeout: self.timeout,
            }),
        }
    }
}

fn object(store: Arc<dyn ObjectStore>, prefix: &str, class: Option<&str>) -> StoreBackend {
    let mut attributes = Attributes::new();
    if let Some(c) = class {
        attributes.insert(Attribute::StorageClass, c.to_string().into());
    }
    StoreBackend::Object {
        store,
        prefix: prefix.to_string(),
        attributes,
    }
}

fn object_path(prefix: &str, name: &str) -> ObjectPath {
    if prefix.is_empty() {
        ObjectPath::from(name)
    } else {
        ObjectPath::from(format!("{prefix}/{name}"))
    }
}

/// S3: credentials and region from the URI, else the `AWS_*` environment (and the web
/// identity or instance credentials `object_store` finds), as the AWS SDK TiCDC uses does.
fn s3(
    o: &S3Options,
    client: ClientOptions,
    retry: RetryConfig,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(&o.bucket)
        .with_client_options(client)
        .with_retry(retry)
        .with_virtual_hosted_style_request(!o.force_path_style);
    if let Some(r) = &o.region {
        b = b.with_region(r);
    } else if std::env::var_os("AWS_REGION").is_none()
        && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        b = b.with_region("us-east-1");
    }
    if let Some(ep) = &o.endpoint {
        // Virtual-hosted style against a custom endpoint: the bucket is part of the host,
        // as the AWS SDK builds it (object_store expects it in the endpoint).
        let ep = if o.force_path_style {
            ep.clone()
        } else {
            match ep.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{}.{host}", o.bucket),
                None => ep.clone(),
            }
        };
        b = b
            .with_allow_http(ep.starts_with("http://"))
            .with_endpoint(ep);
    }
    if let (Some(k), Some(s)) = (&o.access_key, &o.secret_access_key) {
        b = b.with_access_key_id(k).with_secret_access_key(s);
    }
    if let Some(t) = &o.session_token {
        b = b.with_token(t);
    }
    // `sse` = AES256 | aws:kms | aws:kms:dsse, with `sse-kms-key-id`: object_store's
    // encryption settings by their documented names.
    for (name, value) in [
        ("aws_server_side_encryption", &o.sse),
        ("aws_sse_kms_key_id", &o.sse_kms_key_id),
    ] {
        if let Some(v) = value {
            b = b.with_config(name.parse::<AmazonS3ConfigKey>()?, v);
        }
    }
    Ok(Arc::new(b.build()?))
}

/// GCS: `credentials-file`, else the environment's application default credentials.
fn gcs(
    o: &GcsOptions,
    client: ClientOptions,
    retry: RetryConfig,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    use object_store::gcp::GoogleCloudStorageBuilder;
    let mut b = GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(&o.bucket)
        .with_client_options(client)
        .with_retry(retry);
    if let Some(f) = &o.credentials_file {
        b = b.with_service_account_path(f);
    }
    if let Some(ep) = &o.endpoint {
        b = b.with_base_url(ep.trim_end_matches('/'));
    }
    Ok(Arc::new(b.build()?))
}

/// Azure Blob: account name and key or SAS token from the URI, else the `AZURE_*`
/// environment (including a service principal or managed identity).
fn azure(
    o: &AzureOptions,
    client: ClientOptions,
    retry: RetryConfig,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    let mut b = MicrosoftAzureBuilder::from_env()
        .with_container_name(&o.container)
        .with_client_options(client)
        .with_retry(retry);
    if let Some(a) = &o.account_name {
        b = b.with_account(a);
    }
    if let Some(k) = &o.account_key {
        b = b.with_access_key(k);
    }
    if let Some(t) = &o.sas_token {
        b = b.with_config(AzureConfigKey::SasKey, t.trim_start_matches('?'));
    }
    if let Some(ep) = &o.endpoint {
        b = b
            .with_allow_http(ep.starts_with("http://"))
            .with_endpoint(ep.trim_end_matches('/').to_string());
    }
    if let Some(k) = &o.encryption_key {
        // TiCDC sends the raw key string's bytes as the customer-provided key (azblob.go
        // `apply`: base64 of the bytes, with their SHA-256); object_store takes it base64'd.
        b = b.with_encryption_key(base64::engine::general_purpose::STANDARD.encode(k));
    }
    Ok(Arc::new(b.build()?))
}

/// Writes `dir/name` durably: a temporary file, fsync, rename, fsync of the directory.
fn write_file(dir: &Path, name: &str, body: &[u8]) -> Result<(), StoreError> {
    let path = dir.join(name);
    let err = |op| {
        let location = format!("file://{}", path.display());
        move |source| StoreError::File {
            op,
            location,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(err("create the directory of"))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(err("create"))?;
    f.write_all(body).map_err(err("write"))?;
    f.sync_all().map_err(err("sync"))?;
    std::fs::rename(&tmp, &path).map_err(err("rename into place"))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err("sync the directory of"))?;
    Ok(())
}
