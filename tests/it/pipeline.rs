//! Sequencer tests (with its workers and emitter) with fixed schemas and the memory output: release order, the DDL
//! barrier, subscriptions following DDLs, filters and progress.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tidb_changefeed::model::{ActionType, TableInfo};

use tidb_changefeed::codec::canal_json::{CanalJsonConfig, CanalJsonEncoder};
use tidb_changefeed::codec::open::message::events;
use tidb_changefeed::codec::open::{OpenConfig, OpenEncoder};
use tidb_changefeed::codec::{BoxFuture, Encoder, FixedClock, Record};
use tidb_changefeed::dispatch::{DispatchRule, EventRouter};
use tidb_changefeed::event::{KvChange, OpType, TableMeta};
use tidb_changefeed::filter::{ColumnSelectors, EventFilters, EventRuleSpec, TableFilter};
use tidb_changefeed::mount::key::encode_record_key;
use tidb_changefeed::mount::{Handle, TimeZone};
use tidb_changefeed::pipeline::output::Output;
use tidb_changefeed::pipeline::schemas::{JobOrder, Schemas};
use tidb_changefeed::pipeline::sequencer::{Downstream, Sequencer, Settings};
use tidb_changefeed::pipeline::subscriptions::{Subscriptions, table_span};
use tidb_changefeed::pipeline::{
    Counters, Emitter, MemoryBudget, PipelineError, WorkerContext, Workers,
};
use tidb_changefeed::schema::{DDL_JOB_TABLE_ID, SchemaChange, TableVersion};
use tidb_changefeed::sink::ack::AckTracker;
use tidb_changefeed::sink::kafka::{Message, SizeLimit};
use tidb_changefeed::sink::large_message::LargeMessagePolicy;
use tidb_changefeed::upstream::feed::{Span, UpstreamEvent};
use tidb_changefeed_emulator::tidb::encode_row;

/// A message the memory output kept.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    topic: String,
    partition: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

/// Keeps every message; acknowledges at once.
#[derive(Debug)]
struct MemoryOutput {
    tracker: AckTracker,
    partitions: i32,
    sent: Mutex<Vec<Sent>>,
}

impl MemoryOutput {
    fn new(tracker: AckTracker, partitions: i32) -> Self {
        MemoryOutput {
            tracker,
            partitions,
            sent: Mutex::new(Vec::new()),
        }
    }

    fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
}

impl Output for MemoryOutput {
    fn partitions<'a>(&'a self, _topic: &'a str) -> BoxFuture<'a, Result<i32, PipelineError>> {
        Box::pin(std::future::ready(Ok(self.partitions)))
    }

    fn size_limit<'a>(
        &'a self,
        _topic: &'a str,
    ) -> BoxFuture<'a, Result<SizeLimit, PipelineError>> {
        Box::pin(std::future::ready(Ok(SizeLimit::uncompressed(10 << 20))))
    }

    fn send<'a>(
        &'a self,
        topic: &'a str,
        partition: i32,
        msg: Message,
    ) -> BoxFuture<'a, Result<(), PipelineError>> {
        self.sent.lock().unwrap().push(Sent {
            topic: topic.to_string(),
            partition,
            key: msg.key,
            value: msg.value,
        });
        self.tracker.ack(&msg.tickets);
        Box::pin(std::future::ready(Ok(())))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), PipelineError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

const T1: &str = r#"{"id":104,"name":{"O":"t","L":"t"},"charset":"utf8mb4","collate":"utf8mb4_bin",
 "cols":[
  {"id":1,"name":{"O":"id","L":"id"},"offset":0,"state":5,"origin_default":null,
   "type":{"Tp":8,"Flag":515,"Flen":20,"Decimal":0,"Charset":"binary","Collate":"binary","Elems":null}},
  {"id":2,"name":{"O":"name","L":"name"},"offset":1,"state":5,"origin_default":null,
   "type":{"Tp":15,"Flag":0,"Flen":32,"Decimal":0,"Charset":"utf8mb4","Collate":"utf8mb4_bin","Elems":null}}],
 "index_info":[],"state":5,"pk_is_handle":true,"is_common_handle":false,"max_col_id":2,"version":5}"#;

fn with_age(id: i64, name: &str) -> TableInfo {
    let mut t = TableInfo::from_json(T1.as_bytes()).unwrap();
    t.id = id;
    t.name.o = name.to_string();
    t.name.l = name.to_string();
    let mut age = t.columns[1].clone();
    age.id = 3;
    age.offset = 2;
    age.name.o = "age".into();
    age.name.l = "age".into();
    age.field_type.tp = 3;
    age.field_type.flen = 11;
    age.field_type.charset = "binary".into();
    age.field_type.collate = "binary".into();
    t.columns.push(age);
    t.max_col_id = 3;
    t
}

fn table(id: i64, name: &str) -> TableInfo {
    let mut t = TableInfo::from_json(T1.as_bytes()).unwrap();
    t.id = id;
    t.name.o = name.to_string();
    t.name.l = name.to_string();
    t
}

fn view(info: TableInfo, ts: u64) -> Arc<TableVersion> {
    Arc::new(TableVersion::new(2, Arc::from("test"), Arc::new(info), ts))
}

/// Fixed schemas: versions per physical id; a job row's value is `job id` as text and the
/// job's changes are given up front.
#[derive(Debug)]
struct Fixed {
    versions: BTreeMap<i64, Vec<Arc<TableVersion>>>,
    jobs: BTreeMap<i64, (u64, Vec<SchemaChange>)>,
    /// Finished ts of the last applied job (the snapshot ts before any).
    applied: u64,
    dropped: HashSet<i64>,
}

impl Default for Fixed {
    fn default() -> Self {
        Fixed {
            versions: BTreeMap::new(),
            jobs: BTreeMap::new(),
            applied: 100,
            dropped: HashSet::new(),
        }
    }
}

impl Schemas for Fixed {
    type Job = i64;
    fn job_from_row(&self, row: &KvChange) -> Result<Option<(JobOrder, i64)>, String> {
        let id: i64 = std::str::from_utf8(&row.value)
            .map_err(|e| e.to_string())?
            .parse()
            .map_err(|e: std::num::ParseIntError| e.to_string())?;
        let (ts, _) = self.jobs.get(&id).ok_or("unknown job")?;
        Ok(Some((
            JobOrder {
                finished_ts: *ts,
                job_id: id,
            },
            id,
        )))
    }
    fn table_at(&self, physical_id: i64, ts: u64) -> Option<Arc<TableVersion>> {
        self.versions
            .get(&physical_id)?
            .iter()
            .rev()
            .find(|v| v.version_ts <= ts)
            .cloned()
    }
    fn tables(&self) -> Vec<Arc<TableVersion>> {
        self.versions
            .iter()
            .filter(|(id, _)| !self.dropped.contains(id))
            .filter_map(|(_, v)| {
                v.iter()
                    .rev()
                    .find(|v| v.version_ts <= self.applied)
                    .cloned()
            })
            .collect()
    }
    fn apply(&mut self, job: &i64) -> Result<Vec<SchemaChange>, String> {
        let Some((ts, changes)) = self.jobs.get(job).cloned() else {
            return Ok(Vec::new());
        };
        self.applied = ts;
        for c in &changes {
            self.dropped.extend(c.removed_physical.iter().copied());
        }
        Ok(changes)
    }
    fn gc(&mut self, _below_ts: u64) {}
}

#[derive(Debug, Clone, Default)]
struct Subs(Arc<Mutex<Vec<(bool, Span, u64)>>>);

impl Subscriptions for Subs {
    fn add(&mut self, span: Span, start_ts: u64) {
        self.0.lock().unwrap().push((true, span, start_ts));
    }
    fn remove(&mut self, span: &Span) {
        self.0.lock().unwrap().push((false, span.clone(), 0));
    }
}

/// Where a test sequencer's rows go: its output, encoder, router and jobs memory share.
struct Sink {
    out: Arc<dyn Output>,
    encoder: Arc<dyn Encoder>,
    router: EventRouter,
    jobs_memory: u64,
}

/// A sequencer with its worker group and emitter (on their own tasks) writing to `sink`.
fn sequencer(
    settings: Settings,
    schemas: Fixed,
    subs: Box<dyn Subscriptions>,
    sink: Sink,
    tracker: AckTracker,
) -> Sequencer<Fixed> {
    let Sink {
        out,
        encoder,
        router,
        jobs_memory,
    } = sink;
    let router = Arc::new(router);
    let counters = Counters::new();
    let workers = Workers::new(
        WorkerContext {
            encoder: Arc::clone(&encoder),
            router: Arc::clone(&router),
            large_messages: LargeMessagePolicy::Fail,
            output_raw_change_event: settings.output_raw_change_event,
        },
        2,
        MemoryBudget::new(jobs_memory),
    );
    let (steps, _emitter) = Emitter::new(
        "cf",
        Arc::clone(&out),
        encoder,
        router,
        tracker.clone(),
        counters.clone(),
    )
    .spawn(8);
    Sequencer::new(
        settings,
        schemas,
        subs,
        Downstream {
            workers,
            steps,
            output: out,
            counters,
        },
        tracker,
    )
}

struct H {
    p: Sequencer<Fixed>,
    out: Arc<MemoryOutput>,
    subs: Subs,
    tracker: AckTracker,
    _dir: tempfile::TempDir,
}

impl H {
    /// Hands one event to the sequencer and waits until what it released is acknowledged.
    async fn handle(&mut self, ev: UpstreamEvent) {
        self.p.handle(ev).await.unwrap();
        self.p.settle().await.unwrap();
    }
}

fn settings(dir: PathBuf, filter: &[&str], events: Vec<EventRuleSpec>) -> Settings {
    let rules: Vec<String> = filter.iter().map(|s| s.to_string()).collect();
    Settings {
        changefeed: "cf".into(),
        start_ts: 100,
        time_zone: TimeZone::Utc,
        table_filter: TableFilter::parse(&rules, false).unwrap(),
        event_filters: EventFilters::parse(&events, false).unwrap(),
        column_selectors: ColumnSelectors::default(),
        ignore_txn_start_ts: HashSet::from([77]),
        force_replicate: None,
        output_raw_change_event: false,
        spill_dir: dir,
        memory_quota: 1 << 20,
    }
}

fn harness(schemas: Fixed, filter: &[&str], events: Vec<EventRuleSpec>) -> H {
    let encoder = Arc::new(CanalJsonEncoder::with_clock(
        CanalJsonConfig {
            enable_tidb_extension: true,
            ..CanalJsonConfig::default()
        },
        Arc::new(FixedClock(1_700_000_000_000)),
    ));
    harness_with(schemas, filter, events, encoder, 2, 1 << 20)
}

/// A processor writing `encoder`'s messages to a memory output of `partitions` partitions.
fn harness_with(
    schemas: Fixed,
    filter: &[&str],
    events: Vec<EventRuleSpec>,
    encoder: Arc<dyn Encoder>,
    partitions: i32,
    jobs_memory: u64,
) -> H {
    let dir = tempfile::tempdir().unwrap();
    let tracker = AckTracker::new();
    let out = Arc::new(MemoryOutput::new(tracker.clone(), partitions));
    let subs = Subs::default();
    let rules = vec![DispatchRule {
        matcher: vec!["test.*".into()],
        partition: "index-value".into(),
        topic: "cdc_{schema}_{table}".into(),
        ..DispatchRule::default()
    }];
    let mut p = sequencer(
        settings(dir.path().to_path_buf(), filter, events),
        schemas,
        Box::new(subs.clone()),
        Sink {
            out: Arc::clone(&out) as Arc<dyn Output>,
            encoder,
            router: EventRouter::new(&rules, "ddl", false, false).unwrap(),
            jobs_memory,
        },
        tracker.clone(),
    );
    p.start();
    H {
        p,
        out,
        subs,
        tracker,
        _dir: dir,
    }
}

fn row(
    info: &TableInfo,
    id: i64,
    name: &str,
    age: Option<i64>,
    start: u64,
    commit: u64,
) -> UpstreamEvent {
    let mut v = BTreeMap::new();
    v.insert("id".to_string(), toml::Value::Integer(id));
    v.insert("name".to_string(), toml::Value::String(name.into()));
    if let Some(a) = age {
        v.insert("age".to_string(), toml::Value::Integer(a));
    }
    let (key, value) = encode_row(info, &v, None).unwrap();
    UpstreamEvent::Row(KvChange {
        key,
        value,
        old_value: None,
        op: OpType::Put,
        start_ts: start,
        commit_ts: commit,
    })
}

fn job_row(job: i64, commit: u64) -> UpstreamEvent {
    let key = encode_record_key(DDL_JOB_TABLE_ID, &Handle::Int(job)).unwrap();
    UpstreamEvent::Row(KvChange {
        key,
        value: job.to_string().into_bytes(),
        old_value: None,
        op: OpType::Put,
        start_ts: commit - 1,
        commit_ts: commit,
    })
}

fn resolved(physical: i64, ts: u64) -> UpstreamEvent {
    UpstreamEvent::Resolved {
        span: table_span(physical),
        ts,
    }
}

fn text(s: &Sent) -> String {
    String::from_utf8(s.value.clone().unwrap()).unwrap()
}

fn field<'a>(s: &'a str, name: &str) -> &'a str {
    let at = s.find(&format!("\"{name}\":")).unwrap() + name.len() + 3;
    let end = s[at..].find([',', '}']).unwrap();
    &s[at..at + end]
}

#[tokio::test]
async fn rows_wait_for_both_frontiers_and_come_out_in_commit_order() {
    let t = table(104, "t");
    let mut schemas = Fixed::default();
    schemas.versions.insert(104, vec![view(t.clone(), 90)]);
    let mut h = harness(schemas, &["*.*"], Vec::new());
    let subs = h.subs.0.lock().unwrap().clone();
    assert_eq!(subs.len(), 2, "DDL job span and table 104: {subs:?}");
    assert!(subs.iter().all(|(add, _, ts)| *add && *ts == 100));

    h.handle(row(&t, 2, "b", None, 110, 120)).await;
    h.handle(row(&t, 1, "a", None, 101, 105)).await;
    h.handle(resolved(104, 130)).await;
    assert!(
        h.out.sent().is_empty(),
        "the DDL stream has not passed 105 yet"
    );
    h.handle(resolved(DDL_JOB_TABLE_ID, 112)).await;
    let sent = h.out.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        text(&sent[0]).contains(r#""data":[{"id":"1","name":"a"}]"#),
        "{}",
        text(&sent[0])
    );
    assert_eq!(sent[0].topic, "cdc_test_t");
    assert_eq!(h.p.checkpoint(), 112);
    h.handle(resolved(DDL_JOB_TABLE_ID, 200)).await;
    let sent = h.out.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(field(&text(&sent[1]), "commitTs"), "120");
    assert_eq!(h.p.checkpoint(), 130);
    assert_eq!(h.p.resolved_ts(), 130);
    // A duplicate after re-subscription is dropped.
    h.handle(row(&t, 2, "b", None, 110, 120)).await;
    h.handle(resolved(104, 210)).await;
    assert_eq!(h.out.sent().len(), 2);
    assert_eq!(h.tracker.checkpoint(), Some(200));
}

#[tokio::test]
async fn a_ddl_splits_rows_by_schema_and_comes_between_them() {
    let t = table(104, "t");
    let t2 = with_age(104, "t");
    let mut schemas = Fixed::default();
    schemas
        .versions
        .insert(104, vec![view(t.clone(), 90), view(t2.clone(), 150)]);
    schemas.jobs.insert(
        5,
        (
            150,
            vec![SchemaChange {
                job_id: 5,
                finished_ts: 150,
                start_ts: 149,
                action: ActionType(5),
                query: "alter table t add column age int".into(),
                schema: "test".into(),
                table: "t".into(),
                pre_schema: Some("test".into()),
                pre_table: Some("t".into()),
                table_after: Some(view(t2.clone(), 150)),
                added_physical: Vec::new(),
                removed_physical: Vec::new(),
            }],
        ),
    );
    let mut h = harness(schemas, &["*.*"], Vec::new());
    h.handle(row(&t, 1, "a", None, 101, 140)).await;
    h.handle(job_row(5, 152)).await;
    h.handle(row(&t2, 2, "b", Some(30), 155, 160)).await;
    h.handle(resolved(104, 170)).await;
    // DDL frontier below the job row: nothing may pass the DDL's finished ts.
    h.handle(resolved(DDL_JOB_TABLE_ID, 151)).await;
    let sent = h.out.sent();
    assert_eq!(sent.len(), 1, "only the row before the DDL");
    assert_eq!(h.p.checkpoint(), 149);
    h.handle(resolved(DDL_JOB_TABLE_ID, 170)).await;
    let sent = h.out.sent();
    let kinds: Vec<String> = sent
        .iter()
        .map(|s| field(&text(s), "type").to_string())
        .collect();
    assert_eq!(kinds, ["\"INSERT\"", "\"ALTER\"", "\"INSERT\""], "{sent:?}");
    assert_eq!(sent[1].topic, "cdc_test_t");
    assert_eq!(sent[1].partition, 0);
    assert!(text(&sent[2]).contains(r#""data":[{"id":"2","name":"b","age":"30"}]"#));
    assert_eq!(h.p.checkpoint(), 170);
}

#[tokio::test]
async fn create_and_drop_follow_the_filter_and_move_subscriptions() {
    let t = table(104, "t");
    let n = table(110, "n");
    let skipped = table(111, "skip_me");
    let mut schemas = Fixed::default();
    schemas.versions.insert(104, vec![view(t.clone(), 90)]);
    schemas.versions.insert(110, vec![view(n.clone(), 150)]);
    schemas
        .versions
        .insert(111, vec![view(skipped.clone(), 160)]);
    let create = |id: i64, ts: u64, info: &TableInfo| SchemaChange {
        job_id: id,
        finished_ts: ts,
        start_ts: ts - 1,
        action: ActionType(3),
        query: format!(
            "create table {} (id bigint primary key, name varchar(32))",
            info.name.o
        ),
        schema: "test".into(),
        table: info.name.o.clone(),
        pre_schema: None,
        pre_table: None,
        table_after: Some(view(info.clone(), ts)),
        added_physical: vec![info.id],
        removed_physical: Vec::new(),
    };
    schemas.jobs.insert(6, (150, vec![create(6, 150, &n)]));
    schemas
        .jobs
        .insert(7, (160, vec![create(7, 160, &skipped)]));
    schemas.jobs.insert(
        8,
        (
            170,
            vec![SchemaChange {
                job_id: 8,
                finished_ts: 170,
                start_ts: 169,
                action: ActionType(4),
                query: "drop table t".into(),
                schema: "test".into(),
                table: "t".into(),
                pre_schema: Some("test".into()),
                pre_table: Some("t".into()),
                table_after: None,
                added_physical: Vec::new(),
                removed_physical: vec![104],
            }],
        ),
    );
    let mut h = harness(schemas, &["test.*", "!test.skip_*"], Vec::new());
    for (job, ts) in [(6, 151), (7, 161), (8, 171)] {
        h.handle(job_row(job, ts)).await;
    }
    h.handle(resolved(104, 300)).await;
    h.handle(resolved(DDL_JOB_TABLE_ID, 300)).await;
    // The created table holds the checkpoint until its own span reports.
    assert_eq!(h.p.checkpoint(), 150);
    h.handle(row(&n, 1, "x", None, 180, 181)).await;
    h.handle(resolved(110, 300)).await;
    let subs = h.subs.0.lock().unwrap().clone();
    assert!(subs.contains(&(true, table_span(110), 150)), "{subs:?}");
    assert!(
        !subs.iter().any(|(_, s, _)| *s == table_span(111)),
        "filtered out: {subs:?}"
    );
    assert!(subs.contains(&(false, table_span(104), 0)), "{subs:?}");
    let sent = h.out.sent();
    let kinds: Vec<String> = sent
        .iter()
        .map(|s| field(&text(s), "type").to_string())
        .collect();
    assert_eq!(kinds, ["\"CREATE\"", "\"ERASE\"", "\"INSERT\""], "{sent:?}");
    assert_eq!(h.p.checkpoint(), 300);
    assert_eq!(h.p.table_count(), 1);
}

#[tokio::test]
async fn event_filters_and_ignored_transactions_drop_rows_but_not_progress() {
    let t = table(104, "t");
    let mut schemas = Fixed::default();
    schemas.versions.insert(104, vec![view(t.clone(), 90)]);
    let events = vec![EventRuleSpec {
        matcher: vec!["test.t".into()],
        ignore_event: vec!["delete".into()],
        ignore_sql: Vec::new(),
    }];
    let mut h = harness(schemas, &["*.*"], events);
    h.handle(row(&t, 1, "a", None, 77, 105)).await;
    h.handle(row(&t, 2, "b", None, 106, 107)).await;
    let key = encode_record_key(104, &Handle::Int(2)).unwrap();
    let (_, old) = match row(&t, 2, "b", None, 0, 1) {
        UpstreamEvent::Row(r) => (r.key, r.value),
        UpstreamEvent::Resolved { .. } => unreachable!(),
    };
    h.handle(UpstreamEvent::Row(KvChange {
        key,
        value: Vec::new(),
        old_value: Some(old),
        op: OpType::Delete,
        start_ts: 108,
        commit_ts: 109,
    }))
    .await;
    h.handle(resolved(104, 120)).await;
    h.handle(resolved(DDL_JOB_TABLE_ID, 120)).await;
    let sent = h.out.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(text(&sent[0]).contains(r#""id":"2""#));
    assert_eq!(h.p.checkpoint(), 120);
}

fn keyless(id: i64, name: &str) -> TableInfo {
    let mut t = table(id, name);
    t.pk_is_handle = false;
    t.columns[0].field_type.flag = 0;
    t
}

#[tokio::test]
async fn keyless_tables_are_replicated_unless_force_replicate_is_false() {
    let t = keyless(104, "nokey");
    assert!(!TableMeta::new(&t).is_eligible());
    for (force, subscribed) in [(None, true), (Some(true), true), (Some(false), false)] {
        let mut schemas = Fixed::default();
        schemas.versions.insert(104, vec![view(t.clone(), 90)]);
        let dir = tempfile::tempdir().unwrap();
        let tracker = AckTracker::new();
        let subs = Subs::default();
        let mut st = settings(dir.path().to_path_buf(), &["*.*"], Vec::new());
        st.force_replicate = force;
        let mut p = sequencer(
            st,
            schemas,
            Box::new(subs.clone()),
            Sink {
                out: Arc::new(MemoryOutput::new(tracker.clone(), 1)),
                encoder: Arc::new(CanalJsonEncoder::new(CanalJsonConfig::default())),
                router: EventRouter::new(&[], "ddl", false, false).unwrap(),
                jobs_memory: 1 << 20,
            },
            tracker,
        );
        p.start();
        let got = subs
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|(_, s, _)| *s == table_span(104));
        assert_eq!(got, subscribed, "force-replicate = {force:?}");
    }
}

#[tokio::test]
async fn a_table_renamed_into_the_filter_is_subscribed_and_one_renamed_out_is_dropped() {
    let t = table(104, "t");
    let staging = table(300, "staging_x");
    let renamed_in = table(300, "x");
    let renamed_out = table(104, "staging_t");
    let mut schemas = Fixed::default();
    schemas.versions.insert(
        104,
        vec![view(t.clone(), 90), view(renamed_out.clone(), 160)],
    );
    schemas.versions.insert(
        300,
        vec![view(staging.clone(), 90), view(renamed_in.clone(), 150)],
    );
    let rename = |job: i64, ts: u64, from: &str, to: &TableInfo| SchemaChange {
        job_id: job,
        finished_ts: ts,
        start_ts: ts - 1,
        action: ActionType(14),
        query: format!("rename table {from} to {}", to.name.o),
        schema: "test".into(),
        table: to.name.o.clone(),
        pre_schema: Some("test".into()),
        pre_table: Some(from.into()),
        table_after: Some(view(to.clone(), ts)),
        added_physical: Vec::new(),
        removed_physical: Vec::new(),
    };
    schemas
        .jobs
        .insert(9, (150, vec![rename(9, 150, "staging_x", &renamed_in)]));
    schemas
        .jobs
        .insert(10, (160, vec![rename(10, 160, "t", &renamed_out)]));
    let mut h = harness(schemas, &["test.*", "!test.staging_*"], Vec::new());
    assert_eq!(h.p.table_count(), 1, "only test.t at the start");
    h.handle(job_row(9, 151)).await;
    h.handle(job_row(10, 161)).await;
    h.handle(resolved(104, 300)).await;
    h.handle(resolved(DDL_JOB_TABLE_ID, 300)).await;
    h.handle(row(&renamed_in, 7, "in", None, 170, 171)).await;
    h.handle(resolved(300, 300)).await;
    let subs = h.subs.0.lock().unwrap().clone();
    assert!(subs.contains(&(true, table_span(300), 150)), "{subs:?}");
    assert!(subs.contains(&(false, table_span(104), 0)), "{subs:?}");
    assert_eq!(h.p.table_count(), 1);
    let sent = h.out.sent();
    let last = text(sent.last().unwrap());
    assert!(
        last.contains(r#""table":"x""#) && last.contains(r#""id":"7""#),
        "{last}"
    );
    assert_eq!(h.p.checkpoint(), 300);
}

/// The event keys of an Open protocol record.
fn open_events(s: &Sent) -> Vec<String> {
    let record = Record::new(s.key.clone(), s.value.clone().unwrap());
    events(&record)
        .expect("an open-protocol record")
        .into_iter()
        .map(|(k, _)| String::from_utf8(k.to_vec()).unwrap())
        .collect()
}

/// Open protocol: the rows a resolved ts releases leave in records of `max-batch-size` events
/// per partition, in commit order, and the checkpoint passes them only once every record is
/// acknowledged (one ticket per row); a watermark (resolved event) goes to every partition
/// after them.
#[tokio::test]
async fn open_protocol_rows_leave_in_batches_acked_per_row() {
    let t = table(104, "t");
    let mut schemas = Fixed::default();
    schemas.versions.insert(104, vec![view(t.clone(), 90)]);
    let encoder = Arc::new(OpenEncoder::new(OpenConfig::default()));
    let mut h = harness_with(schemas, &["*.*"], Vec::new(), encoder, 1, 1 << 20);
    for id in 1..=40 {
        h.handle(row(&t, id, "x", None, 101, 105)).await;
    }
    for id in 41..=45 {
        h.handle(row(&t, id, "y", None, 106, 107)).await;
    }
    h.handle(resolved(104, 130)).await;
    assert!(h.out.sent().is_empty());
    h.handle(resolved(DDL_JOB_TABLE_ID, 200)).await;
    let sent = h.out.sent();
    let sizes: Vec<usize> = sent.iter().map(|s| open_events(s).len()).collect();
    // 45 rows of two transactions pack across the transaction boundary: 16 + 16 + 13.
    assert_eq!(sizes, [16, 16, 13]);
    assert!(
        sent.iter()
            .all(|s| s.topic == "cdc_test_t" && s.partition == 0)
    );
    let keys: Vec<String> = sent.iter().flat_map(open_events).collect();
    assert!(
        keys[0].starts_with(r#"{"ts":105,"scm":"test","tbl":"t","rid":1,"t":1}"#),
        "{}",
        keys[0]
    );
    assert!(keys[44].starts_with(r#"{"ts":107,"#), "{}", keys[44]);
    assert_eq!(h.p.checkpoint(), 130);
    h.p.send_watermark(130).await.unwrap();
    h.p.settle().await.unwrap();
    let sent = h.out.sent();
    let resolved_events = &sent[3..];
    assert!(resolved_events.iter().any(|s| s.topic == "cdc_test_t"));
    for s in resolved_events {
        assert_eq!(open_events(s), [r#"{"ts":130,"t":3}"#]);
        assert_eq!(s.value.as_deref().unwrap(), &[0u8; 8]);
    }
}

/// Many transactions over several jobs, workers and partitions, with a jobs memory share
/// smaller than one job: every row arrives once, each partition in commit order, and the
/// checkpoint reaches the resolved ts.
#[tokio::test]
async fn jobs_stay_in_order_across_workers_under_a_tiny_memory_share() {
    let t = table(104, "t");
    let mut schemas = Fixed::default();
    schemas.versions.insert(104, vec![view(t.clone(), 90)]);
    let encoder = Arc::new(CanalJsonEncoder::with_clock(
        CanalJsonConfig {
            enable_tidb_extension: true,
            ..CanalJsonConfig::default()
        },
        Arc::new(FixedClock(1_700_000_000_000)),
    ));
    let mut h = harness_with(schemas, &["*.*"], Vec::new(), encoder, 3, 1024);
    // 40 transactions of 50 rows (4 jobs of 512+ rows) handed over without waiting.
    let mut id = 0;
    for txn in 0..40u64 {
        for _ in 0..50 {
            id += 1;
            h.p.handle(row(&t, id, "x", None, 1000 + 2 * txn, 1001 + 2 * txn))
                .await
                .unwrap();
        }
    }
    h.p.handle(resolved(104, 2000)).await.unwrap();
    h.handle(resolved(DDL_JOB_TABLE_ID, 2000)).await;
    let sent = h.out.sent();
    assert_eq!(sent.len(), 2000);
    let mut ids = std::collections::BTreeSet::new();
    let mut last_commit = [0u64; 3];
    for s in &sent {
        let v = text(s);
        let commit: u64 = field(&v, "commitTs").parse().unwrap();
        let p = usize::try_from(s.partition).unwrap();
        assert!(commit >= last_commit[p], "partition {p} went back: {v}");
        last_commit[p] = commit;
        let id = v.split(r#""data":[{"id":""#).nth(1).unwrap();
        ids.insert(id.split('"').next().unwrap().to_string());
    }
    assert_eq!(ids.len(), 2000, "every row once");
    assert_eq!(h.p.checkpoint(), 2000);
}
