//! Runs the emulated cluster on loopback: one PD server and one gRPC server per
//! store (CDC + KV services; TiFlash stores serve KV only), plus the optional
//! resolved-ts ticker; store outages and restarts.
//!
//! Guarantees: each store listens on its own address, the one PD reports; a
//! stopped store breaks its streams with `UNAVAILABLE`, closes its listener
//! (connections are refused) and stays listed by PD; a restarted store listens on
//! the same address with the same regions and data. With [`ServeOptions::tls`] every
//! server (PD and stores) speaks TLS only, PD advertises `https://` client URLs, and a
//! client CA makes client certificates mandatory (mutual TLS).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

use crate::EmulatorError;
use crate::cdc_service::CdcService;
use crate::cluster::Cluster;
use crate::kv_service::KvService;
use crate::pd_service::PdService;
use crate::proto::cdcpb::change_data_server::ChangeDataServer;
use crate::proto::pdpb::pd_server::PdServer;
use crate::proto::tikvpb::tikv_server::TikvServer;

/// Runtime options.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// PD listen address (`127.0.0.1:0` picks a port).
    pub pd_addr: SocketAddr,
    /// Resolved-ts tick interval (TiKV `cdc.min-ts-interval`, 1 s); `None` = only
    /// manual ticks (deterministic tests).
    pub tick_interval: Option<Duration>,
    /// TLS for every server; `None` = plain text.
    pub tls: Option<EmulatorTls>,
    /// Number of PD members (≥ 1): the first listens on `pd_addr` and leads at start;
    /// the others listen on fresh loopback ports and answer `not leader` until
    /// [`Model::set_pd_leader`](super::cluster::Model::set_pd_leader) makes them lead.
    pub pd_members: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            pd_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tick_interval: Some(Duration::from_secs(1)),
            tls: None,
            pd_members: 1,
        }
    }
}

/// Server TLS material (PEM).
#[derive(Debug, Clone)]
pub struct EmulatorTls {
    /// Server certificate chain (must name the listen address, e.g. `IP:127.0.0.1`).
    pub cert_pem: Vec<u8>,
    /// Its private key.
    pub key_pem: Vec<u8>,
    /// CA that client certificates must chain to; `Some` = mutual TLS required.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl EmulatorTls {
    fn server_config(&self) -> tonic::transport::ServerTlsConfig {
        let mut c = tonic::transport::ServerTlsConfig::new().identity(
            tonic::transport::Identity::from_pem(&self.cert_pem, &self.key_pem),
        );
        if let Some(ca) = &self.client_ca_pem {
            c = c.client_ca_root(tonic::transport::Certificate::from_pem(ca));
        }
        c
    }
}

fn server_builder(tls: Option<&EmulatorTls>) -> Result<tonic::transport::Server, EmulatorError> {
    let b = tonic::transport::Server::builder();
    match tls {
        Some(t) => b
            .tls_config(t.server_config())
            .map_err(|e| EmulatorError::Tls(e.to_string())),
        None => Ok(b),
    }
}

#[derive(Debug)]
struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// A running emulated cluster.
#[derive(Debug)]
pub struct Emulator {
    cluster: Cluster,
    pd_addr: SocketAddr,
    pd_addrs: Vec<SocketAddr>,
    pds: Vec<Running>,
    stores: HashMap<u64, Running>,
    store_addrs: HashMap<u64, SocketAddr>,
    ticker: Option<JoinHandle<()>>,
    tls: Option<EmulatorTls>,
}

/// The connections of `listener`, each with `TCP_NODELAY` set as TiKV (gRPC C core) and PD
/// (Go) set it: without it a response written in several small pieces waits for the
/// client's delayed ACK (about 40 ms per unary call on Linux loopback).
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        conn.set_nodelay(true)?;
        Ok(conn)
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, EmulatorError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| EmulatorError::Bind { addr, source })
}

fn serve_store(
    cluster: &Cluster,
    store: u64,
    tiflash: bool,
    listener: TcpListener,
    tls: Option<&EmulatorTls>,
) -> Result<Running, EmulatorError> {
    let (tx, rx) = oneshot::channel::<()>();
    let kv = TikvServer::new(KvService::new(cluster.clone(), store));
    let cdc = (!tiflash).then(|| ChangeDataServer::new(CdcService::new(cluster.clone(), store)));
    let mut builder = server_builder(tls)?;
    let task = tokio::spawn(async move {
        let r = builder
            .add_service(kv)
            .add_optional_service(cdc)
            .serve_with_incoming_shutdown(incoming(listener), async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(store, error = %e, "emulated store server failed");
        }
    });
    Ok(Running {
        shutdown: Some(tx),
        task,
    })
}

/// Serves PD member `i + 1` of `pd_addrs` on `listener`.
fn serve_pd(
    cluster: &Cluster,
    i: usize,
    pd_addrs: &[SocketAddr],
    listener: TcpListener,
    tls: Option<&EmulatorTls>,
) -> Result<Running, EmulatorError> {
    let (tx, rx) = oneshot::channel::<()>();
    let member_id = u64::try_from(i).unwrap_or(u64::MAX - 1) + 1;
    let pd = PdServer::new(
        PdService::new(cluster.clone(), pd_addrs[i].to_string())
            .with_tls(tls.is_some())
            .with_member(member_id),
    );
    let mut builder = server_builder(tls)?;
    let task = tokio::spawn(async move {
        let r = builder
            .add_service(pd)
            .serve_with_incoming_shutdown(incoming(listener), async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "emulated PD server failed");
        }
    });
    Ok(Running {
        shutdown: Some(tx),
        task,
    })
}

impl Emulator {
    /// Bind every store and PD on loopback and start serving `cluster`.
    pub async fn start(cluster: Cluster, opts: ServeOptions) -> Result<Self, EmulatorError> {
        let store_ids: Vec<(u64, bool)> = cluster
            .lock()
            .topo
            .stores
            .values()
            .map(|s| (s.id, s.tiflash))
            .collect();
        let mut stores = HashMap::new();
        let mut store_addrs = HashMap::new();
        for (id, tiflash) in store_ids {
            let l = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            let addr = l.local_addr()?;
            if let Some(s) = cluster.lock().topo.stores.get_mut(&id) {
                s.address = addr.to_string();
                s.up = true;
            }
            store_addrs.insert(id, addr);
            stores.insert(
                id,
                serve_store(&cluster, id, tiflash, l, opts.tls.as_ref())?,
            );
        }
        let mut listeners = vec![bind(opts.pd_addr).await?];
        for _ in 1..opts.pd_members.max(1) {
            listeners.push(bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?);
        }
        let mut pd_addrs = Vec::new();
        for l in &listeners {
            pd_addrs.push(l.local_addr()?);
        }
        let pd_addr = pd_addrs[0];
        cluster
            .lock()
            .set_pd_members(pd_addrs.iter().map(ToString::to_string).collect());
        let mut pds = Vec::new();
        for (i, l) in listeners.into_iter().enumerate() {
            pds.push(serve_pd(&cluster, i, &pd_addrs, l, opts.tls.as_ref())?);
        }
        let ticker = opts.tick_interval.map(|every| {
            let c = cluster.clone();
            tokio::spawn(async move {
                let mut iv = tokio::time::interval(every);
                iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    iv.tick().await;
                    let mut m = c.lock();
                    // TiKV takes each round's min ts from PD's TSO (reference/upstream.md
                    // §1.8): with PD down, resolved ts stop advancing.
                    if !m.pd_stopped() {
                        m.tick_resolved_ts();
                    }
                }
            })
        });
        Ok(Self {
            cluster,
            pd_addr,
            pd_addrs,
            pds,
            stores,
            store_addrs,
            ticker,
            tls: opts.tls,
        })
    }

    /// The shared model.
    #[must_use]
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// PD address (`host:port`).
    #[must_use]
    pub fn pd_addr(&self) -> SocketAddr {
        self.pd_addr
    }

    /// Addresses of every PD member, member id `i + 1` at index `i`.
    #[must_use]
    pub fn pd_addrs(&self) -> &[SocketAddr] {
        &self.pd_addrs
    }

    /// Address of a store.
    #[must_use]
    pub fn store_addr(&self, store: u64) -> Option<SocketAddr> {
        self.store_addrs.get(&store).copied()
    }

    /// Crash a store: break its streams with `UNAVAILABLE` and stop listening.
    pub async fn stop_store(&mut self, store: u64) -> Result<(), EmulatorError> {
        let running = self
            .stores
            .remove(&store)
            .ok_or(EmulatorError::UnknownStore(store))?;
        {
            let mut m = self.cluster.lock();
            m.set_store_up(store, false);
            m.break_store_streams(store, &tonic::Status::unavailable("store is down"));
        }
        running.stop().await;
        Ok(())
    }

    /// Remove a store from the cluster for good (`pd-ctl store delete`, then buried): it
    /// stops as [`Emulator::stop_store`] does, and PD reports it a tombstone from now on
    /// (see `Model::set_store_tombstone`). The regions it leads keep naming it until they
    /// are moved.
    pub async fn remove_store(&mut self, store: u64) -> Result<(), EmulatorError> {
        if !self.store_addrs.contains_key(&store) {
            return Err(EmulatorError::UnknownStore(store));
        }
        // PD says tombstone before the store goes, so nothing dials it after it went.
        self.cluster.lock().set_store_tombstone(store);
        if self.stores.contains_key(&store) {
            self.stop_store(store).await?;
        }
        Ok(())
    }

    /// Bring a stopped store back on its old address.
    pub async fn start_store(&mut self, store: u64) -> Result<(), EmulatorError> {
        if self.stores.contains_key(&store) {
            return Ok(());
        }
        if self
            .cluster
            .lock()
            .topo
            .stores
            .get(&store)
            .is_some_and(|s| s.tombstone)
        {
            return Err(EmulatorError::StoreTombstone(store));
        }
        let addr = self
            .store_addrs
            .get(&store)
            .copied()
            .ok_or(EmulatorError::UnknownStore(store))?;
        let tiflash = self
            .cluster
            .lock()
            .topo
            .stores
            .get(&store)
            .is_some_and(|s| s.tiflash);
        let mut tries = 0;
        let l = loop {
            match bind(addr).await {
                Ok(l) => break l,
                Err(e) if tries >= 50 => return Err(e),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        self.cluster.lock().set_store_up(store, true);
        let running = serve_store(&self.cluster, store, tiflash, l, self.tls.as_ref())?;
        self.stores.insert(store, running);
        Ok(())
    }

    /// Stop every PD member (connections refused; TiKV's resolved ts stop advancing, as
    /// TiKV takes its min ts from PD's TSO). Stores keep serving their streams.
    pub async fn stop_pd(&mut self) {
        self.cluster.lock().set_pd_stopped(true);
        for pd in std::mem::take(&mut self.pds) {
            pd.stop().await;
        }
    }

    /// Bring every PD member back on its old address.
    pub async fn start_pd(&mut self) -> Result<(), EmulatorError> {
        if !self.pds.is_empty() {
            return Ok(());
        }
        for (i, addr) in self.pd_addrs.clone().into_iter().enumerate() {
            let mut tries = 0;
            let l = loop {
                match bind(addr).await {
                    Ok(l) => break l,
                    Err(e) if tries >= 50 => return Err(e),
                    Err(_) => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            };
            let pd = serve_pd(&self.cluster, i, &self.pd_addrs, l, self.tls.as_ref())?;
            self.pds.push(pd);
        }
        self.cluster.lock().set_pd_stopped(false);
        Ok(())
    }

    /// Stop every server and the ticker.
    pub async fn shutdown(mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        let ids: Vec<u64> = self.stores.keys().copied().collect();
        for id in ids {
            let _ = self.stop_store(id).await;
        }
        for pd in std::mem::take(&mut self.pds) {
            pd.stop().await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        for (_, mut r) in self.stores.drain() {
            if let Some(tx) = r.shutdown.take() {
                let _ = tx.send(());
            }
            r.task.abort();
        }
        for mut pd in self.pds.drain(..) {
            if let Some(tx) = pd.shutdown.take() {
                let _ = tx.send(());
            }
            pd.task.abort();
        }
    }
}
