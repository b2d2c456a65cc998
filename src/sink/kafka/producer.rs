//! Ordered, acknowledged delivery to Kafka partitions.
//!
//! One writer task per (topic, partition) owns that partition's rskafka client and sends
//! **at most one produce request at a time**: a batch is retried until it succeeds or fails
//! for good before the next one is sent, so retries never reorder records within a
//! partition (TiCDC gets the same guarantee from sarama's `MaxOpenRequests = 1`).
//!
//! Batching: while a request is in flight, later messages queue up, and the next request
//! takes everything queued up to the byte budget (Kafka's record-batch framing counted), so
//! a busy partition sends large batches; with `linger` > 0 a batch also waits that long for
//! more messages (default 0: an idle partition sends at once, as TiCDC does). Each
//! writer's queue is bounded, so a slow broker pushes back on the caller.
//!
//! Transient failures (broker restart, leader change, NotEnoughReplicas, RequestTimedOut,
//! timeouts) are retried with jittered exponential backoff; after `max-retry` consecutive
//! failures the writer keeps retrying but reports itself unhealthy. Failures that no retry
//! fixes (ACL denial, message too large) stop the writer; every later send returns that
//! error. Acknowledged messages are reported to the [`AckTracker`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use rskafka::client::Client;
use rskafka::client::error::{Error as RsError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::record::Record;
use tokio::sync::{mpsc, oneshot};

use super::KafkaError;
use super::admin::Admin;
use crate::metrics as m;
use crate::sink::ack::{AckTracker, Ticket};

/// Bytes a record batch (v2) adds around its records.
pub const RECORD_BATCH_OVERHEAD: u64 = 61;
/// Upper bound of the per-record framing (length, attributes, timestamp and offset deltas,
/// key and value lengths, header count), as TiCDC counts it (`len(key)+len(value)+36`).
pub const RECORD_OVERHEAD: u64 = 36;

/// One message for one partition.
#[derive(Debug, Clone)]
pub struct Message {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: BTreeMap<String, Vec<u8>>,
    /// Acked on the tracker once Kafka confirms the message: one per row it carries (a
    /// batching protocol's message carries several), none for watermarks.
    pub tickets: Vec<Ticket>,
}

impl Message {
    /// The message of an encoded record, acknowledged with `tickets`.
    pub fn from_record(r: crate::codec::Record, tickets: impl IntoIterator<Item = Ticket>) -> Self {
        Message {
            key: r.key,
            value: r.value,
            headers: r.headers.into_iter().collect(),
            tickets: tickets.into_iter().collect(),
        }
    }

    /// Encoded size as Kafka limits count it.
    pub fn size(&self) -> u64 {
        let kv = self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 10)
            .sum();
        (kv + headers) as u64 + RECORD_OVERHEAD
    }
}

/// Producer settings from the sink configuration.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub compression: Compression,
    /// Largest message and largest batch (before the per-topic limit from Kafka lowers it).
    pub max_message_bytes: u64,
    /// Consecutive failed attempts after which a writer reports itself unhealthy.
    pub max_retry: u32,
    /// Deadline of one produce request.
    pub request_timeout: Duration,
    /// Messages queued per partition before `send` waits.
    pub queue_len: usize,
    /// How long a batch waits for more messages before it is sent (`linger`; 0 = send at
    /// once, as TiCDC does). Batches still grow while a request is in flight.
    pub linger: Duration,
}

type Reply = oneshot::Sender<Result<(), KafkaError>>;

enum Command {
    Send(Message),
    Flush(Reply),
}

/// Sends messages to partitions in order and reports acknowledgements.
#[derive(Debug)]
pub struct Producer {
    client: Arc<Client>,
    admin: Admin,
    settings: ProducerSettings,
    tracker: AckTracker,
    /// topic → partition → writer (looked up by `&str`, without allocating per message).
    writers: tokio::sync::Mutex<HashMap<String, HashMap<i32, WriterHandle>>>,
    limits: tokio::sync::Mutex<HashMap<String, u64>>,
    health: Arc<Health>,
}

#[derive(Debug, Clone)]
struct WriterHandle {
    tx: mpsc::Sender<Command>,
    failed: Arc<Mutex<Option<KafkaError>>>,
}

/// Whether any writer is retrying past `max-retry`, and the last error it saw.
#[derive(Debug, Default)]
pub struct Health {
    unhealthy: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Health {
    /// Writers retrying past `max-retry`, and the last transient error seen.
    pub fn status(&self) -> (u64, Option<String>) {
        let e = match self.last_error.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        (self.unhealthy.load(Ordering::Relaxed), e)
    }

    fn set_error(&self, e: String) {
        match self.last_error.lock() {
            Ok(mut g) => *g = Some(e),
            Err(p) => *p.into_inner() = Some(e),
        }
    }
}

impl Producer {
    pub fn new(
        client: Arc<Client>,
        admin: Admin,
        settings: ProducerSettings,
        tracker: AckTracker,
    ) -> Self {
        Producer {
            client,
            admin,
            settings,
            tracker,
            writers: tokio::sync::Mutex::new(HashMap::new()),
            limits: tokio::sync::Mutex::new(HashMap::new()),
            health: Arc::new(Health::default()),
        }
    }

    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }

    /// The largest message `topic` takes (configured limit lowered to Kafka's).
    pub async fn max_message_bytes(&self, topic: &str) -> Result<u64, KafkaError> {
        if let Some(l) = self.limits.lock().await.get(topic) {
            return Ok(*l);
        }
        let (limit, warning) = self
            .admin
            .effective_max_message_bytes(topic, self.settings.max_message_bytes)
            .await?;
        if let Some(w) = warning {
            tracing::warn!(topic, "{w}");
        }
        tracing::info!(topic, max_message_bytes = limit, "message size limit");
        self.limits.lock().await.insert(topic.to_string(), limit);
        Ok(limit)
    }

    async fn writer(&self, topic: &str, partition: i32) -> Result<WriterHandle, KafkaError> {
        if let Some(w) = self
            .writers
            .lock()
            .await
            .get(topic)
            .and_then(|p| p.get(&partition))
        {
            return Ok(w.clone());
        }
        let limit = self.max_message_bytes(topic).await?;
        let (tx, rx) = mpsc::channel(self.settings.queue_len.max(1));
        let failed = Arc::new(Mutex::new(None));
        let task = PartitionWriter {
            client: Arc::clone(&self.client),
            admin: self.admin.clone(),
            topic: topic.to_string(),
            partition,
            settings: self.settings.clone(),
            budget: limit,
            tracker: self.tracker.clone(),
            failed: Arc::clone(&failed),
            health: Arc::clone(&self.health),
            pc: None,
            batches: 0,
        };
        tokio::spawn(task.run(rx));
        let handle = WriterHandle { tx, failed };
        self.writers
            .lock()
            .await
            .entry(topic.to_string())
            .or_default()
            .insert(partition, handle.clone());
        Ok(handle)
    }

    /// Queues `msg` for `topic`/`partition`; waits while that partition's queue is full.
    /// Fails when the message exceeds the topic's limit or the writer has failed for good.
    pub async fn send(&self, topic: &str, partition: i32, msg: Message) -> Result<(), KafkaError> {
        let limit = self.max_message_bytes(topic).await?;
        let size = msg.size();
        if size > limit {
            return Err(KafkaError::MessageTooLarge {
                topic: topic.to_string(),
                partition,
                size,
                limit,
            });
        }
        let w = self.writer(topic, partition).await?;
        if let Some(e) = lock_clone(&w.failed) {
            return Err(e);
        }
        if w.tx.send(Command::Send(msg)).await.is_err() {
            return Err(lock_clone(&w.failed).unwrap_or_else(|| writer_gone(topic, partition)));
        }
        Ok(())
    }

    /// Waits until everything queued so far is acknowledged (or a writer failed).
    pub async fn flush(&self) -> Result<(), KafkaError> {
        let writers: Vec<((String, i32), WriterHandle)> = self
            .writers
            .lock()
            .await
            .iter()
            .flat_map(|(t, parts)| parts.iter().map(move |(p, w)| ((t.clone(), *p), w.clone())))
            .collect();
        let mut waits = Vec::new();
        for ((topic, partition), w) in writers {
            let (reply, rx) = oneshot::channel();
            if w.tx.send(Command::Flush(reply)).await.is_err() {
                return Err(lock_clone(&w.failed).unwrap_or_else(|| writer_gone(&topic, partition)));
            }
            waits.push((topic, partition, w, rx));
        }
        for (topic, partition, w, rx) in waits {
            match rx.await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(
                        lock_clone(&w.failed).unwrap_or_else(|| writer_gone(&topic, partition))
                    );
                }
            }
        }
        Ok(())
    }
}

fn writer_gone(topic: &str, partition: i32) -> KafkaError {
    KafkaError::Request {
        request: "Produce",
        detail: format!("the writer of {topic}/{partition} stopped"),
    }
}

fn lock_clone(m: &Mutex<Option<KafkaError>>) -> Option<KafkaError> {
    match m.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

struct PartitionWriter {
    client: Arc<Client>,
    admin: Admin,
    topic: String,
    partition: i32,
    settings: ProducerSettings,
    budget: u64,
    tracker: AckTracker,
    failed: Arc<Mutex<Option<KafkaError>>>,
    health: Arc<Health>,
    pc: Option<Arc<PartitionClient>>,
    /// Batches sent, for sampling the compression ratio.
    batches: u64,
}

/// What went wrong with one attempt.
enum Attempt {
    Retry(String, bool),
    Fatal(KafkaError),
}

impl PartitionWriter {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut carry: Option<Command> = None;
        loop {
            let first = match carry.take() {
                Some(c) => c,
                None => match rx.recv().await {
                    Some(c) => c,
                    None => return,
                },
            };
            let mut batch: Vec<Message> = Vec::new();
            let mut flushes: Vec<Reply> = Vec::new();
            let mut bytes = RECORD_BATCH_OVERHEAD;
            let mut next = Some(first);
            let mut linger_until: Option<tokio::time::Instant> = None;
            while let Some(cmd) = next.take() {
                match cmd {
                    Command::Flush(r) => flushes.push(r),
                    Command::Send(msg) => {
                        let size = msg.size();
                        if !batch.is_empty() && bytes + size > self.budget {
                            carry = Some(Command::Send(msg));
                            break;
                        }
                        bytes += size;
                        batch.push(msg);
                    }
                }
                if !flushes.is_empty() {
                    // A flush closes the batch: it is answered once everything before it is acked.
                    break;
                }
                next = match rx.try_recv() {
                    Ok(c) => Some(c),
                    Err(_) if self.settings.linger.is_zero() => None,
                    Err(_) => {
                        let deadline = *linger_until.get_or_insert_with(|| {
                            tokio::time::Instant::now() + self.settings.linger
                        });
                        tokio::time::timeout_at(deadline, rx.recv())
                            .await
                            .ok()
                            .flatten()
                    }
                };
            }
            let result = if batch.is_empty() {
                Ok(())
            } else {
                self.deliver(batch, bytes).await
            };
            for r in flushes {
                let _ = r.send(result.clone());
            }
            if let Err(e) = result {
                tracing::error!(topic = %self.topic, partition = self.partition, error = %e, "Kafka writer stopped");
                counter!(m::KAFKA_ERRORS_TOTAL, "kind" => e.label()).increment(1);
                match self.failed.lock() {
                    Ok(mut g) => *g = Some(e.clone()),
                    Err(p) => *p.into_inner() = Some(e.clone()),
                }
                // Answer every queued flush with the error, then stop.
                rx.close();
                while let Ok(cmd) = rx.try_recv() {
                    if let Command::Flush(r) = cmd {
                        let _ = r.send(Err(e.clone()));
                    }
                }
                return;
            }
        }
    }

    /// Sends one batch until Kafka acknowledges it or a failure no retry can fix.
    async fn deliver(&mut self, batch: Vec<Message>, bytes: u64) -> Result<(), KafkaError> {
        let tickets: Vec<Ticket> = batch
            .iter()
            .flat_map(|m| m.tickets.iter().copied())
            .collect();
        let now = rskafka::chrono::Utc::now();
        let records: Vec<Record> = batch
            .into_iter()
            .map(|m| Record {
                key: m.key,
                value: m.value,
                headers: m.headers,
                timestamp: now,
            })
            .collect();
        let count = records.len();
        histogram!(m::KAFKA_BATCH_RECORDS).record(count as f64);
        histogram!(m::KAFKA_BATCH_BYTES).record(bytes as f64);
        self.batches += 1;
        if self.batches % COMPRESSION_SAMPLE_EVERY == 1
            && let Some(wire) = compressed_batch_size(&records, self.settings.compression)
            && wire > 0
        {
            histogram!(m::KAFKA_COMPRESSION_RATIO).record(bytes as f64 / wire as f64);
        }
        let mut failures: u32 = 0;
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            gauge!(m::KAFKA_IN_FLIGHT_REQUESTS).increment(1.0);
            let outcome = self.attempt(records.clone()).await;
            gauge!(m::KAFKA_IN_FLIGHT_REQUESTS).decrement(1.0);
            match outcome {
                Ok(()) => {
                    histogram!(m::KAFKA_REQUEST_DURATION_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                    counter!(m::KAFKA_MESSAGES_TOTAL, "topic" => self.topic.clone())
                        .increment(count as u64);
                    counter!(m::KAFKA_BYTES_TOTAL, "topic" => self.topic.clone()).increment(bytes);
                    self.tracker.ack(&tickets);
                    if failures >= self.settings.max_retry {
                        self.health.unhealthy.fetch_sub(1, Ordering::Relaxed);
                        tracing::info!(topic = %self.topic, partition = self.partition, "Kafka writes succeed again");
                    }
                    return Ok(());
                }
                Err(Attempt::Fatal(e)) => {
                    if failures >= self.settings.max_retry {
                        self.health.unhealthy.fetch_sub(1, Ordering::Relaxed);
                    }
                    return Err(e);
                }
                Err(Attempt::Retry(reason, reconnect)) => {
                    failures += 1;
                    counter!(m::KAFKA_RETRIES_TOTAL).increment(1);
                    if reconnect {
                        self.pc = None;
                    }
                    if failures == self.settings.max_retry {
                        self.health.unhealthy.fetch_add(1, Ordering::Relaxed);
                    }
                    self.health
                        .set_error(format!("{}/{}: {reason}", self.topic, self.partition));
                    tracing::warn!(topic = %self.topic, partition = self.partition, attempt = failures, error = %reason, "produce failed; retrying the same batch");
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn attempt(&mut self, records: Vec<Record>) -> Result<(), Attempt> {
        let timeout = self.settings.request_timeout;
        let pc = match &self.pc {
            Some(pc) => Arc::clone(pc),
            None => {
                let made = tokio::time::timeout(
                    timeout,
                    self.client.partition_client(
                        self.topic.clone(),
                        self.partition,
                        UnknownTopicHandling::Retry,
                    ),
                )
                .await;
                match made {
                    Ok(Ok(pc)) => {
                        let pc = Arc::new(pc);
                        self.pc = Some(Arc::clone(&pc));
                        pc
                    }
                    Ok(Err(e)) => return Err(self.classify(e)),
                    Err(_) => {
                        return Err(Attempt::Retry(
                            "no partition leader found in time".to_string(),
                            true,
                        ));
                    }
                }
            }
        };
        match tokio::time::timeout(timeout, pc.produce(records, self.settings.compression)).await {
            Ok(Ok(_offsets)) => Ok(()),
            Ok(Err(e)) => Err(self.classify(e)),
            // The request may or may not have been written: resend (at-least-once) on a
            // fresh connection.
            Err(_) => Err(Attempt::Retry(
                format!("no produce response within {timeout:?}"),
                true,
            )),
        }
    }

    fn classify(&self, e: RsError) -> Attempt {
        match &e {
            RsError::ServerError {
                protocol_error,
                error_message,
                ..
            } => match protocol_error {
                ProtocolError::TopicAuthorizationFailed => Attempt::Fatal(KafkaError::Denied {
                    operation: "Write",
                    resource: format!("topic {}", self.topic),
                    principal: self.admin.login().principal(),
                    remedy: format!("grant Write on Topic {}", self.topic),
                }),
                ProtocolError::MessageTooLarge | ProtocolError::RecordListTooLarge => {
                    Attempt::Fatal(KafkaError::Request {
                        request: "Produce",
                        detail: format!(
                            "{}/{}: Kafka rejected the batch as too large ({protocol_error:?}: {}); lower max-message-bytes",
                            self.topic,
                            self.partition,
                            error_message.clone().unwrap_or_default()
                        ),
                    })
                }
                ProtocolError::NotEnoughReplicas
                | ProtocolError::NotEnoughReplicasAfterAppend
                | ProtocolError::RequestTimedOut
                | ProtocolError::LeaderNotAvailable
                | ProtocolError::NotLeaderOrFollower
                | ProtocolError::NetworkException
                | ProtocolError::KafkaStorageError
                | ProtocolError::UnknownTopicOrPartition
                | ProtocolError::CorruptMessage => Attempt::Retry(e.to_string(), true),
                _ => Attempt::Fatal(KafkaError::Request {
                    request: "Produce",
                    detail: format!("{}/{}: {e}", self.topic, self.partition),
                }),
            },
            _ => Attempt::Retry(e.to_string(), true),
        }
    }
}

/// How often a batch's compressed size is measured for the compression-ratio metric.
const COMPRESSION_SAMPLE_EVERY: u64 = 16;

/// The size of `records` as one compressed record batch on the wire, measured by encoding
/// it with rskafka's own record-batch writer (rskafka 0.6 does not report what it sent).
fn compressed_batch_size(records: &[Record], compression: Compression) -> Option<usize> {
    use rskafka::protocol::record::{
        ControlBatchOrRecords, Record as WireRecord, RecordBatch, RecordBatchCompression,
        RecordBatchTimestampType, RecordHeader,
    };
    use rskafka::protocol::traits::WriteType;
    let codec = match compression {
        Compression::NoCompression => return None,
        Compression::Gzip => RecordBatchCompression::Gzip,
        Compression::Lz4 => RecordBatchCompression::Lz4,
        Compression::Snappy => RecordBatchCompression::Snappy,
        Compression::Zstd => RecordBatchCompression::Zstd,
    };
    let wire: Vec<WireRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| WireRecord {
            timestamp_delta: 0,
            offset_delta: i32::try_from(i).unwrap_or(i32::MAX),
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| RecordHeader {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        })
        .collect();
    let batch = RecordBatch {
        base_offset: 0,
        partition_leader_epoch: 0,
        last_offset_delta: i32::try_from(records.len().saturating_sub(1)).unwrap_or(i32::MAX),
        first_timestamp: 0,
        max_timestamp: 0,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records: ControlBatchOrRecords::Records(wire),
        compression: codec,
        is_transactional: false,
        timestamp_type: RecordBatchTimestampType::CreateTime,
    };
    let mut out = Vec::new();
    batch.write(&mut out).ok()?;
    Some(out.len())
}

/// A random duration between half and all of `d`.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let frac = 0.5 + f64::from(nanos % 1000) / 2000.0;
    d.mul_f64(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_size_is_measured_for_every_codec() {
        let records: Vec<Record> = (0..100)
            .map(|i| Record {
                key: Some(format!("k{i}").into_bytes()),
                value: Some(
                    format!("{{\"id\":\"{i}\",\"pad\":\"{}\"}}", "x".repeat(200)).into_bytes(),
                ),
                headers: BTreeMap::new(),
                timestamp: rskafka::chrono::Utc::now(),
            })
            .collect();
        let raw: usize = records
            .iter()
            .map(|r| r.value.as_ref().map_or(0, Vec::len))
            .sum();
        assert_eq!(
            compressed_batch_size(&records, Compression::NoCompression),
            None
        );
        for c in [
            Compression::Gzip,
            Compression::Lz4,
            Compression::Snappy,
            Compression::Zstd,
        ] {
            let wire = compressed_batch_size(&records, c).expect("measured");
            assert!(wire > 61 && wire < raw / 4, "{c:?}: {wire} bytes for {raw}");
        }
    }
}
