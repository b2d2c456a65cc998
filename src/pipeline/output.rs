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

use crate::codec::BoxFuture;
use crate::sink::ack::AckTracker;
use crate::sink::kafka::{Message, PartitionHandle, Producer, SizeLimit, Topics};

use super::error::PipelineError;

/// The message destination of one changefeed.
pub trait Output: Send + Sync + std::fmt::Debug {
    /// Partition count of `topic`, creating it when missing and allowed.
    fn partitions<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<i32, PipelineError>>;

    /// The largest message `topic` takes, and the compression it is measured after.
    fn size_limit<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<SizeLimit, PipelineError>>;

    /// A handle that sends to `topic`/`partition` without a lookup per message, for the
    /// caller to keep; `None` (the default): send through [`Output::send`].
    fn partition_handle<'a>(
        &'a self,
        _topic: &'a str,
        _partition: i32,
    ) -> BoxFuture<'a, Result<Option<PartitionHandle>, PipelineError>> {
        Box::pin(std::future::ready(Ok(None)))
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

    /// Bytes of messages waiting in the output's queues (0 when it keeps none).
    fn queued_bytes(&self) -> u64 {
        0
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

    fn size_limit<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<SizeLimit, PipelineError>> {
        Box::pin(async move { Ok(self.producer.size_limit(topic).await?) })
    }

    fn partition_handle<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
    ) -> BoxFuture<'a, Result<Option<PartitionHandle>, PipelineError>> {
        Box::pin(async move { Ok(Some(self.producer.partition(topic, partition).await?)) })
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

    fn queued_bytes(&self) -> u64 {
        self.producer.queued_bytes()
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

    fn size_limit<'a>(
        &'a self,
        _topic: &'a str,
    ) -> BoxFuture<'a, Result<SizeLimit, PipelineError>> {
        Box::pin(std::future::ready(Ok(SizeLimit::uncompressed(
            self.max_message_bytes,
        ))))
    }

    fn send<'a>(
        &'a self,
        _topic: &'a str,
        _partition: i32,
        msg: Message,
    ) -> BoxFuture<'a, Result<(), PipelineError>> {
        // A blocking write: on the blocking pool, awaited, so lines keep their order.
        Box::pin(async move {
            let tickets = msg.tickets.clone();
            tokio::task::spawn_blocking(move || {
                let mut out = std::io::stdout().lock();
                if let Some(v) = &msg.value {
                    out.write_all(v)?;
                }
                out.write_all(b"\n")?;
                out.flush()
            })
            .await
            .map_err(|e| PipelineError::Task(format!("the stdout writer failed: {e}")))?
            .map_err(PipelineError::Stdout)?;
            self.tracker.ack(&tickets);
            Ok(())
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), PipelineError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
