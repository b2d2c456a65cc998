//! Where a changefeed's encoded messages go: the [`Output`] interface, and its two production
//! forms, a Kafka cluster ([`KafkaOutput`]: topics resolved and created through [`Topics`],
//! ordered delivery through [`Producer`]) and standard output ([`StdoutOutput`]: one message
//! value per line, for debugging and demos). Tests bring their own (an in-memory output).
//!
//! Guarantees every implementation gives: [`Output::send`] hands a message on in call order
//! per (topic, partition) and its ticket is acknowledged on the changefeed's [`AckTracker`]
//! only once the message is durable as far as the output can tell (Kafka's ack, or a flushed
//! write to stdout); [`Output::flush`] returns once everything sent before it is
//! acknowledged.

use std::io::Write;
use std::sync::Arc;

use rskafka::client::partition::Compression;

use crate::codec::BoxFuture;
use crate::sink::ack::AckTracker;
use crate::sink::kafka::{Message, Producer, Topics};

use super::error::PipelineError;

/// The message destination of one changefeed.
pub trait Output: Send + Sync + std::fmt::Debug {
    /// Partition count of `topic`, creating it when missing and allowed.
    fn partitions<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<i32, PipelineError>>;

    /// The largest message `topic` takes.
    fn max_message_bytes<'a>(&'a self, topic: &'a str)
    -> BoxFuture<'a, Result<u64, PipelineError>>;

    /// The compression messages are written with (the size limit applies after it).
    fn compression(&self) -> Compression {
        Compression::NoCompression
    }

    /// Sends one message; waits while the partition's queue is full (back-pressure).
    fn send<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
        msg: Message,
    ) -> BoxFuture<'a, Result<(), PipelineError>>;

    /// Waits until everything sent so far is acknowledged.
    fn flush(&self) -> BoxFuture<'_, Result<(), PipelineError>>;

    /// The last transient error while the output keeps retrying, for status reporting.
    fn health(&self) -> Option<String> {
        None
    }
}

/// A Kafka cluster.
#[derive(Debug)]
pub struct KafkaOutput {
    pub topics: Arc<Topics>,
    pub producer: Arc<Producer>,
}

impl Output for KafkaOutput {
    fn partitions<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<i32, PipelineError>> {
        Box::pin(async move { Ok(self.topics.ensure(topic).await?) })
    }

    fn max_message_bytes<'a>(
        &'a self,
        topic: &'a str,
    ) -> BoxFuture<'a, Result<u64, PipelineError>> {
        Box::pin(async move { Ok(self.producer.max_message_bytes(topic).await?) })
    }

    fn compression(&self) -> Compression {
        self.producer.compression()
    }

    fn send<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
        msg: Message,
    ) -> BoxFuture<'a, Result<(), PipelineError>> {
        Box::pin(async move { Ok(self.producer.send(topic, partition, msg).await?) })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), PipelineError>> {
        Box::pin(async move { Ok(self.producer.flush().await?) })
    }

    fn health(&self) -> Option<String> {
        let (unhealthy, last) = self.producer.health().status();
        (unhealthy > 0).then(|| last.unwrap_or_else(|| "Kafka writers are retrying".into()))
    }
}

/// Standard output: each message's value on a line, acknowledged once flushed.
#[derive(Debug)]
pub struct StdoutOutput {
    pub tracker: AckTracker,
    /// Partition count every topic is given (`partition-num`, default 1).
    pub partitions: i32,
    pub max_message_bytes: u64,
}

impl Output for StdoutOutput {
    fn partitions<'a>(&'a self, _topic: &'a str) -> BoxFuture<'a, Result<i32, PipelineError>> {
        Box::pin(std::future::ready(Ok(self.partitions)))
    }

    fn max_message_bytes<'a>(
        &'a self,
        _topic: &'a str,
    ) -> BoxFuture<'a, Result<u64, PipelineError>> {
        Box::pin(std::future::ready(Ok(self.max_message_bytes)))
    }

    fn send<'a>(
        &'a self,
        _topic: &'a str,
        _partition: i32,
        msg: Message,
    ) -> BoxFuture<'a, Result<(), PipelineError>> {
        let written = (|| {
            let mut out = std::io::stdout().lock();
            if let Some(v) = &msg.value {
                out.write_all(v)?;
            }
            out.write_all(b"\n")?;
            out.flush()
        })();
        if written.is_ok() {
            self.tracker.ack(&msg.tickets);
        }
        Box::pin(std::future::ready(written.map_err(PipelineError::Stdout)))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), PipelineError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
