//! Ordered, acknowledged delivery to Kafka partitions.
//!
//! One writer task per (topic, partition) owns that partition's rskafka client and sends
//! **at most one produce request at a time**: a batch is retried until it succeeds or fails
//! for good before the next one is sent, so retries never reorder records within a
//! partition (TiCDC gets the same guarantee from sarama's `MaxOpenRequests = 1`). This is a
//! choice: there is no idempotent producer (InitProducerId and sequence numbers), which
//! several requests in flight per partition would need to keep order across retries.
//!
//! Batching for distance: with one request in flight, a partition makes at most one request
//! per round trip (50 per second at 20 ms), so the bytes per request decide throughput.
//! While a request is in flight, later messages queue up; the next request takes everything
//! queued up to the batch budget (`batch-size`, librdkafka's `batch.size`, default and at
//! most the topic's size limit; Kafka's record-batch framing counted). Each writer's queue
//! is bounded in **bytes**, twice the batch budget by default (a semaphore whose permits are
//! bytes; a message larger than the whole queue takes all of it), so a far broker still gets
//! full batches while a slow one pushes back on the caller. With `linger` > 0 a batch also
//! waits that long for more messages (default 0: an idle partition sends at once, as TiCDC
//! does). A message above the batch budget (one that fits the limit only compressed, see
//! [`SizeLimit`]) always travels alone in its batch.
//!
//! Callers send through a [`PartitionHandle`] ([`Producer::partition`], made once per
//! partition): the size check, the failed check and the queueing take no lock in the common
//! case (an atomic flag, a semaphore's fast path, an unbounded channel's send).
//!
//! Transient failures (broker restart, leader change, NotEnoughReplicas, RequestTimedOut,
//! timeouts) are retried with jittered exponential backoff; after `max-retry` consecutive
//! failures the writer keeps retrying but reports itself unhealthy. Failures that no retry
//! fixes (ACL denial, message too large) stop the writer; every later send returns that
//! error. Acknowledged messages are reported to the [`AckTracker`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use metrics::{Gauge, counter, gauge, histogram};
use rskafka::client::Client;
use rskafka::client::error::{Error as RsError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::record::Record;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, oneshot};

use super::KafkaError;
use super::admin::Admin;
use super::retry_copy::RetryCopy;
use super::size::{RECORD_BATCH_OVERHEAD, SizeLimit, compressed_batch_size, message_size};
use crate::fence::Fence;
use crate::metrics as m;
use crate::sink::ack::{AckTracker, Ticket};

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

    /// Encoded size before compression, as the size limit counts it
    /// ([`super::size::message_size`]).
    pub fn size(&self) -> u64 {
        let headers = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
        message_size(self.key.as_deref(), self.value.as_deref(), headers)
    }

    /// A copy as rskafka's record, to measure its compressed size.
    fn wire_record(&self) -> Record {
        Record {
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
            timestamp: rskafka::chrono::Utc::now(),
        }
    }
}

/// Producer settings from the sink configuration.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub compression: Compression,
    /// Largest message (before the per-topic limit from Kafka lowers it).
    pub max_message_bytes: u64,
    /// Most bytes in one produce batch (`batch-size`, librdkafka's `batch.size`); `None`:
    /// the topic's size limit, which also caps it.
    pub batch_size: Option<u64>,
    /// Consecutive failed attempts after which a writer reports itself unhealthy.
    pub max_retry: u32,
    /// Deadline of one produce request.
    pub request_timeout: Duration,
    /// Bytes queued per partition before `send` waits; `None`: twice the batch budget.
    pub queue_bytes: Option<u64>,
    /// Bytes queued in all partitions together before `send` waits (the produce share of
    /// the changefeed's `memory-quota`); `None`: no bound beyond each partition's.
    pub total_queue_bytes: Option<u64>,
    /// How long a batch waits for more messages before it is sent (`linger`; 0 = send at
    /// once, as TiCDC does). Batches still grow while a request is in flight.
    pub linger: Duration,
    /// Asked before every produce request: a changefeed whose lease may have passed to
    /// another daemon sends nothing more (unbounded without a lease).
    pub fence: Fence,
}

impl Default for ProducerSettings {
    /// The settings of a `kafka-config` that sets nothing (10 MiB `max-message-bytes`, 5
    /// retries, 10 s `write-timeout`, no compression, no linger).
    fn default() -> Self {
        ProducerSettings {
            compression: Compression::NoCompression,
            max_message_bytes: 10 << 20,
            batch_size: None,
            max_retry: 5,
            request_timeout: Duration::from_secs(10),
            queue_bytes: None,
            total_queue_bytes: None,
            linger: Duration::ZERO,
            fence: Fence::unbounded(),
        }
    }
}

type Reply = oneshot::Sender<Result<(), KafkaError>>;

enum Command {
    Send(Queued),
    Flush(Reply),
}

/// A message in a writer's queue, holding its share of the queue's bytes until the writer
/// takes it.
struct Queued {
    msg: Message,
    size: u64,
    _permit: OwnedSemaphorePermit,
    _total: Option<OwnedSemaphorePermit>,
}

/// Total queue bytes are counted in units of this many bytes (a semaphore counts in `u32`).
const TOTAL_UNIT: u64 = 1024;

/// The byte budget all of a producer's partition queues share.
#[derive(Debug)]
struct TotalQueue {
    permits: Arc<Semaphore>,
    units: u32,
}

impl TotalQueue {
    fn new(bytes: u64) -> Self {
        let units = u32::try_from((bytes / TOTAL_UNIT).max(1)).unwrap_or(u32::MAX);
        TotalQueue {
            permits: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// Bytes taken now.
    fn used(&self) -> u64 {
        u64::from(self.units).saturating_sub(self.permits.available_permits() as u64) * TOTAL_UNIT
    }

    /// Waits until `size` bytes (at most the whole budget) are free and takes them.
    async fn take(&self, size: u64) -> Option<OwnedSemaphorePermit> {
        let units = u32::try_from(size.div_ceil(TOTAL_UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.units);
        match Arc::clone(&self.permits).try_acquire_many_owned(units) {
            Ok(p) => Some(p),
            // Never closed: acquiring only fails if it were.
            Err(_) => Arc::clone(&self.permits)
                .acquire_many_owned(units)
                .await
                .ok(),
        }
    }
}

/// Sends messages to partitions in order and reports acknowledgements.
#[derive(Debug)]
pub struct Producer {
    client: Arc<Client>,
    admin: Admin,
    settings: ProducerSettings,
    tracker: AckTracker,
    /// topic → partition → writer (looked up by `&str`, without allocating per message).
    writers: Mutex<HashMap<String, HashMap<i32, PartitionHandle>>>,
    limits: tokio::sync::Mutex<HashMap<String, u64>>,
    health: Arc<Health>,
    /// Bytes queued in every writer of the process.
    queued: Gauge,
    /// The budget of all this producer's queues together, when bounded.
    total: Option<Arc<TotalQueue>>,
}

/// The way in to one partition's writer: cheap to clone, shared by any number of tasks.
#[derive(Debug, Clone)]
pub struct PartitionHandle(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    topic: Arc<str>,
    partition: i32,
    limit: SizeLimit,
    tx: mpsc::UnboundedSender<Command>,
    /// Permits are bytes of queued messages.
    queue: Arc<Semaphore>,
    capacity: u32,
    total: Option<Arc<TotalQueue>>,
    failed: Arc<OnceLock<KafkaError>>,
    queued: Gauge,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Send(q) => write!(f, "Send({} bytes)", q.size),
            Command::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl PartitionHandle {
    pub fn topic(&self) -> &str {
        &self.0.topic
    }

    pub fn partition(&self) -> i32 {
        self.0.partition
    }

    /// The size limit messages are checked against (the topic's, with the compression).
    pub fn limit(&self) -> SizeLimit {
        self.0.limit
    }

    /// Queues `msg`; waits while the partition's queue holds its byte budget. Fails when
    /// the message exceeds the topic's limit (compressed, when compression is on) or the
    /// writer has failed for good.
    pub async fn send(&self, msg: Message) -> Result<(), KafkaError> {
        let s = &*self.0;
        let size = msg.size();
        s.limit
            .check(size, || msg.wire_record())
            .map_err(|over| KafkaError::MessageTooLarge {
                topic: s.topic.to_string(),
                partition: s.partition,
                size: over.size,
                compressed: over.compressed,
                limit: s.limit.bytes,
            })?;
        if let Some(e) = s.failed.get() {
            return Err(e.clone());
        }
        let permits = u32::try_from(size).unwrap_or(u32::MAX).min(s.capacity);
        let permit = match Arc::clone(&s.queue).try_acquire_many_owned(permits) {
            Ok(p) => p,
            Err(TryAcquireError::NoPermits) => Arc::clone(&s.queue)
                .acquire_many_owned(permits)
                .await
                .map_err(|_| s.stopped())?,
            Err(TryAcquireError::Closed) => return Err(s.stopped()),
        };
        let total = match &s.total {
            Some(t) => t.take(size).await,
            None => None,
        };
        s.queued.increment(size as f64);
        let queued = Queued {
            msg,
            size,
            _permit: permit,
            _total: total,
        };
        s.tx.send(Command::Send(queued)).map_err(|_| {
            s.queued.decrement(size as f64);
            s.stopped()
        })
    }

    /// Waits until everything queued on this partition so far is acknowledged.
    pub async fn flush(&self) -> Result<(), KafkaError> {
        let rx = self.request_flush()?;
        self.answer(rx).await
    }

    fn request_flush(&self) -> Result<oneshot::Receiver<Result<(), KafkaError>>, KafkaError> {
        let (reply, rx) = oneshot::channel();
        self.0
            .tx
            .send(Command::Flush(reply))
            .map_err(|_| self.0.stopped())?;
        Ok(rx)
    }

    async fn answer(
        &self,
        rx: oneshot::Receiver<Result<(), KafkaError>>,
    ) -> Result<(), KafkaError> {
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self.0.stopped()),
        }
    }
}

impl Shared {
    /// Why the writer no longer takes messages.
    fn stopped(&self) -> KafkaError {
        self.failed
            .get()
            .cloned()
            .unwrap_or_else(|| writer_gone(&self.topic, self.partition))
    }
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
        let e = lock(&self.last_error).clone();
        (self.unhealthy.load(Ordering::Relaxed), e)
    }

    fn set_error(&self, e: String) {
        *lock(&self.last_error) = Some(e);
    }
}

impl Producer {
    pub fn new(
        client: Arc<Client>,
        admin: Admin,
        settings: ProducerSettings,
        tracker: AckTracker,
    ) -> Self {
        let total = settings_total(&settings);
        Producer {
            client,
            admin,
            settings,
            tracker,
            writers: Mutex::new(HashMap::new()),
            limits: tokio::sync::Mutex::new(HashMap::new()),
            health: Arc::new(Health::default()),
            queued: gauge!(m::KAFKA_QUEUED_BYTES),
            total,
        }
    }

    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }

    /// Bytes waiting in this producer's partition queues, counted against the shared
    /// budget (0 when there is none).
    pub fn queued_bytes(&self) -> u64 {
        self.total.as_ref().map_or(0, |t| t.used())
    }

    /// The compression batches are written with.
    pub fn compression(&self) -> Compression {
        self.settings.compression
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

    /// The size limit of `topic`, with the compression its batches are written with.
    pub async fn size_limit(&self, topic: &str) -> Result<SizeLimit, KafkaError> {
        let bytes = self.max_message_bytes(topic).await?;
        Ok(SizeLimit::new(bytes, self.settings.compression))
    }

    /// The handle of `topic`/`partition`, starting its writer on first use. Keep it: sending
    /// through it takes no lock.
    pub async fn partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionHandle, KafkaError> {
        if let Some(h) = lock(&self.writers)
            .get(topic)
            .and_then(|p| p.get(&partition))
        {
            return Ok(h.clone());
        }
        let limit = self.size_limit(topic).await?;
        let mut writers = lock(&self.writers);
        let handle = writers
            .entry(topic.to_string())
            .or_default()
            .entry(partition)
            .or_insert_with(|| self.start_writer(topic, partition, limit));
        Ok(handle.clone())
    }

    /// Spawns the writer task of one partition and returns its handle.
    fn start_writer(&self, topic: &str, partition: i32, limit: SizeLimit) -> PartitionHandle {
        let budget = self
            .settings
            .batch_size
            .map_or(limit.bytes, |b| b.min(limit.bytes))
            .max(1);
        let capacity = self
            .settings
            .queue_bytes
            .unwrap_or(budget.saturating_mul(2))
            .clamp(1, u64::from(u32::MAX));
        let capacity = u32::try_from(capacity).unwrap_or(u32::MAX);
        let queue = Arc::new(Semaphore::new(capacity as usize));
        let (tx, rx) = mpsc::unbounded_channel();
        let failed = Arc::new(OnceLock::new());
        let task = PartitionWriter {
            client: Arc::clone(&self.client),
            admin: self.admin.clone(),
            topic: topic.to_string(),
            partition,
            settings: self.settings.clone(),
            budget,
            tracker: self.tracker.clone(),
            failed: Arc::clone(&failed),
            queue: Arc::clone(&queue),
            queued: self.queued.clone(),
            health: Arc::clone(&self.health),
            pc: None,
            batches: 0,
        };
        tokio::spawn(task.run(rx));
        PartitionHandle(Arc::new(Shared {
            topic: Arc::from(topic),
            partition,
            limit,
            tx,
            queue,
            capacity,
            total: self.total.clone(),
            failed,
            queued: self.queued.clone(),
        }))
    }

    /// Queues `msg` for `topic`/`partition` (see [`PartitionHandle::send`]); looks the
    /// handle up each time, so keep the handle where messages go to one partition often.
    pub async fn send(&self, topic: &str, partition: i32, msg: Message) -> Result<(), KafkaError> {
        self.partition(topic, partition).await?.send(msg).await
    }

    /// Waits until everything queued so far is acknowledged (or a writer failed).
    pub async fn flush(&self) -> Result<(), KafkaError> {
        let handles: Vec<PartitionHandle> = lock(&self.writers)
            .values()
            .flat_map(|parts| parts.values().cloned())
            .collect();
        let mut waits = Vec::with_capacity(handles.len());
        for h in handles {
            waits.push((h.request_flush()?, h));
        }
        for (rx, h) in waits {
            h.answer(rx).await?;
        }
        Ok(())
    }
}

/// The shared queue budget `settings` ask for.
fn settings_total(settings: &ProducerSettings) -> Option<Arc<TotalQueue>> {
    settings
        .total_queue_bytes
        .map(|b| Arc::new(TotalQueue::new(b)))
}

fn writer_gone(topic: &str, partition: i32) -> KafkaError {
    KafkaError::Request {
        request: "Produce",
        detail: format!("the writer of {topic}/{partition} stopped"),
    }
}

/// Locks `m`, also after a panic elsewhere (the data stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct PartitionWriter {
    client: Arc<Client>,
    admin: Admin,
    topic: String,
    partition: i32,
    settings: ProducerSettings,
    /// Most bytes in one batch.
    budget: u64,
    tracker: AckTracker,
    failed: Arc<OnceLock<KafkaError>>,
    queue: Arc<Semaphore>,
    queued: Gauge,
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

/// A command taken out of the queue (its bytes released).
enum Item {
    Msg(Message, u64),
    Flush(Reply),
}

/// One produce request in the making.
struct Batch {
    msgs: Vec<Message>,
    bytes: u64,
    flushes: Vec<Reply>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            msgs: Vec::new(),
            bytes: RECORD_BATCH_OVERHEAD,
            flushes: Vec::new(),
        }
    }

    /// Whether a message of `size` bytes joins this batch under `budget`: an empty batch
    /// takes any message (one above the budget then travels alone), a non-empty one only
    /// what keeps it within the budget.
    fn admits(&self, size: u64, budget: u64) -> bool {
        self.msgs.is_empty() || self.bytes + size <= budget
    }
}

impl PartitionWriter {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut carry: Option<Item> = None;
        loop {
            let first = match carry.take() {
                Some(c) => c,
                None => match rx.recv().await {
                    Some(c) => self.take(c),
                    None => return,
                },
            };
            let batch = self.collect(first, &mut rx, &mut carry).await;
            let result = if batch.msgs.is_empty() {
                Ok(())
            } else {
                self.deliver(batch.msgs, batch.bytes).await
            };
            for r in batch.flushes {
                let _ = r.send(result.clone());
            }
            if let Err(e) = result {
                self.stop(e, rx);
                return;
            }
        }
    }

    /// Takes a command out of the queue, releasing its bytes.
    fn take(&self, c: Command) -> Item {
        match c {
            Command::Send(q) => {
                self.queued.decrement(q.size as f64);
                Item::Msg(q.msg, q.size)
            }
            Command::Flush(r) => Item::Flush(r),
        }
    }

    /// Fills a batch from `first` and what is queued, up to the budget (waiting up to
    /// `linger` for more); a message that does not fit is left in `carry` for the next one.
    /// A flush closes the batch. A message above the budget goes alone.
    async fn collect(
        &self,
        first: Item,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        carry: &mut Option<Item>,
    ) -> Batch {
        let mut b = Batch::new();
        let mut next = Some(first);
        let mut linger_until: Option<tokio::time::Instant> = None;
        while let Some(item) = next.take() {
            match item {
                Item::Flush(r) => {
                    // Answered once everything before it is acked.
                    b.flushes.push(r);
                    break;
                }
                Item::Msg(msg, size) => {
                    if !b.admits(size, self.budget) {
                        *carry = Some(Item::Msg(msg, size));
                        break;
                    }
                    b.bytes += size;
                    b.msgs.push(msg);
                }
            }
            next = match rx.try_recv() {
                Ok(c) => Some(self.take(c)),
                Err(_) if self.settings.linger.is_zero() => None,
                Err(_) => {
                    let deadline = *linger_until
                        .get_or_insert_with(|| tokio::time::Instant::now() + self.settings.linger);
                    tokio::time::timeout_at(deadline, rx.recv())
                        .await
                        .ok()
                        .flatten()
                        .map(|c| self.take(c))
                }
            };
        }
        b
    }

    /// Records the failure for every handle, refuses further sends and answers every
    /// queued flush with the error.
    fn stop(&self, e: KafkaError, mut rx: mpsc::UnboundedReceiver<Command>) {
        tracing::error!(topic = %self.topic, partition = self.partition, error = %e, "Kafka writer stopped");
        counter!(m::KAFKA_ERRORS_TOTAL, "kind" => e.label()).increment(1);
        let _ = self.failed.set(e.clone());
        self.queue.close();
        rx.close();
        while let Ok(cmd) = rx.try_recv() {
            match self.take(cmd) {
                Item::Flush(r) => {
                    let _ = r.send(Err(e.clone()));
                }
                Item::Msg(..) => {}
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
        // The first attempt takes the records themselves; a retry makes them again from a
        // copy kept in one buffer.
        let copy = RetryCopy::of(&records, usize::try_from(bytes).unwrap_or(0));
        let mut first = Some(records);
        let mut failures: u32 = 0;
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            let records = first.take().unwrap_or_else(|| copy.records(now));
            gauge!(m::KAFKA_IN_FLIGHT_REQUESTS).increment(1.0);
            let outcome = self.attempt(records).await;
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
        // Asked right before each request: a writer whose lease may belong to another
        // daemon by now stops for good (the runtime hands the changefeed over).
        if let Err(f) = self.settings.fence.check() {
            return Err(Attempt::Fatal(KafkaError::Fenced(f)));
        }
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

    fn msg(len: usize) -> Message {
        Message {
            key: None,
            value: Some(vec![b'x'; len]),
            headers: BTreeMap::new(),
            tickets: Vec::new(),
        }
    }

    fn push(b: &mut Batch, m: Message) {
        b.bytes += m.size();
        b.msgs.push(m);
    }

    #[test]
    fn a_message_above_the_batch_budget_travels_alone() {
        let budget = 1_000;
        let big = msg(5_000);
        // Behind other messages it waits for the next batch.
        let mut b = Batch::new();
        push(&mut b, msg(100));
        assert!(!b.admits(big.size(), budget));
        // An empty batch takes it, and then nothing else.
        let mut b = Batch::new();
        assert!(b.admits(big.size(), budget));
        push(&mut b, big);
        assert!(!b.admits(msg(0).size(), budget));
    }

    #[test]
    fn small_messages_fill_a_batch_up_to_the_budget() {
        let m = msg(64);
        let per = m.size();
        assert_eq!(per, 100);
        let budget = RECORD_BATCH_OVERHEAD + 10 * per;
        let mut b = Batch::new();
        let mut n = 0;
        while b.admits(per, budget) {
            push(&mut b, m.clone());
            n += 1;
        }
        assert_eq!(n, 10);
        assert_eq!(b.bytes, budget);
    }
}
