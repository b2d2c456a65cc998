//! A direct, logged-in connection to one broker, for the requests rskafka does not make
//! itself (Metadata without auto-creation, DescribeConfigs) and for the login check that
//! runs before rskafka takes over: TCP connect, TLS handshake, API version exchange and SASL
//! authentication, each under the dial timeout and tried exactly once.
//!
//! rskafka retries failed connections (wrong password included) inside its own loops, where
//! the cause is only visible in its logs; a failure here is an exact [`KafkaError`]
//! (authentication, certificate, unreachable) within seconds.

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

/// A byte stream to a broker, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A logged-in connection with negotiated API versions.
pub type Connection = Messenger<BufStream<Box<dyn Stream>>>;

/// How to log in to a broker.
#[derive(Debug, Clone)]
pub struct Login {
    pub client_id: String,
    pub tls: Option<Arc<ClientConfig>>,
    /// The SASL login, with the mechanism name and user for error messages.
    pub sasl: Option<(SaslConfig, &'static str, String)>,
    pub timeout: Duration,
}

impl Login {
    /// The principal Kafka sees for this login, for ACL messages.
    pub fn principal(&self) -> String {
        match &self.sasl {
            Some((_, _, user)) => format!("User:{user}"),
            None if self.tls.is_some() => {
                "the principal of this TLS connection (User:ANONYMOUS without a client certificate)"
                    .to_string()
            }
            None => "User:ANONYMOUS".to_string(),
        }
    }

    /// Opens a connection to `broker` (`host:port`) and logs in.
    pub async fn open(&self, broker: &str) -> Result<Connection, KafkaError> {
        let unreachable = |detail: String| KafkaError::Unreachable {
            brokers: broker.to_string(),
            timeout: self.timeout,
            detail,
        };
        let tcp = match tokio::time::timeout(self.timeout, TcpStream::connect(broker)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Err(_) => return Err(unreachable("no TCP connection".to_string())),
        };
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some(config) => {
                let host = broker.rsplit_once(':').map_or(broker, |(h, _)| h);
                let name = ServerName::try_from(host.to_string()).map_err(|e| {
                    KafkaError::TlsSetup(format!("{host:?} is not a valid TLS server name: {e}"))
                })?;
                let handshake = TlsConnector::from(Arc::clone(config)).connect(name, tcp);
                match tokio::time::timeout(self.timeout, handshake).await {
                    Ok(Ok(tls)) => Box::new(tls),
                    Ok(Err(e)) => {
                        return Err(KafkaError::TlsHandshake {
                            brokers: broker.to_string(),
                            detail: e.to_string(),
                        });
                    }
                    Err(_) => {
                        return Err(KafkaError::TlsHandshake {
                            brokers: broker.to_string(),
                            detail: format!(
                                "no TLS handshake within {:?} (is this a TLS listener?)",
                                self.timeout
                            ),
                        });
                    }
                }
            }
        };
        let mut messenger = Messenger::new(
            BufStream::new(stream),
            16 << 20,
            Arc::from(self.client_id.as_str()),
        );
        match tokio::time::timeout(self.timeout, messenger.sync_versions()).await {
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
        let Some((config, mechanism, user)) = &self.sasl else {
            return Ok(messenger);
        };
        let auth = |detail: String| KafkaError::Authentication {
            mechanism,
            user: user.clone(),
            brokers: broker.to_string(),
            detail,
        };
        match tokio::time::timeout(self.timeout, messenger.do_sasl(config.clone())).await {
            Ok(Ok(())) => Ok(messenger),
            Ok(Err(SaslError::UnsupportedSaslMechanism)) => Err(auth(format!(
                "the listener does not offer {mechanism}; check sasl-mechanism and the broker's sasl.enabled.mechanisms"
            ))),
            Ok(Err(e)) => Err(auth(e.to_string())),
            Err(_) => Err(unreachable(format!(
                "no answer to the SASL {mechanism} login within {:?}",
                self.timeout
            ))),
        }
    }

    /// Logs in to the first of `brokers` that accepts a TCP connection. An authentication
    /// or TLS failure is returned at once; unreachable brokers are skipped until none is left.
    pub async fn open_any(&self, brokers: &[String]) -> Result<(String, Connection), KafkaError> {
        let mut unreachable = Vec::new();
        for broker in brokers {
            match self.open(broker).await {
                Ok(c) => return Ok((broker.clone(), c)),
                Err(KafkaError::Unreachable { detail, .. }) => {
                    unreachable.push(format!("{broker}: {detail}"));
                }
                Err(e) => return Err(e),
            }
        }
        Err(KafkaError::Unreachable {
            brokers: brokers.join(","),
            timeout: self.timeout,
            detail: unreachable.join("; "),
        })
    }
}
