//! Reads back what the daemon delivered — the stdout sink's file, or every partition of the
//! Kafka topic — and tallies the Canal-JSON messages: rows by type, DDLs, rows carrying the
//! column the mid-run DDL added.

use std::time::Duration;

use rskafka::client::ClientBuilder;
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};

/// What the sink holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
    /// DDL messages (TiCDC writes one to every partition of the topic).
    pub ddls: u64,
    /// Rows whose data has the `extra` column (written after the DDL).
    pub with_extra: u64,
    /// Messages that are not Canal-JSON rows or DDLs (none expected).
    pub other: u64,
}

impl Tally {
    pub fn rows(&self) -> u64 {
        self.inserts + self.updates + self.deletes
    }

    /// Adds one Canal-JSON message.
    pub fn add(&mut self, message: &[u8]) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(message) else {
            self.other += 1;
            return;
        };
        if v["isDdl"].as_bool() == Some(true) {
            self.ddls += 1;
            return;
        }
        let rows = v["data"].as_array().map_or(0, Vec::len) as u64;
        let extra = v["data"]
            .as_array()
            .map_or(0, |d| d.iter().filter(|r| !r["extra"].is_null()).count())
            as u64;
        self.with_extra += extra;
        match v["type"].as_str() {
            Some("INSERT") => self.inserts += rows,
            Some("UPDATE") => self.updates += rows,
            Some("DELETE") => self.deletes += rows,
            _ => self.other += 1,
        }
    }
}

/// Tallies the stdout sink's file (one message a line).
pub fn file(path: &std::path::Path) -> std::io::Result<Tally> {
    let text = std::fs::read(path)?;
    let mut t = Tally::default();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        t.add(line);
    }
    Ok(t)
}

/// Tallies every record of every partition of `topic`.
pub async fn kafka(bootstrap: &str, topic: &str) -> Result<Tally, String> {
    let client = ClientBuilder::new(vec![bootstrap.to_string()])
        .build()
        .await
        .map_err(|e| format!("cannot connect to Kafka at {bootstrap}: {e}"))?;
    let topics = client.list_topics().await.map_err(|e| e.to_string())?;
    let partitions = topics
        .into_iter()
        .find(|t| t.name == topic)
        .map(|t| t.partitions)
        .ok_or_else(|| format!("topic {topic} does not exist"))?;
    let mut t = Tally::default();
    for p in partitions {
        let pc = client
            .partition_client(topic, p, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| e.to_string())?;
        let end = pc
            .get_offset(OffsetAt::Latest)
            .await
            .map_err(|e| e.to_string())?;
        let mut offset = pc
            .get_offset(OffsetAt::Earliest)
            .await
            .map_err(|e| e.to_string())?;
        while offset < end {
            let (records, _) = tokio::time::timeout(
                Duration::from_secs(30),
                pc.fetch_records(offset, 1..50_000_000, 1_000),
            )
            .await
            .map_err(|_| format!("reading {topic}/{p} at offset {offset} timed out"))?
            .map_err(|e| e.to_string())?;
            if records.is_empty() {
                break;
            }
            for r in records {
                offset = offset.max(r.offset + 1);
                if let Some(v) = &r.record.value {
                    t.add(v);
                }
            }
        }
    }
    Ok(t)
}
