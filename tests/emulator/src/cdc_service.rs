//! The emulated TiKV CDC gRPC service (`cdcpb.ChangeData`).
//!
//! Owns stream plumbing only: each call becomes one model connection whose
//! messages flow through an unbounded channel; requests are applied to the model
//! in arrival order. Guarantees, as TiKV: V2 fails with `UNIMPLEMENTED` on an old
//! store or an unknown `features` header entry; a client half-close deregisters the
//! connection and ends the response stream with OK; a `NotifyTxnStatus` request
//! (on which real TiKV panics) fails the stream.

use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::cluster::Cluster;
use crate::feed;
use crate::proto::cdcpb::change_data_server::ChangeData;
use tidb_changefeed::proto::cdcpb;

/// CDC service of one store.
#[derive(Debug, Clone)]
pub struct CdcService {
    cluster: Cluster,
    store: u64,
}

/// Response stream of both EventFeed methods.
pub type FeedStream = UnboundedReceiverStream<Result<cdcpb::ChangeDataEvent, Status>>;

impl CdcService {
    /// The CDC service of `store`.
    #[must_use]
    pub fn new(cluster: Cluster, store: u64) -> Self {
        Self { cluster, store }
    }

    fn open(&self, input: Streaming<cdcpb::ChangeDataRequest>, multiplexing: bool) -> FeedStream {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let conn = self
            .cluster
            .lock()
            .open_conn(self.store, tx.clone(), multiplexing);
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            let mut input = input;
            loop {
                match input.message().await {
                    Ok(Some(req)) => {
                        let mut m = cluster.lock();
                        if !m.conn_alive(conn) {
                            break;
                        }
                        if !m.handle_request(conn, &req) {
                            let _ = tx.send(Err(Status::unknown(
                                "NotifyTxnStatus is not supported (TiKV treats it as unreachable)",
                            )));
                            m.close_conn(conn);
                            break;
                        }
                    }
                    Ok(None) | Err(_) => {
                        cluster.lock().close_conn(conn);
                        break;
                    }
                }
            }
        });
        UnboundedReceiverStream::new(rx)
    }
}

#[tonic::async_trait]
impl ChangeData for CdcService {
    type EventFeedStream = FeedStream;

    async fn event_feed(
        &self,
        req: Request<Streaming<cdcpb::ChangeDataRequest>>,
    ) -> Result<Response<Self::EventFeedStream>, Status> {
        Ok(Response::new(self.open(req.into_inner(), false)))
    }

    type EventFeedV2Stream = FeedStream;

    async fn event_feed_v2(
        &self,
        req: Request<Streaming<cdcpb::ChangeDataRequest>>,
    ) -> Result<Response<Self::EventFeedV2Stream>, Status> {
        let supports_v2 = self
            .cluster
            .lock()
            .topo
            .stores
            .get(&self.store)
            .is_some_and(|s| s.supports_v2);
        if !supports_v2 {
            return Err(Status::unimplemented(
                "unknown method EventFeedV2 for service cdcpb.ChangeData",
            ));
        }
        let header = req
            .metadata()
            .get("features")
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let multiplexing = feed::parse_feature_header(header).map_err(|unknown| {
            Status::unimplemented(format!(
                "the cluster does not support features: {}",
                unknown.join(",")
            ))
        })?;
        Ok(Response::new(self.open(req.into_inner(), multiplexing)))
    }
}
