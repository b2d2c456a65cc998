//! A single, direct login to one bootstrap broker before rskafka takes over: TCP connect,
//! TLS handshake, API version exchange and SASL authentication, each under the dial
//! timeout and tried exactly once per broker.
//!
//! rskafka retries failed connections (wrong password included) inside its own loops, where
//! the cause is only visible in its logs; this check turns the first failure into an exact
//! [`KafkaError`] (authentication, certificate, unreachable) within seconds.

use std::sync::Arc;
use std::time::Duration;

use rskafka::client::SaslConfig;
use rskafka::messenger::{Messenger, SaslError};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::KafkaError;

/// What the check needs.
#[derive(Debug)]
pub struct Preflight<'a> {
    pub brokers: &'a [String],
    pub client_id: &'a str,
    pub tls: Option<Arc<ClientConfig>>,
    /// The SASL login, with the mechanism name and user for error messages.
    pub sasl: Option<(SaslConfig, &'static str, String)>,
    pub timeout: Duration,
}

/// Logs in to the first broker that accepts a TCP connection. An authentication or TLS
/// failure is returned at once; unreachable brokers are skipped until none is left.
pub async fn check(p: &Preflight<'_>) -> Result<(), KafkaError> {
    let mut unreachable = Vec::new();
    for broker in p.brokers {
        let tcp = match tokio::time::timeout(p.timeout, TcpStream::connect(broker.as_str())).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                unreachable.push(format!("{broker}: {e}"));
                continue;
            }
            Err(_) => {
                unreachable.push(format!(
                    "{broker}: no TCP connection within {:?}",
                    p.timeout
                ));
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        return match &p.tls {
            None => login(tcp, broker, p).await,
            Some(config) => {
                let host = broker.rsplit_once(':').map_or(broker.as_str(), |(h, _)| h);
                let name = ServerName::try_from(host.to_string()).map_err(|e| {
                    KafkaError::TlsSetup(format!("{host:?} is not a valid TLS server name: {e}"))
                })?;
                let handshake = TlsConnector::from(Arc::clone(config)).connect(name, tcp);
                match tokio::time::timeout(p.timeout, handshake).await {
                    Ok(Ok(tls)) => login(tls, broker, p).await,
                    Ok(Err(e)) => Err(KafkaError::TlsHandshake {
                        brokers: broker.clone(),
                        detail: e.to_string(),
                    }),
                    Err(_) => Err(KafkaError::TlsHandshake {
                        brokers: broker.clone(),
                        detail: format!(
                            "no TLS handshake within {:?} (is this a TLS listener?)",
                            p.timeout
                        ),
                    }),
                }
            }
        };
    }
    Err(KafkaError::Unreachable {
        brokers: p.brokers.join(","),
        timeout: p.timeout,
        detail: unreachable.join("; "),
    })
}

async fn login<S>(stream: S, broker: &str, p: &Preflight<'_>) -> Result<(), KafkaError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut messenger = Messenger::new(BufStream::new(stream), 1 << 20, Arc::from(p.client_id));
    let unreachable = |detail: String| KafkaError::Unreachable {
        brokers: broker.to_string(),
        timeout: p.timeout,
        detail,
    };
    match tokio::time::timeout(p.timeout, messenger.sync_versions()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(unreachable(format!(
                "API version exchange failed: {e} (is this the right listener and security protocol?)"
            )));
        }
        Err(_) => {
            return Err(unreachable(
                "no answer to ApiVersions (is this the right listener and security protocol?)"
                    .to_string(),
            ));
        }
    }
    let Some((config, mechanism, user)) = &p.sasl else {
        return Ok(());
    };
    match tokio::time::timeout(p.timeout, messenger.do_sasl(config.clone())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e @ (SaslError::ApiError(_) | SaslError::SaslSessionError(_)))) => {
            Err(KafkaError::Authentication {
                mechanism,
                user: user.clone(),
                brokers: broker.to_string(),
                detail: e.to_string(),
            })
        }
        Ok(Err(SaslError::UnsupportedSaslMechanism)) => Err(KafkaError::Authentication {
            mechanism,
            user: user.clone(),
            brokers: broker.to_string(),
            detail: format!(
                "the listener does not offer {mechanism}; check sasl-mechanism and the broker's sasl.enabled.mechanisms"
            ),
        }),
        Ok(Err(e)) => Err(KafkaError::Authentication {
            mechanism,
            user: user.clone(),
            brokers: broker.to_string(),
            detail: e.to_string(),
        }),
        Err(_) => Err(unreachable(format!(
            "no answer to the SASL {mechanism} login within {:?}",
            p.timeout
        ))),
    }
}
