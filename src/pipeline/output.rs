//! Where a changefeed's encoded messages go: a Kafka cluster (topics resolved and created
//! through [`Topics`], ordered delivery through [`Producer`]), standard output (one
//! message value per line, for debugging and demos), or memory (tests and benchmarks).
//!
//! Guarantees: [`Output::send`] hands a message on in call order per (topic, partition) and
//! its ticket is acknowledged on the changefeed's [`AckTracker`] only once the message is
//! durable as far as the output can tell (Kafka's ack, or a flushed write to stdout);
//! [`Output::flush`] returns once everything sent before it is acknowledged.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::sink::ack::AckTracker;
use crate::sink::kafka::{Message, Producer, Topics};

use super::error::PipelineError;

/// The message destination of one changefeed.
#[derive(Debug)]
pub enum Output {
    Kafka {
        topics: Arc<Topics>,
        producer: Arc<Producer>,
    },
    Stdout {
        tracker: AckTracker,
        /// Partition count every topic is given (`partition-num`, default 1).
        partitions: i32,
        max_message_bytes: u64,
    },
    /// Keeps every message; acknowledges at once.
    Memory {
        tracker: AckTracker,
        partitions: i32,
        max_message_bytes: u64,
        sent: Mutex<Vec<Sent>>,
    },
}

/// A message the memory output kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub topic: String,
    pub partition: i32,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl Output {
    /// A memory output with `partitions` per topic.
    pub fn memory(tracker: AckTracker, partitions: i32) -> Self {
        Output::Memory {
            tracker,
            partitions,
            max_message_bytes: 10 << 20,
            sent: Mutex::new(Vec::new()),
        }
    }

    /// What the memory output kept so far (empty for other outputs).
    pub fn sent(&self) -> Vec<Sent> {
        match self {
            Output::Memory { sent, .. } => match sent.lock() {
                Ok(g) => g.clone(),
                Err(p) => p.into_inner().clone(),
            },
            _ => Vec::new(),
        }
    }
}

impl Output {
    /// Partition count of `topic`, creating it when missing and allowed.
    pub async fn partitions(&self, topic: &str) -> Result<i32, PipelineError> {
        match self {
            Output::Kafka { topics, .. } => Ok(topics.ensure(topic).await?),
            Output::Stdout { partitions, .. } | Output::Memory { partitions, .. } => {
                Ok(*partitions)
            }
        }
    }

    /// The largest message `topic` takes.
    pub async fn max_message_bytes(&self, topic: &str) -> Result<u64, PipelineError> {
        match self {
            Output::Kafka { producer, .. } => Ok(producer.max_message_bytes(topic).await?),
            Output::Stdout {
                max_message_bytes, ..
            }
            | Output::Memory {
                max_message_bytes, ..
            } => Ok(*max_message_bytes),
        }
    }

    /// Sends one message; waits while the partition's queue is full (back-pressure).
    pub async fn send(
        &self,
        topic: &str,
        partition: i32,
        msg: Message,
    ) -> Result<(), PipelineError> {
        match self {
            Output::Kafka { producer, .. } => Ok(producer.send(topic, partition, msg).await?),
            Output::Stdout { tracker, .. } => {
                let mut out = std::io::stdout().lock();
                if let Some(v) = &msg.value {
                    out.write_all(v).map_err(PipelineError::Stdout)?;
                }
                out.write_all(b"\n").map_err(PipelineError::Stdout)?;
                out.flush().map_err(PipelineError::Stdout)?;
                if let Some(t) = msg.ticket {
                    tracker.ack(&[t]);
                }
                Ok(())
            }
            Output::Memory { tracker, sent, .. } => {
                let s = Sent {
                    topic: topic.to_string(),
                    partition,
                    key: msg.key,
                    value: msg.value,
                };
                match sent.lock() {
                    Ok(mut g) => g.push(s),
                    Err(p) => p.into_inner().push(s),
                }
                if let Some(t) = msg.ticket {
                    tracker.ack(&[t]);
                }
                Ok(())
            }
        }
    }

    /// Waits until everything sent so far is acknowledged.
    pub async fn flush(&self) -> Result<(), PipelineError> {
        match self {
            Output::Kafka { producer, .. } => Ok(producer.flush().await?),
            Output::Stdout { .. } | Output::Memory { .. } => Ok(()),
        }
    }

    /// The last transient Kafka error while writers keep retrying, for status reporting.
    pub fn health(&self) -> Option<String> {
        match self {
            Output::Kafka { producer, .. } => {
                let (unhealthy, last) = producer.health().status();
                (unhealthy > 0).then(|| last.unwrap_or_else(|| "Kafka writers are retrying".into()))
            }
            Output::Stdout { .. } | Output::Memory { .. } => None,
        }
    }
}
