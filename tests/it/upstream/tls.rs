//! TLS and mutual TLS from the upstream client to PD and TiKV, against the emulator
//! serving TLS with a test CA made here with the `openssl` CLI: the feed delivers rows
//! over TLS and over mutual TLS, a missing client certificate and a wrong CA fail with an
//! error naming the endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tidb_changefeed::config::UpstreamTls;
use tidb_changefeed::upstream::UpstreamError;
use tidb_changefeed::upstream::feed::{Feed, FeedOptions, Span, UpstreamEvent};
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::{
    Emulator, EmulatorTls, Mutation, MutationOp, PrewriteOptions, ServeOptions, runner,
};
use tokio::sync::mpsc;

use super::feed::THREE_REGIONS;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed by this test");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate signed by
/// it, and an unrelated CA.
pub fn pki(dir: &Path) {
    for ca in ["ca", "wrong-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=tidb-changefeed-test-{ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
            ],
        );
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    for who in ["server", "client"] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={who}"),
                "-keyout",
                &format!("{who}.key"),
                "-out",
                &format!("{who}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{who}.ext"),
                "-out",
                &format!("{who}.crt"),
            ],
        );
    }
}

async fn emulator(dir: &Path, mutual: bool) -> Emulator {
    let s = Scenario::parse(THREE_REGIONS, "inline").expect("scenario");
    let cluster = runner::build_cluster(&s).expect("cluster");
    let read = |f: &str| std::fs::read(dir.join(f)).expect("pem");
    Emulator::start(
        cluster,
        ServeOptions {
            pd_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tick_interval: None,
            tls: Some(EmulatorTls {
                cert_pem: read("server.crt"),
                key_pem: read("server.key"),
                client_ca_pem: mutual.then(|| read("ca.crt")),
            }),
            pd_members: 1,
        },
    )
    .await
    .expect("emulator")
}

fn tls(dir: &Path, ca: &str, client: bool) -> UpstreamTls {
    let p = |f: &str| -> PathBuf { dir.join(f) };
    UpstreamTls {
        ca: p(ca),
        cert: client.then(|| p("client.crt")),
        key: client.then(|| p("client.key")),
    }
}

async fn start(
    emu: &Emulator,
    tls: UpstreamTls,
) -> Result<(Feed, mpsc::Receiver<UpstreamEvent>), UpstreamError> {
    let (tx, rx) = mpsc::channel(1024);
    let opts = FeedOptions {
        tls: Some(tls),
        connect_timeout: Duration::from_secs(5),
        ..FeedOptions::new(vec![emu.pd_addr().to_string()])
    };
    let (feed, _task) = Feed::start(opts, tx).await?;
    Ok((feed, rx))
}

/// Adds the whole key space, commits one row and waits for it and a resolved ts above it.
async fn delivers_a_row(emu: &Emulator, feed: &Feed, rx: &mut mpsc::Receiver<UpstreamEvent>) {
    let start_ts = emu.cluster().lock().next_ts();
    feed.add_span(
        Span {
            start: Vec::new(),
            end: Vec::new(),
        },
        start_ts,
    );
    for _ in 0..500 {
        if emu.cluster().lock().subscription_count() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        emu.cluster().lock().subscription_count(),
        3,
        "regions subscribed over TLS"
    );
    let commit_ts = {
        let mut m = emu.cluster().lock();
        let s = m.next_ts();
        let muts = [Mutation {
            key: b"c".to_vec(),
            op: MutationOp::Put(b"tls".to_vec()),
        }];
        m.prewrite(s, b"c", &muts, PrewriteOptions::default())
            .expect("prewrite");
        let c = m.next_ts();
        m.commit(s, c, &[b"c".to_vec()]).expect("commit");
        c
    };
    let mut row = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no row/resolved ts over TLS"
        );
        emu.cluster().lock().tick_resolved_ts();
        match tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            Ok(Some(UpstreamEvent::Row(r))) => {
                assert_eq!(
                    (r.key.as_slice(), r.value.as_slice(), r.commit_ts),
                    (&b"c"[..], &b"tls"[..], commit_ts)
                );
                row = true;
            }
            Ok(Some(UpstreamEvent::Resolved { ts, .. })) if ts >= commit_ts => {
                assert!(row, "resolved ts passed the commit without its row");
                return;
            }
            Ok(None) => panic!("feed ended"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn upstream_tls_feed_over_tls_and_mutual_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    pki(dir.path());

    // Server-authenticated TLS.
    let emu = emulator(dir.path(), false).await;
    let (feed, mut rx) = start(&emu, tls(dir.path(), "ca.crt", false))
        .await
        .expect("TLS feed starts");
    delivers_a_row(&emu, &feed, &mut rx).await;
    drop(feed);

    // Mutual TLS: with the client certificate it works.
    let emu = emulator(dir.path(), true).await;
    let (feed, mut rx) = start(&emu, tls(dir.path(), "ca.crt", true))
        .await
        .expect("mTLS feed starts");
    delivers_a_row(&emu, &feed, &mut rx).await;

    // Without one, PD refuses the client.
    let e = start(&emu, tls(dir.path(), "ca.crt", false))
        .await
        .expect_err("no client certificate");
    let msg = e.to_string();
    eprintln!("error as shown to the operator: {msg}");
    assert!(matches!(e, UpstreamError::PdUnreachable { .. }), "{msg}");
    assert!(
        msg.contains(&emu.pd_addr().to_string()),
        "names the endpoint: {msg}"
    );
}

#[tokio::test]
async fn upstream_tls_wrong_ca_fails_with_an_error_naming_the_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    pki(dir.path());
    let emu = emulator(dir.path(), false).await;
    let e = start(&emu, tls(dir.path(), "wrong-ca.crt", false))
        .await
        .expect_err("wrong CA");
    let msg = e.to_string();
    eprintln!("error as shown to the operator: {msg}");
    assert!(matches!(e, UpstreamError::PdUnreachable { .. }), "{msg}");
    assert!(
        msg.contains(&format!("https://{}", emu.pd_addr())),
        "names the endpoint: {msg}"
    );
    assert!(
        msg.to_lowercase().contains("certificate"),
        "says why: {msg}"
    );

    // A missing file is a configuration error naming the file.
    let e = start(&emu, tls(dir.path(), "nope.crt", false))
        .await
        .expect_err("missing CA file");
    assert!(matches!(e, UpstreamError::TlsConfig { .. }), "{e}");
    assert!(e.to_string().contains("nope.crt"), "{e}");
}
