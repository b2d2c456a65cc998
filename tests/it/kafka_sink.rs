//! The Kafka sink on the real broker: topics created as TiCDC creates them, ordered
//! per-partition delivery read back by kcat, the effective size limit from
//! DescribeConfigs, and exactly TiDB Cloud's ACL set (Create and Write on the topics,
//! DescribeConfigs on the cluster) for a non-super user — with each missing ACL named.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::partition::Compression;
use tidb_changefeed::config::SaslMechanism;
use tidb_changefeed::sink::ack::AckTracker;
use tidb_changefeed::sink::kafka::{
    ConnectOptions, Kafka, KafkaError, Message, Producer, ProducerSettings, TopicPolicy, Topics,
    connect,
};

use crate::kafka_env::{KcatAuth, kafka, kcat_consume};
use crate::support::unique;

fn settings() -> ProducerSettings {
    ProducerSettings {
        compression: Compression::Lz4,
        max_message_bytes: 10 << 20,
        max_retry: 5,
        request_timeout: Duration::from_secs(10),
        batch_size: None,
        queue_bytes: None,
        total_queue_bytes: None,
        linger: Duration::from_millis(5),
        fence: Default::default(),
    }
}

fn policy() -> TopicPolicy {
    TopicPolicy {
        partition_num: None,
        replication_factor: 1,
        auto_create: true,
        timeout: Duration::from_secs(10),
    }
}

async fn open(
    opts: &ConnectOptions<'_>,
) -> Result<(Arc<Topics>, Producer, AckTracker), KafkaError> {
    let Kafka { client, admin } = connect(opts).await?;
    let client = Arc::new(client);
    let topics = Arc::new(Topics::new(Arc::clone(&client), admin.clone(), policy()));
    let tracker = AckTracker::new();
    let producer = Producer::new(client, admin, settings(), tracker.clone());
    Ok((topics, producer, tracker))
}

fn msg(key: &str, value: String, tracker: &AckTracker, commit_ts: u64) -> Message {
    Message {
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.into_bytes()),
        headers: BTreeMap::new(),
        tickets: vec![tracker.submit(1, commit_ts)],
    }
}

#[tokio::test]
async fn topics_are_created_with_three_partitions_and_order_holds_per_partition() {
    let env = kafka();
    let brokers = vec![env.plaintext.clone()];
    let (topics, producer, tracker) = open(&ConnectOptions::plain(&brokers))
        .await
        .expect("connect");
    let topic = unique("it_sink_order");
    assert_eq!(
        topics.ensure(&topic).await.expect("create"),
        3,
        "TiCDC creates 3 partitions"
    );
    assert_eq!(topics.ensure(&topic).await.expect("cached"), 3);
    tracker.register(1, 0);
    let limit = producer.max_message_bytes(&topic).await.expect("limit");
    assert_eq!(
        limit,
        1_048_588 - 128,
        "broker message.max.bytes (default) minus TiCDC's 128"
    );

    let per_partition = 400;
    for i in 0..per_partition {
        for p in 0..3 {
            let m = msg(
                &format!("p{p}"),
                format!("{p}:{i}"),
                &tracker,
                100 + i as u64,
            );
            producer.send(&topic, p, m).await.expect("send");
        }
    }
    tracker.resolve(1, 100 + per_partition as u64);
    producer.flush().await.expect("flush");
    assert_eq!(tracker.in_flight(), 0);
    assert_eq!(tracker.progress(1), Some(100 + per_partition as u64));

    let got = kcat_consume(&env.plaintext, &KcatAuth::Plain, &topic, 3 * per_partition);
    assert_eq!(got.len(), 3 * per_partition);
    for p in 0..3 {
        let values: Vec<String> = got
            .iter()
            .filter(|m| m.partition == p)
            .map(|m| m.payload.clone().unwrap_or_default())
            .collect();
        let expected: Vec<String> = (0..per_partition).map(|i| format!("{p}:{i}")).collect();
        assert_eq!(values, expected, "partition {p} order");
    }
}

#[tokio::test]
async fn a_missing_topic_is_an_error_when_auto_create_is_off() {
    let env = kafka();
    let brokers = vec![env.plaintext.clone()];
    let Kafka { client, admin } = connect(&ConnectOptions::plain(&brokers))
        .await
        .expect("connect");
    let mut p = policy();
    p.auto_create = false;
    let topics = Topics::new(Arc::new(client), admin, p);
    let topic = unique("it_sink_absent");
    let err = topics.ensure(&topic).await.expect_err("must not create");
    assert!(matches!(err, KafkaError::TopicMissing { .. }), "{err}");
    assert!(
        err.to_string().contains("auto-create-topic = false"),
        "{err}"
    );
}

#[tokio::test]
async fn an_oversized_message_is_refused_before_sending() {
    let env = kafka();
    let brokers = vec![env.plaintext.clone()];
    let Kafka { client, admin } = connect(&ConnectOptions::plain(&brokers))
        .await
        .expect("connect");
    let client = Arc::new(client);
    let topics = Topics::new(Arc::clone(&client), admin.clone(), policy());
    let tracker = AckTracker::new();
    // Without compression the uncompressed size is what the broker sees (with it, this
    // value would fit: tests/it/large_messages.rs covers the compressed rule).
    let producer = Producer::new(
        client,
        admin,
        ProducerSettings {
            compression: Compression::NoCompression,
            ..settings()
        },
        tracker.clone(),
    );
    let topic = unique("it_sink_big");
    topics.ensure(&topic).await.expect("create");
    let big = "x".repeat(1_100_000);
    let err = producer
        .send(&topic, 0, msg("k", big, &tracker, 1))
        .await
        .expect_err("too large");
    assert!(
        matches!(
            err,
            KafkaError::MessageTooLarge {
                limit: 1_048_460,
                ..
            }
        ),
        "{err}"
    );
}

fn acl(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("acl")
        .args(args)
        .output()
        .expect("kafka.sh acl runs");
    assert!(
        out.status.success(),
        "kafka.sh acl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Retries `f` until it returns Some or 20 s pass (ACL changes take a moment to apply).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

#[tokio::test]
async fn tidb_cloud_acls_suffice_and_each_missing_one_is_named() {
    let env = kafka();
    let user = env.user.clone();
    let principal = format!("User:{user}");
    let prefix = unique("acl");
    let brokers = vec![env.sasl_plaintext.clone()];
    let opts = ConnectOptions::plain(&brokers).with_sasl(
        SaslMechanism::ScramSha512,
        &env.user,
        &env.password,
    );
    let topic_ops = ["--operation", "Create", "--operation", "Write"];
    let on_topics = [
        "--resource-pattern-type",
        "prefixed",
        "--topic",
        prefix.as_str(),
    ];
    let grant = |ops: &[&str], target: &[&str]| {
        let mut a = vec!["--add", "--allow-principal", principal.as_str()];
        a.extend_from_slice(ops);
        a.extend_from_slice(target);
        acl(&a);
    };
    let revoke = |ops: &[&str], target: &[&str]| {
        let mut a = vec![
            "--remove",
            "--force",
            "--allow-principal",
            principal.as_str(),
        ];
        a.extend_from_slice(ops);
        a.extend_from_slice(target);
        acl(&a);
    };
    grant(&topic_ops, &on_topics);
    grant(&["--operation", "DescribeConfigs"], &["--cluster"]);

    // Everything TiDB Cloud asks for: create, learn the size limit, write, read back.
    let ok_topic = format!("{prefix}_ok");
    let (topics, producer, tracker) = open(&opts).await.expect("alice logs in");
    let n = eventually("create as alice", || async {
        topics.ensure(&ok_topic).await.map_err(|e| e.to_string())
    })
    .await;
    assert_eq!(n, 3);
    let limit = producer
        .max_message_bytes(&ok_topic)
        .await
        .expect("broker limit with DescribeConfigs on the cluster");
    assert_eq!(limit, 1_048_460);
    for i in 0..5 {
        producer
            .send(&ok_topic, 1, msg("k", format!("v{i}"), &tracker, i))
            .await
            .expect("send");
    }
    producer.flush().await.expect("alice writes");
    let got = kcat_consume(&env.plaintext, &KcatAuth::Plain, &ok_topic, 5);
    assert_eq!(
        got.iter()
            .map(|m| m.payload.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["v0", "v1", "v2", "v3", "v4"]
    );

    // Without Create.
    revoke(&["--operation", "Create"], &on_topics);
    let t = format!("{prefix}_nocreate");
    let err = eventually("Create denied", || async {
        let (topics, _, _) = open(&opts).await.map_err(|e| e.to_string())?;
        match topics.ensure(&t).await {
            Err(e @ KafkaError::Denied { .. }) => Ok(e),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(
        err.to_string(),
        format!(
            "Kafka denied Create on topic {t} for {principal}: grant Create on Topic {t}, or create the topic and set auto-create-topic = false"
        )
    );
    grant(&["--operation", "Create"], &on_topics);

    // Without Write.
    revoke(&["--operation", "Write"], &on_topics);
    let t = format!("{prefix}_nowrite");
    let err = eventually("Write denied", || async {
        let (topics, _, _) = open(&opts).await.map_err(|e| e.to_string())?;
        match topics.ensure(&t).await {
            Err(
                e @ KafkaError::Denied {
                    operation: "Write", ..
                },
            ) => Ok(e),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        err.to_string().starts_with(&format!(
            "Kafka denied Write on topic {t} for {principal}: "
        )),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("grant Write on Topic {t}")),
        "{err}"
    );
    grant(&["--operation", "Write"], &on_topics);

    // Without DescribeConfigs on the cluster.
    revoke(&["--operation", "DescribeConfigs"], &["--cluster"]);
    let t = format!("{prefix}_nodescribe");
    let err = eventually("DescribeConfigs denied", || async {
        let (topics, producer, _) = open(&opts).await.map_err(|e| e.to_string())?;
        topics.ensure(&t).await.map_err(|e| e.to_string())?;
        match producer.max_message_bytes(&t).await {
            Err(e @ KafkaError::Denied { .. }) => Ok(e),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        err.to_string().starts_with(&format!("Kafka denied DescribeConfigs on the cluster for {principal}: grant DescribeConfigs on the Cluster")),
        "{err}"
    );

    revoke(&topic_ops, &on_topics);
}

#[tokio::test]
async fn refresh_sees_partitions_added_to_a_topic() {
    let env = kafka();
    let brokers = vec![env.plaintext.clone()];
    let Kafka { client, admin } = connect(&ConnectOptions::plain(&brokers))
        .await
        .expect("connect");
    let topics = Arc::new(Topics::new(Arc::new(client), admin, policy()));
    let topic = unique("it_sink_grow");
    assert_eq!(topics.ensure(&topic).await.expect("create"), 3);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh");
    let out = Command::new("bash")
        .args([
            script,
            "topics",
            "--alter",
            "--topic",
            &topic,
            "--partitions",
            "5",
        ])
        .output()
        .expect("kafka.sh topics runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        topics.ensure(&topic).await.expect("cached"),
        3,
        "cached until refreshed"
    );
    let refresher = topics.spawn_refresh(Duration::from_millis(200));
    let deadline = Instant::now() + Duration::from_secs(20);
    while topics.ensure(&topic).await.expect("ensure") != 5 {
        assert!(
            Instant::now() < deadline,
            "the periodic refresh never saw 5 partitions"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    refresher.abort();
}

#[tokio::test]
async fn a_tiny_total_queue_budget_shared_by_three_partitions_still_delivers_in_order() {
    let env = kafka();
    let brokers = vec![env.plaintext.clone()];
    let Kafka { client, admin } = connect(&ConnectOptions::plain(&brokers))
        .await
        .expect("connect");
    let client = Arc::new(client);
    let topics = Topics::new(Arc::clone(&client), admin.clone(), policy());
    let tracker = AckTracker::new();
    let producer = Producer::new(
        client,
        admin,
        ProducerSettings {
            // Two 1 KiB messages queued at a time over all partitions.
            total_queue_bytes: Some(2 << 10),
            ..settings()
        },
        tracker.clone(),
    );
    let topic = unique("it_sink_total_queue");
    assert_eq!(topics.ensure(&topic).await.expect("create"), 3);
    tracker.register(1, 0);
    let per_partition = 200;
    let mut senders = Vec::new();
    for p in 0..3 {
        let handle = producer.partition(&topic, p).await.expect("handle");
        let tracker = tracker.clone();
        senders.push(tokio::spawn(async move {
            for i in 0..per_partition {
                let value = format!("{p}:{i}:{}", "x".repeat(1000));
                let m = msg(&format!("p{p}"), value, &tracker, 100 + i as u64);
                handle.send(m).await.expect("send");
            }
        }));
    }
    for s in senders {
        s.await.expect("sender");
    }
    tracker.resolve(1, 100 + per_partition as u64);
    producer.flush().await.expect("flush");
    assert_eq!(tracker.in_flight(), 0);
    let got = kcat_consume(&env.plaintext, &KcatAuth::Plain, &topic, 3 * per_partition);
    for p in 0..3 {
        let order: Vec<String> = got
            .iter()
            .filter(|m| m.partition == p)
            .filter_map(|m| {
                m.payload
                    .as_deref()?
                    .rsplit_once(':')
                    .map(|(h, _)| h.to_string())
            })
            .collect();
        let expected: Vec<String> = (0..per_partition).map(|i| format!("{p}:{i}")).collect();
        assert_eq!(order, expected, "partition {p} order");
    }
}
