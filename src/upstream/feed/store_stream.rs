//! The store streams of a feed: **one** EventFeedV2 stream per TiKV store shared by every
//! span (`stream-multiplexing`), or, on a store that answers V2 with `Unimplemented`, one
//! EventFeed V1 stream per store and span; one reader task per stream; and the requests
//! sent on them (Register, Deregister).
//!
//! Guarantees: a stream is opened at most once while its request half is open; every
//! stream gets a new generation, so the end of a stream already replaced is recognisable;
//! readers forward messages in stream order through one bounded queue shared by every
//! stream, bounded both in messages and in bytes: a reader takes a message's bytes from the
//! streams' [`EventBudget`] before it queues the message, and they are given back when the
//! feed drops the message ([`Taken`]), after handling it, on an error or with the queue.
//! So a slow feed makes the streams wait with at most the budget queued (plus the one
//! message each reader holds while it waits); a reader stops after the stream's end or
//! when the feed is gone, also while it waits for the budget.

use std::collections::{HashMap, HashSet};

use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::{Stream, StreamExt};

use super::CLIENT_VERSION;
use super::budget::EventBudget;
use crate::proto::cdcpb::{
    self, ChangeDataEvent, ChangeDataRequest, change_data_client::ChangeDataClient,
    change_data_request,
};
use crate::proto::{kvrpcpb, metapb};
use crate::upstream::error::UpstreamError;
use crate::upstream::pd::PdClient;

/// Store-stream messages queued for the feed before the streams wait, whatever their size.
/// Their bytes are bounded by the streams' budget (a message may carry megabytes of
/// PREWRITE values); this count only keeps small messages flowing: fewer (4 or 8) cost the
/// e2e bench about a fifth more CPU per row in wake-ups.
const STREAM_QUEUE: usize = 16;

/// A store stream: the store, and the span owning it for a V1 stream (0 = shared V2).
pub(super) type StreamKey = (u64, u64);

/// The request half of a stream.
pub(super) type RequestTx = mpsc::UnboundedSender<ChangeDataRequest>;

/// Messages of the store streams, in stream order.
pub(super) enum StreamMsg {
    /// Stream, message, and its bytes taken from the streams' budget (given back when
    /// dropped: keep it until the message is handled).
    Event(StreamKey, ChangeDataEvent, Taken),
    /// Stream, generation, detail.
    End(StreamKey, u64, String),
}

/// A message's bytes taken from the streams' budget, given back when dropped.
#[derive(Debug)]
pub(super) struct Taken {
    budget: EventBudget,
    bytes: usize,
}

impl Drop for Taken {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

pub(super) struct Streams {
    ev_tx: mpsc::Sender<StreamMsg>,
    /// Bytes of the messages queued for the feed or being handled, all streams together.
    budget: EventBudget,
    /// Stream → (generation, request sender).
    open: HashMap<StreamKey, (u64, RequestTx)>,
    /// Stores answering EventFeedV2 with `Unimplemented`.
    v1_stores: HashSet<u64>,
    generation: u64,
}

impl Streams {
    /// No stream yet, and the receiver of every stream's messages, whose bytes `budget`
    /// bounds.
    pub fn new(budget: EventBudget) -> (Self, mpsc::Receiver<StreamMsg>) {
        let (ev_tx, ev_rx) = mpsc::channel(STREAM_QUEUE);
        let streams = Streams {
            ev_tx,
            budget,
            open: HashMap::new(),
            v1_stores: HashSet::new(),
            generation: 0,
        };
        (streams, ev_rx)
    }

    /// The request half of an open stream.
    pub fn sender(&self, key: StreamKey) -> Option<&RequestTx> {
        self.open.get(&key).map(|(_, tx)| tx)
    }

    /// Whether `generation` is the stream now open under `key`.
    pub fn is_current(&self, key: StreamKey, generation: u64) -> bool {
        self.open.get(&key).is_some_and(|(g, _)| *g == generation)
    }

    pub fn remove(&mut self, key: StreamKey) {
        self.open.remove(&key);
    }

    /// Drops the V1 streams of a span; they end with their request half (TiKV drops the
    /// connection).
    pub fn remove_span(&mut self, span_id: u64) {
        self.open.retain(|k, _| k.1 != span_id);
    }

    /// The stream a region of `span_id` on `store_id` goes to, opening it if needed: the
    /// store's shared EventFeedV2 stream, or the span's own V1 stream on a store without V2.
    pub async fn get_or_open(
        &mut self,
        pd: &PdClient,
        store_id: u64,
        span_id: u64,
    ) -> Result<(StreamKey, RequestTx), UpstreamError> {
        let mut key = if self.v1_stores.contains(&store_id) {
            (store_id, span_id)
        } else {
            (store_id, 0)
        };
        if let Some((_, s)) = self.open.get(&key)
            && !s.is_closed()
        {
            return Ok((key, s.clone()));
        }
        let store = pd.get_store(store_id).await?;
        let conn = pd.connect_options();
        let addr = conn.url(&store.address);
        let err = |d: String| UpstreamError::StoreStream {
            store_id,
            address: addr.clone(),
            detail: d,
        };
        let channel = conn.channel(&addr, None).await.map_err(err)?;
        let mut client = ChangeDataClient::new(channel).max_decoding_message_size(256 << 20);
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let resp = if key.1 == 0 {
            let mut v2 = tonic::Request::new(UnboundedReceiverStream::new(req_rx));
            v2.metadata_mut().insert(
                "features",
                tonic::metadata::MetadataValue::from_static("stream-multiplexing"),
            );
            match client.event_feed_v2(v2).await {
                Ok(r) => Some(r),
                Err(s) if s.code() == tonic::Code::Unimplemented => {
                    tracing::info!(store_id, "store has no EventFeedV2; one EventFeed per span");
                    self.v1_stores.insert(store_id);
                    key = (store_id, span_id);
                    None
                }
                Err(s) => return Err(err(format!("EventFeedV2: {s}"))),
            }
        } else {
            None
        };
        let (resp, req_tx) = match resp {
            Some(r) => (r, req_tx),
            None => {
                let (req_tx, req_rx) = mpsc::unbounded_channel();
                let r = client
                    .event_feed(UnboundedReceiverStream::new(req_rx))
                    .await
                    .map_err(|s| err(format!("EventFeed: {s}")))?;
                (r, req_tx)
            }
        };
        self.generation += 1;
        self.spawn_reader(key, self.generation, resp.into_inner());
        self.open.insert(key, (self.generation, req_tx.clone()));
        Ok((key, req_tx))
    }

    fn spawn_reader(
        &self,
        key: StreamKey,
        generation: u64,
        stream: tonic::Streaming<ChangeDataEvent>,
    ) {
        tokio::spawn(read(
            key,
            generation,
            stream,
            self.ev_tx.clone(),
            self.budget.clone(),
        ));
    }
}

/// A stream's reader: forwards its messages in order to `tx`, each after taking its bytes
/// from `budget`, then its end; returns after the end or once the feed is gone.
async fn read<S>(
    key: StreamKey,
    generation: u64,
    mut stream: S,
    tx: mpsc::Sender<StreamMsg>,
    budget: EventBudget,
) where
    S: Stream<Item = Result<ChangeDataEvent, tonic::Status>> + Unpin,
{
    loop {
        let msg = match stream.next().await {
            Some(Ok(ev)) => {
                // The decoded message's size: its values dominate, as they do its memory.
                let bytes = ev.encoded_len();
                tokio::select! {
                    biased;
                    () = budget.take(bytes) => {}
                    // The feed is gone: nobody gives bytes back any more.
                    () = tx.closed() => return,
                }
                let taken = Taken {
                    budget: budget.clone(),
                    bytes,
                };
                StreamMsg::Event(key, ev, taken)
            }
            None => StreamMsg::End(key, generation, "stream closed".into()),
            Some(Err(s)) => StreamMsg::End(key, generation, s.to_string()),
        };
        let end = matches!(msg, StreamMsg::End(..));
        if tx.send(msg).await.is_err() || end {
            return;
        }
    }
}

fn header(cluster_id: u64) -> Option<cdcpb::Header> {
    Some(cdcpb::Header {
        cluster_id,
        ticdc_version: CLIENT_VERSION.into(),
    })
}

/// Registers `region` for the encoded range `[start, end)` (within the region) from `ts`,
/// with old values.
pub(super) fn register_request(
    cluster_id: u64,
    region: &metapb::Region,
    (start, end): (Vec<u8>, Vec<u8>),
    ts: u64,
    request_id: u64,
) -> ChangeDataRequest {
    ChangeDataRequest {
        header: header(cluster_id),
        region_id: region.id,
        region_epoch: region.region_epoch,
        checkpoint_ts: ts,
        start_key: start,
        end_key: end,
        request_id,
        extra_op: kvrpcpb::ExtraOp::ReadOldValue as i32,
        request: Some(change_data_request::Request::Register(
            change_data_request::Register {},
        )),
        ..Default::default()
    }
}

/// Ends the registration `request_id` of `region_id` on TiKV.
pub(super) fn deregister_request(
    cluster_id: u64,
    region_id: u64,
    request_id: u64,
) -> ChangeDataRequest {
    ChangeDataRequest {
        header: header(cluster_id),
        region_id,
        request_id,
        request: Some(change_data_request::Request::Deregister(
            change_data_request::Deregister {},
        )),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::proto::cdcpb::event;

    /// A message of stream `key` numbered `n` (its region id) carrying `value_len` bytes.
    fn message(n: u64, value_len: usize) -> ChangeDataEvent {
        ChangeDataEvent {
            events: vec![cdcpb::Event {
                region_id: n,
                event: Some(event::Event::Entries(event::Entries {
                    entries: vec![event::Row {
                        value: vec![b'v'; value_len],
                        ..Default::default()
                    }],
                })),
                ..Default::default()
            }],
            resolved_ts: None,
        }
    }

    fn messages(count: u64, value_len: usize) -> Vec<Result<ChangeDataEvent, tonic::Status>> {
        (0..count).map(|n| Ok(message(n, value_len))).collect()
    }

    /// Lets the readers run until they wait.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    fn drain(rx: &mut mpsc::Receiver<StreamMsg>, into: &mut Vec<StreamMsg>) {
        while let Ok(m) = rx.try_recv() {
            into.push(m);
        }
    }

    #[tokio::test]
    async fn readers_wait_for_the_bytes_the_feed_gives_back_and_keep_stream_order() {
        // 1.5 KiB values: two 1 KiB units per message, so a 4 KiB budget holds two.
        let per_message = message(0, 1500).encoded_len();
        assert!((1025..=2048).contains(&per_message));
        let budget = EventBudget::new(4096);
        let (tx, mut rx) = mpsc::channel(STREAM_QUEUE);
        let (a, b) = ((1, 0), (2, 0));
        for key in [a, b] {
            let stream = tokio_stream::iter(messages(4, 1500));
            tokio::spawn(read(key, 7, stream, tx.clone(), budget.clone()));
        }
        drop(tx);

        let mut held = Vec::new();
        settle().await;
        drain(&mut rx, &mut held);
        assert_eq!(
            held.len(),
            2,
            "two messages fill the budget; the readers wait"
        );
        assert_eq!(budget.used(), 4096);

        // The feed handles messages one at a time, giving each one's bytes back after it.
        let mut order: HashMap<StreamKey, Vec<u64>> = HashMap::new();
        let mut ended = Vec::new();
        while !held.is_empty() {
            match held.remove(0) {
                StreamMsg::Event(key, ev, taken) => {
                    assert!(ended.iter().all(|k| *k != key), "nothing after the end");
                    order.entry(key).or_default().push(ev.events[0].region_id);
                    drop(taken);
                }
                StreamMsg::End(key, generation, detail) => {
                    assert_eq!((generation, detail.as_str()), (7, "stream closed"));
                    ended.push(key);
                }
            }
            settle().await;
            drain(&mut rx, &mut held);
            let queued = held
                .iter()
                .filter(|m| matches!(m, StreamMsg::Event(..)))
                .count();
            assert!(queued <= 2, "{queued} messages queued beyond the budget");
            assert_eq!(budget.used(), queued as u64 * 2048);
        }
        assert_eq!(order[&a], [0, 1, 2, 3]);
        assert_eq!(order[&b], [0, 1, 2, 3]);
        ended.sort_unstable();
        assert_eq!(ended, [a, b]);
        assert_eq!(budget.used(), 0);
        assert!(rx.recv().await.is_none(), "both readers returned");
    }

    #[tokio::test]
    async fn a_message_above_the_budget_goes_alone_and_a_waiting_reader_stops_with_the_feed() {
        // Every 3 KiB message takes the whole 1 KiB budget.
        let budget = EventBudget::new(1024);
        let (tx, mut rx) = mpsc::channel(STREAM_QUEUE);
        let stream = tokio_stream::iter(messages(3, 3000)).chain(tokio_stream::pending());
        let reader = tokio::spawn(read((1, 0), 1, stream, tx, budget.clone()));
        settle().await;
        let Some(StreamMsg::Event(_, first, taken)) = rx.recv().await else {
            panic!("the first message is forwarded");
        };
        assert_eq!(first.events[0].region_id, 0);
        assert_eq!(budget.used(), 1024);
        settle().await;
        assert!(rx.try_recv().is_err(), "the second waits for the budget");

        // The feed goes away while the reader waits (the first message still held).
        drop(rx);
        tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("the reader stops")
            .expect("no panic");
        drop(taken);
        assert_eq!(budget.used(), 0);
    }
}
