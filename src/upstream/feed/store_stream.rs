//! The store streams of a feed: **one** EventFeedV2 stream per TiKV store shared by every
//! span (`stream-multiplexing`), or, on a store that answers V2 with `Unimplemented`, one
//! EventFeed V1 stream per store and span; one reader task per stream; and the requests
//! sent on them (Register, Deregister).
//!
//! Guarantees: a stream is opened at most once while its request half is open; every
//! stream gets a new generation, so the end of a stream already replaced is recognisable;
//! readers forward messages in stream order through one small bounded queue, so a slow
//! feed makes the streams wait (memory stays bounded); a reader stops after the stream's
//! end or when the feed is gone.

use std::collections::{HashMap, HashSet};

use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::CLIENT_VERSION;
use crate::proto::cdcpb::{
    self, ChangeDataEvent, ChangeDataRequest, change_data_client::ChangeDataClient,
    change_data_request,
};
use crate::proto::{kvrpcpb, metapb};
use crate::upstream::error::UpstreamError;
use crate::upstream::pd::PdClient;

/// Store-stream messages queued for the feed before the streams wait (back-pressure). They
/// sit outside the memory quota (a message may carry megabytes of PREWRITE values); fewer
/// (4 or 8) cost the e2e bench about a fifth more CPU per row in wake-ups.
const STREAM_QUEUE: usize = 16;

/// A store stream: the store, and the span owning it for a V1 stream (0 = shared V2).
pub(super) type StreamKey = (u64, u64);

/// The request half of a stream.
pub(super) type RequestTx = mpsc::UnboundedSender<ChangeDataRequest>;

/// Messages of the store streams, in stream order.
pub(super) enum StreamMsg {
    Event(StreamKey, ChangeDataEvent),
    /// Stream, generation, detail.
    End(StreamKey, u64, String),
}

pub(super) struct Streams {
    ev_tx: mpsc::Sender<StreamMsg>,
    /// Stream → (generation, request sender).
    open: HashMap<StreamKey, (u64, RequestTx)>,
    /// Stores answering EventFeedV2 with `Unimplemented`.
    v1_stores: HashSet<u64>,
    generation: u64,
}

impl Streams {
    /// No stream yet, and the receiver of every stream's messages.
    pub fn new() -> (Self, mpsc::Receiver<StreamMsg>) {
        let (ev_tx, ev_rx) = mpsc::channel(STREAM_QUEUE);
        let streams = Streams {
            ev_tx,
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
        mut stream: tonic::Streaming<ChangeDataEvent>,
    ) {
        let tx = self.ev_tx.clone();
        tokio::spawn(async move {
            loop {
                let msg = match stream.message().await {
                    Ok(Some(ev)) => StreamMsg::Event(key, ev),
                    Ok(None) => StreamMsg::End(key, generation, "stream closed".into()),
                    Err(s) => StreamMsg::End(key, generation, s.to_string()),
                };
                let end = matches!(msg, StreamMsg::End(..));
                if tx.send(msg).await.is_err() || end {
                    return;
                }
            }
        });
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
