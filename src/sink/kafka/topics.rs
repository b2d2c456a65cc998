//! Topics as TiCDC manages them: a missing topic is created with `partition-num` (3 when
//! unset) and `replication-factor` (TopicAlreadyExists counts as success) and waited for
//! until metadata shows it; an existing topic's real partition count is used; with
//! `auto-create-topic = false` a missing topic is an error. Existence is checked with an
//! all-topics Metadata request, which never auto-creates, so the broker's
//! `auto.create.topics.enable` cannot create a topic with its own defaults behind our back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::Client;
use rskafka::client::error::{Error as RsError, ProtocolError};
use tokio::sync::Mutex;

use super::KafkaError;
use super::admin::Admin;
use crate::config::KafkaConfig;

/// How often TiCDC re-reads topic metadata (`metaRefreshInterval`).
pub const METADATA_REFRESH_INTERVAL: Duration = Duration::from_secs(600);

/// TiCDC's partition count for topics it creates when `partition-num` is unset.
pub const DEFAULT_PARTITION_NUM: i32 = 3;

/// How topics are resolved and created for one changefeed.
#[derive(Debug, Clone)]
pub struct TopicPolicy {
    pub partition_num: Option<i32>,
    pub replication_factor: i16,
    pub auto_create: bool,
    pub timeout: Duration,
}

impl TopicPolicy {
    /// The policy `[sink.kafka-config]` sets: `partition-num`, `replication-factor`,
    /// `auto-create-topic`, and `dial-timeout` as the deadline of each metadata or admin call.
    pub fn from_config(k: &KafkaConfig) -> Self {
        TopicPolicy {
            partition_num: k.partition_num,
            replication_factor: k.replication_factor,
            auto_create: k.auto_create_topic,
            timeout: k.dial_timeout.get(),
        }
    }
}

/// Resolves topics to partition counts, creating them when allowed. Counts are cached
/// until [`Topics::refresh`].
#[derive(Debug)]
pub struct Topics {
    client: Arc<Client>,
    admin: Admin,
    policy: TopicPolicy,
    known: Mutex<HashMap<String, i32>>,
}

impl Topics {
    pub fn new(client: Arc<Client>, admin: Admin, policy: TopicPolicy) -> Self {
        Topics {
            client,
            admin,
            policy,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Partition count of every topic the principal can see (uncached, no auto-creation).
    pub async fn list(&self) -> Result<HashMap<String, i32>, KafkaError> {
        let topics = tokio::time::timeout(self.policy.timeout, self.client.list_topics())
            .await
            .map_err(|_| KafkaError::Request {
                request: "Metadata",
                detail: format!("no answer within {:?}", self.policy.timeout),
            })?
            .map_err(|e| KafkaError::Request {
                request: "Metadata",
                detail: e.to_string(),
            })?;
        Ok(topics
            .into_iter()
            .map(|t| {
                (
                    t.name,
                    i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
                )
            })
            .collect())
    }

    /// Re-reads the partition count of every known topic (partitions can be added) and,
    /// through the same all-topics Metadata request, refreshes rskafka's leader cache.
    pub async fn refresh(&self) -> Result<(), KafkaError> {
        let listed = self.list().await?;
        let mut known = self.known.lock().await;
        for (name, count) in known.iter_mut() {
            if let Some(n) = listed.get(name) {
                *count = *n;
            }
        }
        Ok(())
    }

    /// Refreshes every `every` (TiCDC: 10 minutes) until the returned handle is aborted or
    /// dropped with the runtime. Failures are logged and retried at the next tick.
    pub fn spawn_refresh(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let topics = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = topics.refresh().await {
                    tracing::warn!(error = %e, "Kafka metadata refresh failed; retrying at the next interval");
                }
            }
        })
    }

    /// The partition count of `topic`, creating the topic if it is missing and allowed.
    pub async fn ensure(&self, topic: &str) -> Result<i32, KafkaError> {
        if let Some(n) = self.known.lock().await.get(topic) {
            return Ok(*n);
        }
        let listed = self.list().await?;
        let count = match listed.get(topic) {
            Some(n) => *n,
            None if !self.policy.auto_create => {
                return Err(KafkaError::TopicMissing {
                    topic: topic.to_string(),
                });
            }
            None => self.create(topic).await?,
        };
        self.known.lock().await.insert(topic.to_string(), count);
        Ok(count)
    }

    fn cannot_see(&self, topic: &str) -> KafkaError {
        KafkaError::Denied {
            operation: "Write",
            resource: format!("topic {topic}"),
            principal: self.admin.login().principal(),
            remedy: format!(
                "the topic exists but its metadata is hidden from this principal; grant Write on Topic {topic} (Write includes the Describe needed to see it)"
            ),
        }
    }

    async fn create(&self, topic: &str) -> Result<i32, KafkaError> {
        let partitions = self.policy.partition_num.unwrap_or(DEFAULT_PARTITION_NUM);
        let controller = self
            .client
            .controller_client()
            .map_err(|e| KafkaError::Request {
                request: "CreateTopics",
                detail: e.to_string(),
            })?;
        let timeout_ms = i32::try_from(self.policy.timeout.as_millis()).unwrap_or(i32::MAX);
        let created = tokio::time::timeout(
            self.policy.timeout + Duration::from_secs(1),
            controller.create_topic(
                topic,
                partitions,
                self.policy.replication_factor,
                timeout_ms,
            ),
        )
        .await
        .map_err(|_| KafkaError::Request {
            request: "CreateTopics",
            detail: format!("no answer within {:?}", self.policy.timeout),
        })?;
        match created {
            Ok(()) => {}
            Err(RsError::ServerError {
                protocol_error: ProtocolError::TopicAlreadyExists,
                ..
            }) => {
                // It exists although the listing did not show it: a topic we may not see.
                if !self.list().await?.contains_key(topic) {
                    return Err(self.cannot_see(topic));
                }
            }
            Err(RsError::ServerError {
                protocol_error:
                    ProtocolError::TopicAuthorizationFailed | ProtocolError::ClusterAuthorizationFailed,
                ..
            }) => {
                return Err(KafkaError::Denied {
                    operation: "Create",
                    resource: format!("topic {topic}"),
                    principal: self.admin.login().principal(),
                    remedy: format!(
                        "grant Create on Topic {topic}, or create the topic and set auto-create-topic = false"
                    ),
                });
            }
            Err(RsError::ServerError {
                protocol_error: ProtocolError::InvalidReplicationFactor,
                error_message,
                ..
            }) => {
                return Err(KafkaError::Config(format!(
                    "cannot create topic {topic} with replication-factor = {}: {}; lower replication-factor to the number of brokers",
                    self.policy.replication_factor,
                    error_message.unwrap_or_default()
                )));
            }
            Err(e) => {
                return Err(KafkaError::Request {
                    request: "CreateTopics",
                    detail: e.to_string(),
                });
            }
        }
        // Wait until metadata shows the topic, as TiCDC does (CreateTopicAndWaitUntilVisible).
        for attempt in 0..20u32 {
            if let Some(n) = self.list().await?.get(topic) {
                tracing::info!(topic, partitions = *n, "topic created");
                return Ok(*n);
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(5) + 1))).await;
        }
        // Created (or already there) but not in the metadata we may see: the principal
        // lacks Describe on the topic, which Write would include.
        Err(self.cannot_see(topic))
    }
}
