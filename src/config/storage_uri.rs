//! `claim-check-storage-uri` read as TiCDC reads an external-storage URI, into a typed
//! [`StorageSpec`] (the sink's `claim_check` module opens it); and the same URI with its
//! secrets masked, for logs, status and `check`.
//!
//! Schemes and parameters are TiDB's external storage (`br/pkg/storage`, now
//! `pkg/objstore`): `ParseBackend` in `parse.go` (pingcap/tidb 732044d, lines 40-96; 01cd428
//! lines 70-148 adds `azure`/`azblob`) takes `file://`/`local://`, `s3://`, `gs://`/`gcs://`
//! and `azure://`/`azblob://`, the host being the bucket (container) and the path, trimmed of
//! `/`, the prefix. `ParseRawURL` (lines 24-35) turns `+` into `%2B` first, because secret keys
//! contain it, and `ExtractQueryParameters` (lines 98-143) lower-cases each parameter name
//! and turns `_` into `-`. The parameters are the JSON names of `S3BackendOptions`
//! (`s3.go`, 8958208 lines 118-131, plus `session-token`, `role-arn`, `external-id`,
//! `profile`, `object-lock-enabled` in later versions), `GCSBackendOptions` and
//! `AzblobBackendOptions` (`azblob.go`: endpoint, account-name, account-key, access-tier,
//! sas-token, encryption-scope, encryption-key). S3 is path-style unless `provider` is
//! `alibaba` or `netease` or `force-path-style=false` (`Apply`, s3.go lines 134-176).
//!
//! Guarantees: every parameter is either mapped or refused with its name and the reason
//! (TiCDC ignores unknown ones; here a misspelt credential fails at `check` instead of at
//! the first large row); the location written into messages is TiCDC's `URI()` of the
//! storage — `scheme://bucket/prefix`, never a parameter — so no secret reaches Kafka.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where claim-check objects go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A local directory (`file:///path`): written with fsync, as before.
    File {
        dir: PathBuf,
    },
    S3(S3Options),
    Gcs(GcsOptions),
    Azure(AzureOptions),
}

/// An S3 (or S3-compatible) bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Options {
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// `endpoint`: scheme and host of an S3-compatible service.
    pub endpoint: Option<String>,
    /// `region`; the environment's `AWS_REGION`, else `us-east-1`, when absent.
    pub region: Option<String>,
    pub access_key: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// `force-path-style` (TiCDC's default: true).
    pub force_path_style: bool,
    /// `sse`: `AES256`, `aws:kms`, `aws:kms:dsse`.
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
    pub storage_class: Option<String>,
}

/// A Google Cloud Storage bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsOptions {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: Option<String>,
    /// `credentials-file`: a service account JSON key; else the environment's
    /// application default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, …).
    pub credentials_file: Option<String>,
    pub storage_class: Option<String>,
}

/// An Azure Blob Storage container.
#[derive(Clone, PartialEq, Eq)]
pub struct AzureOptions {
    pub container: String,
    pub prefix: String,
    pub endpoint: Option<String>,
    /// `account-name`; else `AZURE_STORAGE_ACCOUNT_NAME` from the environment.
    pub account_name: Option<String>,
    pub account_key: Option<String>,
    pub sas_token: Option<String>,
    pub access_tier: Option<String>,
    /// `encryption-key`: the raw customer-provided key, as TiCDC takes it.
    pub encryption_key: Option<String>,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key.as_ref().map(|_| "***"))
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .field("force_path_style", &self.force_path_style)
            .field("sse", &self.sse)
            .field("storage_class", &self.storage_class)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AzureOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureOptions")
            .field("container", &self.container)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("account_name", &self.account_name)
            .field("account_key", &self.account_key.as_ref().map(|_| "***"))
            .field("sas_token", &self.sas_token.as_ref().map(|_| "***"))
            .field("access_tier", &self.access_tier)
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// A parsed `claim-check-storage-uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSpec {
    pub backend: Backend,
    /// The prefix of every `claimCheckLocation`: `file:///dir`, `s3://bucket/prefix`, … (no
    /// parameters, no trailing `/`).
    pub location: String,
    /// The URI as configured with its secrets masked.
    pub display: String,
}

/// Why a storage URI is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("claim-check storage URI {uri:?}: {reason}")]
    Invalid { uri: String, reason: String },
    #[error("claim-check storage URI {uri:?}: parameter `{param}` is not supported: {reason}")]
    Unsupported {
        uri: String,
        param: String,
        reason: String,
    },
}

impl StorageSpec {
    /// Parses `uri`, with `extra` parameters (from `claim-check-storage-parameters`, already
    /// resolved) added to those in its query; a parameter given both ways is refused.
    pub fn parse(uri: &str, extra: &BTreeMap<String, String>) -> Result<Self, UriError> {
        let display = redact(uri);
        let invalid = |reason: String| UriError::Invalid {
            uri: display.clone(),
            reason,
        };
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| invalid("no scheme: write file:///dir, s3://bucket/prefix, gcs://bucket/prefix or azblob://container/prefix".into()))?;
        let scheme = scheme.to_ascii_lowercase();
        let (authority_path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, path) = authority_path
            .split_once('/')
            .unwrap_or((authority_path, ""));
        let mut params = Params::parse(query, &display)?;
        for (k, v) in extra {
            let key = normalize(k);
            if params.0.contains_key(&key) {
                return Err(invalid(format!(
                    "parameter `{key}` is given both in the URI and in claim-check-storage-parameters"
                )));
            }
            params.0.insert(key, v.clone());
        }
        let prefix = path.trim_matches('/').to_string();
        let bucket = || {
            if host.is_empty() {
                Err(invalid(format!(
                    "no bucket: write {scheme}://<bucket>/<prefix>"
                )))
            } else {
                Ok(host.to_string())
            }
        };
        let location = |s: &str, b: &str| {
            if prefix.is_empty() {
                format!("{s}://{b}")
            } else {
                format!("{s}://{b}/{prefix}")
            }
        };
        let unsupported = |param: &str, reason: &str| UriError::Unsupported {
            uri: display.clone(),
            param: param.to_string(),
            reason: reason.to_string(),
        };
        let spec = match scheme.as_str() {
            "file" | "local" => {
                if !host.is_empty() {
                    return Err(invalid(
                        "a file URI takes an absolute path: file:///dir (three slashes)".into(),
                    ));
                }
                params.refuse_rest(&display)?;
                let dir = format!("/{}", path.trim_end_matches('/'));
                StorageSpec {
                    backend: Backend::File {
                        dir: PathBuf::from(&dir),
                    },
                    location: format!("file://{dir}"),
                    display,
                }
            }
            "s3" => {
                let bucket = bucket()?;
                let provider = params.take("provider");
                let mut force_path_style = params
                    .take_bool("force-path-style", &display)?
                    .unwrap_or(true);
                if matches!(provider.as_deref(), Some("alibaba" | "netease")) {
                    force_path_style = false;
                }
                if params.take_bool("use-accelerate-endpoint", &display)? == Some(true) {
                    return Err(unsupported(
                        "use-accelerate-endpoint",
                        "S3 Transfer Acceleration is not built; leave it out (or set endpoint to the bucket's accelerate host with force-path-style=false)",
                    ));
                }
                if params.take_bool("object-lock-enabled", &display)? == Some(true) {
                    return Err(unsupported(
                        "object-lock-enabled",
                        "writes with object-lock checksums are not built",
                    ));
                }
                for p in ["acl", "role-arn", "external-id", "profile"] {
                    if params.0.contains_key(p) {
                        return Err(unsupported(
                            p,
                            match p {
                                "acl" => {
                                    "canned ACLs on claim-check objects are not built; grant access with a bucket policy"
                                }
                                "profile" => {
                                    "shared-config profiles are not read; give access-key/secret-access-key or the AWS_* environment variables"
                                }
                                _ => {
                                    "assuming a role is not built; give the role's temporary credentials (access-key, secret-access-key, session-token) or run with the AWS_* environment variables, a web identity token or an instance profile"
                                }
                            },
                        ));
                    }
                }
                let endpoint = params
                    .take("endpoint")
                    .map(|e| e.trim_end_matches('/').to_string());
                if let Some(e) = &endpoint
                    && !(e.starts_with("http://") || e.starts_with("https://"))
                {
                    return Err(invalid(format!(
                        "endpoint {e:?} needs its scheme, http:// or https:// (as TiCDC requires)"
                    )));
                }
                let access_key = params.take("access-key");
                let secret_access_key = params.take("secret-access-key");
                if access_key.is_some() != secret_access_key.is_some() {
                    return Err(invalid(
                        "access-key and secret-access-key go together (as in TiCDC)".into(),
                    ));
                }
                let opts = S3Options {
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    endpoint,
                    region: params.take("region"),
                    access_key,
                    secret_access_key,
                    session_token: params.take("session-token"),
                    force_path_style,
                    sse: params.take("sse"),
                    sse_kms_key_id: params.take("sse-kms-key-id"),
                    storage_class: params.take("storage-class"),
                };
                params.refuse_rest(&display)?;
                StorageSpec {
                    location: location("s3", &bucket),
                    backend: Backend::S3(opts),
                    display,
                }
            }
            "gcs" | "gs" => {
                let bucket = bucket()?;
                if params.0.contains_key("predefined-acl") {
                    return Err(unsupported(
                        "predefined-acl",
                        "predefined ACLs on claim-check objects are not built; grant access on the bucket",
                    ));
                }
                let opts = GcsOptions {
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    endpoint: params.take("endpoint"),
                    credentials_file: params.take("credentials-file"),
                    storage_class: params.take("storage-class"),
                };
                params.refuse_rest(&display)?;
                StorageSpec {
                    // TiCDC's GCS storage names itself gcs:// whichever scheme was written.
                    location: location("gcs", &bucket),
                    backend: Backend::Gcs(opts),
                    display,
                }
            }
            "azure" | "azblob" => {
                let container = bucket()?;
                if params.0.contains_key("encryption-scope") {
                    return Err(unsupported(
                        "encryption-scope",
                        "encryption scopes are not built; set a default encryption scope on the container",
                    ));
                }
                let opts = AzureOptions {
                    container: container.clone(),
                    prefix: prefix.clone(),
                    endpoint: params.take("endpoint"),
                    account_name: params.take("account-name"),
                    account_key: params.take("account-key"),
                    sas_token: params.take("sas-token"),
                    access_tier: params.take("access-tier"),
                    encryption_key: params.take("encryption-key"),
                };
                params.refuse_rest(&display)?;
                StorageSpec {
                    // TiCDC's Azure storage names itself azure:// either way.
                    location: location("azure", &container),
                    backend: Backend::Azure(opts),
                    display,
                }
            }
            other => {
                return Err(invalid(format!(
                    "scheme {other}:// is not supported: use file://, s3://, gcs:// (gs://) or azblob:// (azure://)"
                )));
            }
        };
        Ok(spec)
    }
}

impl super::LargeMessageHandle {
    /// The claim-check storage these settings name: the URI with the extra
    /// `claim-check-storage-parameters` (secrets resolved by the loader); `None` without a URI.
    pub fn claim_check_storage(&self) -> Result<Option<StorageSpec>, UriError> {
        let Some(uri) = self.claim_check_storage_uri.as_deref() else {
            return Ok(None);
        };
        let extra: BTreeMap<String, String> = self
            .claim_check_storage_parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect();
        StorageSpec::parse(uri, &extra).map(Some)
    }
}

/// TiCDC's parameter name normalization: lower case, `_` as `-`.
fn normalize(key: &str) -> String {
    key.to_ascii_lowercase().replace('_', "-")
}

/// The query parameters not yet mapped (first value of each, as Go's `Query()[k][0]`).
struct Params(BTreeMap<String, String>);

impl Params {
    fn parse(query: &str, display: &str) -> Result<Self, UriError> {
        let mut map = BTreeMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = normalize(&percent_decode(k, display)?);
            // `+` is kept as `+` (ParseRawURL escapes it before Go decodes the query).
            let value = percent_decode(v, display)?;
            map.entry(key).or_insert(value);
        }
        Ok(Params(map))
    }

    fn take(&mut self, key: &str) -> Option<String> {
        self.0.remove(key).filter(|v| !v.is_empty())
    }

    /// A boolean as Go's `strconv.ParseBool` reads it; anything else is refused (TiCDC
    /// would silently keep the default).
    fn take_bool(&mut self, key: &str, display: &str) -> Result<Option<bool>, UriError> {
        let Some(v) = self.0.remove(key) else {
            return Ok(None);
        };
        match v.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Some(true)),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Some(false)),
            _ => Err(UriError::Invalid {
                uri: display.to_string(),
                reason: format!("parameter `{key}` takes true or false, not {v:?}"),
            }),
        }
    }

    fn refuse_rest(&self, display: &str) -> Result<(), UriError> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(k) => Err(UriError::Invalid {
                uri: display.to_string(),
                reason: format!("unknown parameter `{k}` for this scheme"),
            }),
        }
    }
}

/// `%XX` escapes decoded; the result must be UTF-8.
fn percent_decode(s: &str, display: &str) -> Result<String, UriError> {
    let bad = || UriError::Invalid {
        uri: display.to_string(),
        reason: "a parameter has a malformed %-escape or is not UTF-8".to_string(),
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// `uri` with the value of every secret parameter replaced by `***`.
pub fn redact(uri: &str) -> String {
    super::secret::mask_uri_secrets(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Result<StorageSpec, UriError> {
        StorageSpec::parse(uri, &BTreeMap::new())
    }

    #[test]
    fn s3_with_ticdc_parameters() {
        let spec = parse("s3://logs/cdc/claim?endpoint=http://127.0.0.1:25000/&Access_Key=AK&secret-access-key=a/b+c%3D&region=eu-west-1&sse=aws:kms&sse-kms-key-id=k1&storage-class=STANDARD_IA&provider=minio").expect("parse");
        assert_eq!(spec.location, "s3://logs/cdc/claim");
        let Backend::S3(o) = spec.backend else {
            panic!("not s3")
        };
        assert_eq!(o.bucket, "logs");
        assert_eq!(o.prefix, "cdc/claim");
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:25000"));
        assert_eq!(o.access_key.as_deref(), Some("AK"));
        // `+` stays a `+`, %3D is `=`.
        assert_eq!(o.secret_access_key.as_deref(), Some("a/b+c="));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        assert!(o.force_path_style);
        assert_eq!(o.sse.as_deref(), Some("aws:kms"));
        assert_eq!(o.sse_kms_key_id.as_deref(), Some("k1"));
        assert_eq!(o.storage_class.as_deref(), Some("STANDARD_IA"));
        assert_eq!(
            spec.display,
            "s3://logs/cdc/claim?endpoint=http://127.0.0.1:25000/&Access_Key=***&secret-access-key=***&region=eu-west-1&sse=aws:kms&sse-kms-key-id=k1&storage-class=STANDARD_IA&provider=minio"
        );
        assert!(!format!("{o:?}").contains("a/b+c="));
    }

    #[test]
    fn s3_path_style_follows_provider_and_flag() {
        let style = |uri: &str| match parse(uri).expect("parse").backend {
            Backend::S3(o) => o.force_path_style,
            _ => panic!("not s3"),
        };
        assert!(style("s3://b"));
        assert!(!style("s3://b?force-path-style=false"));
        assert!(!style("s3://b?provider=alibaba"));
        assert_eq!(parse("s3://b").expect("parse").location, "s3://b");
    }

    #[test]
    fn s3_refusals_name_the_parameter() {
        for (uri, param) in [
            ("s3://b?role-arn=arn:aws:iam::1:role/x", "role-arn"),
            ("s3://b?acl=private", "acl"),
            (
                "s3://b?use-accelerate-endpoint=true",
                "use-accelerate-endpoint",
            ),
        ] {
            match parse(uri) {
                Err(UriError::Unsupported { param: p, .. }) => assert_eq!(p, param),
                other => panic!("{uri}: {other:?}"),
            }
        }
        for uri in [
            "s3://b?endpoint=127.0.0.1:9000",
            "s3://b?access-key=x",
            "s3://b?force-path-style=yes",
            "s3://b?regoin=us-east-1",
            "s3:///prefix",
            "ftp://x/y",
            "/just/a/path",
        ] {
            assert!(matches!(parse(uri), Err(UriError::Invalid { .. })), "{uri}");
        }
    }

    #[test]
    fn gcs_and_azure() {
        let g = parse("gs://bkt/p?credentials-file=/etc/gcs.json").expect("gcs");
        assert_eq!(g.location, "gcs://bkt/p");
        assert_eq!(
            g.backend,
            Backend::Gcs(GcsOptions {
                bucket: "bkt".into(),
                prefix: "p".into(),
                endpoint: None,
                credentials_file: Some("/etc/gcs.json".into()),
                storage_class: None,
            })
        );
        let a = parse("azblob://ctr/x/y/?account-name=acct&account-key=c2VjcmV0&access-tier=Cool")
            .expect("azure");
        assert_eq!(a.location, "azure://ctr/x/y");
        assert_eq!(
            a.display,
            "azblob://ctr/x/y/?account-name=acct&account-key=***&access-tier=Cool"
        );
        let Backend::Azure(o) = a.backend else {
            panic!("not azure")
        };
        assert_eq!(o.account_key.as_deref(), Some("c2VjcmV0"));
        assert_eq!(o.access_tier.as_deref(), Some("Cool"));
        assert!(matches!(
            parse("azure://c?encryption-scope=s"),
            Err(UriError::Unsupported { .. })
        ));
    }

    #[test]
    fn file_uris() {
        let f = parse("file:///var/lib/cc/").expect("file");
        assert_eq!(f.location, "file:///var/lib/cc");
        assert_eq!(
            f.backend,
            Backend::File {
                dir: PathBuf::from("/var/lib/cc")
            }
        );
        assert!(parse("file://relative/dir").is_err());
    }

    #[test]
    fn extra_parameters_merge_and_conflict() {
        let mut extra = BTreeMap::new();
        extra.insert("secret_access_key".to_string(), "S".to_string());
        extra.insert("access-key".to_string(), "A".to_string());
        let s = StorageSpec::parse("s3://b/p?region=r", &extra).expect("merged");
        let Backend::S3(o) = s.backend else {
            panic!("not s3")
        };
        assert_eq!(o.secret_access_key.as_deref(), Some("S"));
        assert!(StorageSpec::parse("s3://b/p?access-key=X&secret-access-key=Y", &extra).is_err());
    }
}
