//! The Confluent-compatible schema registry client (Confluent Schema Registry, Apicurio's
//! `ccompat` API, Karapace…): the startup probe and schema registration.
//!
//! Owns the HTTP exchange and its error classification, following TiCDC's
//! `confluent_schema_registry.go`: `POST <registry>/subjects/<subject>/versions` with
//! `{"schema":"<schema text>"}` and `Content-Type: application/vnd.schemaregistry.v1+json`;
//! the `id` of the answer goes into every record's envelope. Credentials come from the URL
//! (`http(s)://user:password@host`) and are sent as HTTP basic auth; HTTPS uses the system
//! roots, or the CA file of `schema-registry-ca`, on the process's ring provider.
//!
//! Guarantees: a schema text already registered under a subject by this process is not sent
//! again (the registry answers the same id anyway); an unreachable registry, a timeout or a
//! 5xx answer is [`RegistryError::Unavailable`] (retryable: the changefeed restarts from its
//! checkpoint with back-off); a 4xx answer is [`RegistryError::Rejected`] naming the subject,
//! the status, the registry's `error_code` and message and what to change; credentials never
//! appear in messages.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::{StatusCode, Url};

/// How long one registry request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
const ACCEPT: &str =
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json";

/// A registry request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry URL or TLS settings are unusable.
    #[error("schema registry {url}: {reason}")]
    Config { url: String, reason: String },
    /// Not reachable, timed out, or a server error: retried.
    #[error("schema registry {url} is unavailable{}: {reason}", subject.as_ref().map(|s| format!(" (subject {s})")).unwrap_or_default())]
    Unavailable {
        url: String,
        subject: Option<String>,
        reason: String,
    },
    /// The registry refused the request: the operator must act.
    #[error("schema registry {url} refused {what}: HTTP {status}{}{}; {remedy}", error_code.map(|c| format!(", error_code {c}")).unwrap_or_default(), if message.is_empty() { String::new() } else { format!(": {message}") })]
    Rejected {
        url: String,
        what: String,
        status: u16,
        error_code: Option<i64>,
        message: String,
        remedy: &'static str,
    },
}

impl RegistryError {
    /// Whether retrying later can succeed without the operator.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

/// A client of one registry.
#[derive(Debug)]
pub struct Registry {
    http: reqwest::Client,
    /// The base URL without credentials (for requests and messages).
    base: Url,
    auth: Option<(String, String)>,
    /// (subject, schema text) → id, for schemas this process registered.
    ids: Mutex<HashMap<(String, String), i32>>,
}

impl Registry {
    /// A client of `url` (`http(s)://[user:password@]host:port[/path]`), trusting `ca` (a PEM
    /// file) or the system roots for HTTPS.
    pub fn new(url: &str, ca: Option<&Path>) -> Result<Self, RegistryError> {
        let config = |reason: String| RegistryError::Config {
            url: redact(url),
            reason,
        };
        let mut base =
            Url::parse(url.trim_end_matches('/')).map_err(|e| config(format!("not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(config("expected an http:// or https:// URL".into()));
        }
        let auth = (!base.username().is_empty()).then(|| {
            let user = percent_decode(base.username());
            let password = base.password().map(percent_decode).unwrap_or_default();
            (user, password)
        });
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10));
        // Always our own rustls config on ring, so the client never looks for a default
        // provider; it verifies servers only when the URL is https.
        let tls = if base.scheme() == "https" {
            crate::tls::client_config(&crate::tls::TlsOptions {
                ca,
                ..Default::default()
            })
        } else {
            crate::tls::trust_nothing()
        }
        .map_err(|e| config(e.0))?;
        let builder = builder.tls_backend_preconfigured((*tls).clone());
        let http = builder
            .build()
            .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Registry {
            http,
            base,
            auth,
            ids: Mutex::new(HashMap::new()),
        })
    }

    /// The registry URL without credentials.
    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    fn request(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, ACCEPT);
        match &self.auth {
            Some((u, p)) => req.basic_auth(u, Some(p)),
            None => req,
        }
    }

    /// Checks that the registry answers its Confluent API (`GET /subjects`).
    pub async fn probe(&self) -> Result<(), RegistryError> {
        let resp = self
            .request(reqwest::Method::GET, self.endpoint("/subjects"))
            .send()
            .await
            .map_err(|e| self.unavailable(None, &e))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        Err(self.refused("the connectivity check (GET /subjects)", status, &body))
    }

    /// Registers `schema` under `subject` and returns its id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<i32, RegistryError> {
        let key = (subject.to_string(), schema.to_string());
        if let Some(id) = self.cached(&key) {
            return Ok(id);
        }
        let body = serde_json::json!({ "schema": schema }).to_string();
        let url = format!(
            "{}/versions",
            self.endpoint(&format!("/subjects/{}", query_escape(subject)))
        );
        let resp = self
            .request(reqwest::Method::POST, url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| self.unavailable(Some(subject), &e))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(self
                .refused(&format!("schema subject {subject}"), status, &text)
                .with_subject(subject));
        }
        let id = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("id").and_then(serde_json::Value::as_i64))
            .and_then(|id| i32::try_from(id).ok())
            .filter(|id| *id != 0)
            .ok_or_else(|| RegistryError::Unavailable {
                url: self.url().to_string(),
                subject: Some(subject.to_string()),
                reason: format!("unexpected answer to a registration: {text:?}"),
            })?;
        if let Ok(mut ids) = self.ids.lock() {
            ids.insert(key, id);
        }
        Ok(id)
    }

    fn cached(&self, key: &(String, String)) -> Option<i32> {
        self.ids.lock().ok().and_then(|ids| ids.get(key).copied())
    }

    fn unavailable(&self, subject: Option<&str>, e: &reqwest::Error) -> RegistryError {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        RegistryError::Unavailable {
            url: self.url().to_string(),
            subject: subject.map(str::to_string),
            reason,
        }
    }

    fn refused(&self, what: &str, status: StatusCode, body: &str) -> RegistryError {
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return RegistryError::Unavailable {
                url: self.url().to_string(),
                subject: None,
                reason: format!("HTTP {status}: {}", body.trim()),
            };
        }
        let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let error_code = parsed
            .as_ref()
            .and_then(|v| v.get("error_code"))
            .and_then(serde_json::Value::as_i64);
        let message = parsed
            .as_ref()
            .and_then(|v| v.get("message"))
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| body.trim().to_string(), str::to_string);
        let remedy = match status.as_u16() {
            401 => {
                "the registry did not accept the credentials: check the user and password in schema-registry"
            }
            403 => "the registry user may not do this: grant it write access to the subject",
            404 => "check the schema-registry URL (for Apicurio it ends in /apis/ccompat/v7)",
            409 => {
                "the new schema is not compatible with the subject's earlier versions under the registry's compatibility rule: make the DDL compatible (e.g. give a new column a default), or change the subject's compatibility level, then restart"
            }
            422 => "the registry rejected the schema as invalid: report it with the table's DDL",
            _ => "check the registry's logs and the schema-registry setting",
        };
        RegistryError::Rejected {
            url: self.url().to_string(),
            what: what.to_string(),
            status: status.as_u16(),
            error_code,
            message,
            remedy,
        }
    }
}

impl RegistryError {
    fn with_subject(self, subject: &str) -> Self {
        match self {
            RegistryError::Unavailable { url, reason, .. } => RegistryError::Unavailable {
                url,
                subject: Some(subject.to_string()),
                reason,
            },
            other => other,
        }
    }
}

/// Go's `url.QueryEscape`: space → `+`, unreserved `[A-Za-z0-9-_.~]` kept, the rest `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparsable URL)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_query_escaped_as_go_does() {
        assert_eq!(query_escape("tidb_test_t-value"), "tidb_test_t-value");
        assert_eq!(query_escape("a b/c"), "a+b%2Fc");
    }

    #[test]
    fn credentials_leave_the_url() {
        let r = Registry::new(
            "http://alice:s%40cret@127.0.0.1:8081/apis/ccompat/v7/",
            None,
        )
        .expect("client");
        assert_eq!(r.url(), "http://127.0.0.1:8081/apis/ccompat/v7");
        assert_eq!(r.auth, Some(("alice".to_string(), "s@cret".to_string())));
        assert_eq!(redact("http://alice:pw@h:1/x"), "http://alice:***@h:1/x");
    }

    #[test]
    fn bad_urls_are_config_errors() {
        assert!(matches!(
            Registry::new("ftp://h:1", None),
            Err(RegistryError::Config { .. })
        ));
        assert!(matches!(
            Registry::new("not a url", None),
            Err(RegistryError::Config { .. })
        ));
    }
}
