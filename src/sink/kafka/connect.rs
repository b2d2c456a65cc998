//! Opening an rskafka [`Client`] from a changefeed's `kafka-config`: bootstrap brokers,
//! TLS, SASL, client id and a bounded backoff, all under the configured `dial-timeout`, so a
//! wrong password or an unreachable broker fails within seconds with a clear error instead
//! of retrying forever (rskafka's default).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rskafka::BackoffConfig;
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};

use super::KafkaError;
use super::admin::Admin;
use super::broker::Login;
use crate::config::{KafkaConfig, SaslMechanism};
use crate::tls::{self, TlsOptions};

/// Everything needed to open a client, borrowed from the configuration.
#[derive(Debug, Clone)]
pub struct ConnectOptions<'a> {
    pub brokers: &'a [String],
    pub client_id: String,
    pub tls: Option<TlsOptions<'a>>,
    pub sasl: Option<(SaslMechanism, &'a str, &'a str)>,
    pub dial_timeout: Duration,
}

impl<'a> ConnectOptions<'a> {
    /// The options of a changefeed's Kafka sink.
    pub fn from_config(changefeed_id: &str, k: &'a KafkaConfig) -> Self {
        let tls = (k.enable_tls || k.ca.is_some() || k.cert.is_some()).then_some(TlsOptions {
            ca: k.ca.as_deref(),
            cert: k.cert.as_deref(),
            key: k.key.as_deref(),
            insecure_skip_verify: k.insecure_skip_verify,
        });
        let sasl = match (k.sasl_mechanism, &k.sasl_user, &k.sasl_password) {
            (Some(m), Some(u), Some(p)) => Some((m, u.as_str(), p.expose())),
            _ => None,
        };
        ConnectOptions {
            brokers: &k.brokers,
            client_id: k
                .kafka_client_id
                .clone()
                .unwrap_or_else(|| format!("tidb_changefeed_{changefeed_id}")),
            tls,
            sasl,
            dial_timeout: k.dial_timeout.get(),
        }
    }

    /// Plain connection options for tools and tests.
    pub fn plain(brokers: &'a [String]) -> Self {
        ConnectOptions {
            brokers,
            client_id: "tidb_changefeed".to_string(),
            tls: None,
            sasl: None,
            dial_timeout: Duration::from_secs(10),
        }
    }

    pub fn with_tls(mut self, ca: Option<&'a Path>) -> Self {
        self.tls = Some(TlsOptions {
            ca,
            ..TlsOptions::default()
        });
        self
    }

    pub fn with_client_cert(mut self, cert: &'a Path, key: &'a Path) -> Self {
        let mut t = self.tls.take().unwrap_or_default();
        t.cert = Some(cert);
        t.key = Some(key);
        self.tls = Some(t);
        self
    }

    pub fn with_sasl(mut self, mechanism: SaslMechanism, user: &'a str, password: &'a str) -> Self {
        self.sasl = Some((mechanism, user, password));
        self
    }
}

/// Longest pause between two of rskafka's connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The backoff for rskafka's own retries: quick, capped, and bounded by `deadline`.
pub fn backoff(deadline: Duration) -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: MAX_BACKOFF,
        base: 2.0,
        deadline: Some(deadline),
    }
}

/// A connected cluster: rskafka's client for producing, and direct admin connections.
#[derive(Debug)]
pub struct Kafka {
    pub client: Client,
    pub admin: Admin,
}

/// Checks the login on one bootstrap broker (so wrong credentials and certificate problems
/// are reported exactly), then opens an rskafka client and fetches cluster metadata once.
pub async fn connect(o: &ConnectOptions<'_>) -> Result<Kafka, KafkaError> {
    let brokers = o.brokers.join(",");
    let mut builder = ClientBuilder::new(o.brokers.to_vec())
        .client_id(o.client_id.clone())
        .backoff_config(backoff(o.dial_timeout));
    let tls_config = match &o.tls {
        Some(t) => Some(tls::client_config(t).map_err(|e| KafkaError::TlsSetup(e.0))?),
        None => None,
    };
    if let Some(c) = &tls_config {
        builder = builder.tls_config(Arc::clone(c));
    }
    let mut mechanism_user = None;
    let mut preflight_sasl = None;
    if let Some((mechanism, user, password)) = o.sasl {
        let creds = Credentials::new(user.to_string(), password.to_string());
        let sasl = match mechanism {
            SaslMechanism::Plain => SaslConfig::Plain(creds),
            SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(creds),
            SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(creds),
            SaslMechanism::Gssapi | SaslMechanism::Oauthbearer => {
                return Err(KafkaError::Request {
                    request: "SaslHandshake",
                    detail: format!("SASL mechanism {} is not supported", mechanism.name()),
                });
            }
        };
        preflight_sasl = Some((sasl.clone(), mechanism.name(), user.to_string()));
        builder = builder.sasl_config(sasl);
        mechanism_user = Some((mechanism.name(), user.to_string()));
    }
    let login = Login {
        client_id: o.client_id.clone(),
        tls: tls_config,
        sasl: preflight_sasl,
        timeout: o.dial_timeout,
    };
    // The connection itself is dropped: it only proves the login works.
    login.open_any(o.brokers).await?;
    let admin = Admin::new(login, o.brokers.to_vec());
    // Past the backoff deadline plus one more attempt, so rskafka's own error (with its
    // cause) wins over this timeout.
    let limit = o.dial_timeout + MAX_BACKOFF + Duration::from_secs(3);
    match tokio::time::timeout(limit, builder.build()).await {
        Ok(Ok(client)) => Ok(Kafka { client, admin }),
        Ok(Err(e)) => Err(classify(
            &e.to_string(),
            &brokers,
            o.dial_timeout,
            mechanism_user,
        )),
        Err(_) => Err(KafkaError::Unreachable {
            brokers,
            timeout: limit,
            detail: "no answer".to_string(),
        }),
    }
}

/// rskafka reports connection failures as text inside its retry error; find the cause an
/// operator can act on.
fn classify(
    detail: &str,
    brokers: &str,
    timeout: Duration,
    sasl: Option<(&'static str, String)>,
) -> KafkaError {
    let lower = detail.to_ascii_lowercase();
    if let Some((mechanism, user)) = sasl
        && lower.contains("sasl")
    {
        return KafkaError::Authentication {
            mechanism,
            user,
            brokers: brokers.to_string(),
            detail: detail.to_string(),
        };
    }
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        return KafkaError::TlsHandshake {
            brokers: brokers.to_string(),
            detail: detail.to_string(),
        };
    }
    KafkaError::Unreachable {
        brokers: brokers.to_string(),
        timeout,
        detail: detail.to_string(),
    }
}
