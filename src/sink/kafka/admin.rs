//! Cluster facts rskafka cannot tell: the brokers and controller (Metadata without topic
//! auto-creation), broker and topic configs (DescribeConfigs), and from them the effective
//! message size limit and the `min.insync.replicas` check, as TiCDC computes them
//! (`pkg/sink/kafka/options.go`: effective = min(max-message-bytes, topic
//! `max.message.bytes` or else broker `message.max.bytes`, minus 128)).

use std::collections::HashMap;

use rskafka::protocol::error::Error as ProtocolError;
use rskafka::protocol::messages::MetadataRequest;

use super::KafkaError;
use super::broker::{Connection, Login};
use super::describe_configs::{DescribeConfigsRequest, Resource, ResourceType};

/// TiCDC's safety margin between Kafka's limit and the largest message it sends.
pub const MAX_MESSAGE_BYTES_OVERHEAD: u64 = 128;
pub const BROKER_MESSAGE_MAX_BYTES: &str = "message.max.bytes";
pub const TOPIC_MAX_MESSAGE_BYTES: &str = "max.message.bytes";
pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";

/// Brokers and controller as the cluster reports them.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    /// Broker id → `host:port`.
    pub brokers: HashMap<i32, String>,
    pub controller_id: Option<i32>,
}

/// Admin requests over direct broker connections.
#[derive(Debug, Clone)]
pub struct Admin {
    login: Login,
    bootstrap: Vec<String>,
}

/// The outcome of reading one resource's configs.
#[derive(Debug, Clone)]
pub enum Described {
    Found(HashMap<String, String>),
    /// The principal may not describe it (no DescribeConfigs ACL).
    Denied(String),
    /// The resource does not exist (a topic not created yet).
    Missing,
}

impl Admin {
    pub fn new(login: Login, bootstrap: Vec<String>) -> Self {
        Admin { login, bootstrap }
    }

    pub fn login(&self) -> &Login {
        &self.login
    }

    async fn any(&self) -> Result<Connection, KafkaError> {
        Ok(self.login.open_any(&self.bootstrap).await?.1)
    }

    /// Brokers and controller, from a Metadata request for no topics (so nothing is
    /// auto-created).
    pub async fn cluster(&self) -> Result<ClusterInfo, KafkaError> {
        let conn = self.any().await?;
        let req = MetadataRequest {
            topics: Some(Vec::new()),
            allow_auto_topic_creation: None,
        };
        let resp = tokio::time::timeout(self.login.timeout, conn.request(req))
            .await
            .map_err(|_| request_timeout("Metadata", &self.login))?
            .map_err(|e| KafkaError::Request {
                request: "Metadata",
                detail: e.to_string(),
            })?;
        Ok(ClusterInfo {
            brokers: resp
                .brokers
                .iter()
                .map(|b| (b.node_id.0, format!("{}:{}", b.host.0, b.port.0)))
                .collect(),
            controller_id: resp.controller_id.map(|c| c.0).filter(|c| *c >= 0),
        })
    }

    async fn describe(
        &self,
        conn: &Connection,
        kind: ResourceType,
        name: &str,
        keys: &[&str],
    ) -> Result<Described, KafkaError> {
        let req = DescribeConfigsRequest {
            resources: vec![Resource {
                kind,
                name: name.to_string(),
                keys: keys.iter().map(|k| k.to_string()).collect(),
            }],
        };
        let resp = tokio::time::timeout(self.login.timeout, conn.request(req))
            .await
            .map_err(|_| request_timeout("DescribeConfigs", &self.login))?
            .map_err(|e| KafkaError::Request {
                request: "DescribeConfigs",
                detail: e.to_string(),
            })?;
        let Some(result) = resp.results.into_iter().next() else {
            return Err(KafkaError::Request {
                request: "DescribeConfigs",
                detail: "the broker answered with no result".to_string(),
            });
        };
        Ok(match result.error {
            None => Described::Found(
                result
                    .configs
                    .into_iter()
                    .filter_map(|c| c.value.map(|v| (c.name, v)))
                    .collect(),
            ),
            Some(
                ProtocolError::TopicAuthorizationFailed | ProtocolError::ClusterAuthorizationFailed,
            ) => Described::Denied(result.error_message.unwrap_or_default()),
            Some(ProtocolError::UnknownTopicOrPartition) => Described::Missing,
            Some(e) => {
                return Err(KafkaError::Request {
                    request: "DescribeConfigs",
                    detail: format!(
                        "{e:?} for {kind:?} {name}: {}",
                        result.error_message.unwrap_or_default()
                    ),
                });
            }
        })
    }

    /// Broker configs, asked of the controller (or the bootstrap broker when the cluster
    /// names none), as TiCDC asks.
    pub async fn broker_config(&self, keys: &[&str]) -> Result<Described, KafkaError> {
        let cluster = self.cluster().await?;
        let id = cluster
            .controller_id
            .or_else(|| cluster.brokers.keys().min().copied())
            .ok_or_else(|| KafkaError::Request {
                request: "Metadata",
                detail: "the cluster reported no brokers".to_string(),
            })?;
        let conn = match cluster.brokers.get(&id) {
            Some(addr) => match self.login.open(addr).await {
                Ok(c) => c,
                // The advertised address may not be reachable from here; any broker can
                // answer for the controller's configs in KRaft clusters.
                Err(KafkaError::Unreachable { .. }) => self.any().await?,
                Err(e) => return Err(e),
            },
            None => self.any().await?,
        };
        self.describe(&conn, ResourceType::Broker, &id.to_string(), keys)
            .await
    }

    /// Topic configs.
    pub async fn topic_config(&self, topic: &str, keys: &[&str]) -> Result<Described, KafkaError> {
        let conn = self.any().await?;
        self.describe(&conn, ResourceType::Topic, topic, keys).await
    }

    /// The largest message to send to `topic`: the configured limit, lowered to Kafka's
    /// (topic `max.message.bytes`, else broker `message.max.bytes`) minus 128. The topic's
    /// configs may be hidden (TiDB Cloud's ACLs grant no DescribeConfigs on topics); the
    /// broker's must be readable (DescribeConfigs on the Cluster). When the broker reports
    /// no value, the configured one is kept and a warning returned.
    pub async fn effective_max_message_bytes(
        &self,
        topic: &str,
        configured: u64,
    ) -> Result<(u64, Option<String>), KafkaError> {
        let source = match self.topic_config(topic, &[TOPIC_MAX_MESSAGE_BYTES]).await? {
            Described::Found(c) if c.contains_key(TOPIC_MAX_MESSAGE_BYTES) => Some((
                c[TOPIC_MAX_MESSAGE_BYTES].clone(),
                "topic max.message.bytes",
            )),
            _ => None,
        };
        let source = match source {
            Some(s) => s,
            None => match self.broker_config(&[BROKER_MESSAGE_MAX_BYTES]).await? {
                Described::Found(c) if c.contains_key(BROKER_MESSAGE_MAX_BYTES) => (
                    c[BROKER_MESSAGE_MAX_BYTES].clone(),
                    "broker message.max.bytes",
                ),
                Described::Denied(why) => {
                    return Err(KafkaError::Denied {
                        operation: "DescribeConfigs",
                        resource: "the cluster".to_string(),
                        principal: self.login.principal(),
                        remedy: format!(
                            "grant DescribeConfigs on the Cluster, which the daemon needs to read the broker's message.max.bytes and min.insync.replicas ({why})"
                        ),
                    });
                }
                _ => {
                    return Ok((
                        configured,
                        Some(format!(
                            "the broker reports no message.max.bytes; keeping max-message-bytes = {configured}"
                        )),
                    ));
                }
            },
        };
        let (value, what) = source;
        let limit: u64 = value.parse().map_err(|_| KafkaError::Request {
            request: "DescribeConfigs",
            detail: format!("{what} is not a number: {value:?}"),
        })?;
        Ok((
            configured.min(limit.saturating_sub(MAX_MESSAGE_BYTES_OVERHEAD)),
            None,
        ))
    }

    /// Fails when `replication_factor` is below the broker's `min.insync.replicas`: with
    /// acks = all such a topic could never accept a write. Skipped (Ok) when the config
    /// cannot be read, as on managed clusters that hide it.
    pub async fn check_replication_factor(
        &self,
        replication_factor: i16,
    ) -> Result<(), KafkaError> {
        if let Described::Found(c) = self.broker_config(&[MIN_INSYNC_REPLICAS]).await?
            && let Some(min) = c
                .get(MIN_INSYNC_REPLICAS)
                .and_then(|v| v.parse::<i16>().ok())
            && replication_factor < min
        {
            return Err(KafkaError::Config(format!(
                "replication-factor = {replication_factor} is below the broker's min.insync.replicas = {min}: with acks = all no write could succeed. Raise replication-factor to at least {min}"
            )));
        }
        Ok(())
    }
}

/// What a validate-only CreateTopics says about a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateProbe {
    /// The principal may create it.
    Allowed,
    /// It exists already.
    Exists,
}

impl Admin {
    /// Asks the cluster whether `topic` could be created (CreateTopics with
    /// `validate_only`, so nothing is created): proves the Create ACL and the replication
    /// factor without side effects.
    pub async fn probe_create(
        &self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<CreateProbe, KafkaError> {
        use rskafka::protocol::messages::{CreateTopicRequest, CreateTopicsRequest};
        use rskafka::protocol::primitives::{Boolean, Int16, Int32, String_};
        let conn = self.any().await?;
        let timeout_ms = i32::try_from(self.login.timeout.as_millis()).unwrap_or(i32::MAX);
        let req = CreateTopicsRequest {
            topics: vec![CreateTopicRequest {
                name: String_(topic.to_string()),
                num_partitions: Int32(partitions),
                replication_factor: Int16(replication_factor),
                assignments: vec![],
                configs: vec![],
                tagged_fields: None,
            }],
            timeout_ms: Int32(timeout_ms),
            validate_only: Some(Boolean(true)),
            tagged_fields: None,
        };
        let resp = tokio::time::timeout(self.login.timeout, conn.request(req))
            .await
            .map_err(|_| request_timeout("CreateTopics", &self.login))?
            .map_err(|e| KafkaError::Request {
                request: "CreateTopics",
                detail: e.to_string(),
            })?;
        let Some(t) = resp.topics.into_iter().next() else {
            return Err(KafkaError::Request {
                request: "CreateTopics",
                detail: "the broker answered with no topic".to_string(),
            });
        };
        let message = t.error_message.and_then(|m| m.0).unwrap_or_default();
        match t.error {
            None => Ok(CreateProbe::Allowed),
            Some(ProtocolError::TopicAlreadyExists) => Ok(CreateProbe::Exists),
            Some(
                ProtocolError::TopicAuthorizationFailed | ProtocolError::ClusterAuthorizationFailed,
            ) => Err(KafkaError::Denied {
                operation: "Create",
                resource: format!("topic {topic}"),
                principal: self.login.principal(),
                remedy: format!(
                    "grant Create on Topic {topic}, or create the topic and set auto-create-topic = false"
                ),
            }),
            Some(ProtocolError::InvalidReplicationFactor) => Err(KafkaError::Config(format!(
                "topic {topic} cannot be created with replication-factor = {replication_factor}: {message}; lower replication-factor to the number of brokers"
            ))),
            Some(e) => Err(KafkaError::Request {
                request: "CreateTopics",
                detail: format!("{e:?} for topic {topic}: {message}"),
            }),
        }
    }
}

fn request_timeout(request: &'static str, login: &Login) -> KafkaError {
    KafkaError::Request {
        request,
        detail: format!("no answer within {:?}", login.timeout),
    }
}
