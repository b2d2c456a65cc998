//! The golden corpus in `tests/corpus/`: data produced by TiDB's and TiCDC's own code (or, on
//! the fallback route, stated by their test files), against which our decoders, emulator and
//! encoders are checked. This module loads every corpus file, checks its structure, and
//! reports for each kind of case whether our code replays it yet. A replay that has no
//! consumer in this tree is reported as pending, never as passing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where each kind of corpus case is replayed, or why it is not yet.
const REPLAY: &[(&str, Replay)] = &[
    (
        "kv-codec",
        Replay::Replayed("corpus_replay::kv_codec_vectors_replay"),
    ),
    (
        "row-value",
        Replay::Replayed("corpus_replay::row_value_vectors_replay"),
    ),
    (
        "datum",
        Replay::Replayed(
            "corpus_replay_mount::datum_vectors_replay (5 decimal cases on the decode side only: TiDB's truncating ToBin and chunk decoder are not our path)",
        ),
    ),
    (
        "partition-dispatch",
        Replay::Replayed("corpus_replay_codec::partition_dispatch_vectors_replay"),
    ),
    (
        "default-value",
        Replay::Replayed("corpus_replay_mount::default_value_vectors_replay"),
    ),
    (
        "dispatch-hash",
        Replay::Replayed(
            "corpus_replay::dispatch_hash_vectors_replay (the two Go bool literals do not apply)",
        ),
    ),
    (
        "canal-json-column-types",
        Replay::Replayed("corpus_replay_codec::canal_json_column_type_vectors_replay"),
    ),
    (
        "canal-values",
        Replay::Replayed(
            "corpus_replay_codec::canal_value_vectors_replay (canal values through the canal-json encoder)",
        ),
    ),
    (
        "debezium-message",
        Replay::Pending(
            "src/codec/debezium/tests.rs replays this golden from debezium-messages; this older transcription is not replayed",
        ),
    ),
    (
        "debezium-messages",
        Replay::Replayed(
            "corpus_replay_debezium::debezium_message_vectors_replay (DDL, watermark and DDL-column-parse cases: codec::debezium::schema_change_tests)",
        ),
    ),
    (
        "debezium-values",
        Replay::Replayed(
            "corpus_replay_debezium::debezium_value_vectors_replay (DDL, watermark and DDL-column-parse cases: codec::debezium::schema_change_tests)",
        ),
    ),
    (
        "avro-names",
        Replay::Replayed("corpus_replay_avro::avro_name_vectors_replay"),
    ),
    (
        "avro-schema",
        Replay::Replayed("corpus_replay_avro::whole_record_schema_texts_are_ticdcs"),
    ),
    (
        "avro-values",
        Replay::Replayed("corpus_replay_avro::every_column_value_encodes_to_ticdcs_native_value"),
    ),
    (
        "oracle-table",
        Replay::Pending(
            "raw KV → emulator (branch emulator), TableInfo/DDL jobs → src/schema, rows → src/mount, messages → src/codec",
        ),
    ),
];

#[derive(Debug, Clone, Copy)]
enum Replay {
    /// Not replayed yet, and why.
    Pending(&'static str),
    /// Replayed (every case must pass) by this test.
    Replayed(&'static str),
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

struct Loaded {
    path: PathBuf,
    doc: Value,
}

fn load_all() -> Vec<Loaded> {
    let mut files = Vec::new();
    json_files(&corpus_dir(), &mut files);
    assert!(
        !files.is_empty(),
        "no corpus files under {}",
        corpus_dir().display()
    );
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let doc = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            Loaded { path, doc }
        })
        .collect()
}

fn is_hex(s: &str) -> bool {
    s.len().is_multiple_of(2) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Every string field whose name ends in `hex` must be lowercase hex of whole bytes.
fn check_hex(v: &Value, at: &str, errors: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                let here = format!("{at}.{k}");
                if k.ends_with("hex")
                    && let Value::String(s) = x
                    && !is_hex(s)
                {
                    errors.push(format!("{here}: not lowercase hex: {s:?}"));
                }
                check_hex(x, &here, errors);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                check_hex(x, &format!("{at}[{i}]"), errors);
            }
        }
        _ => {}
    }
}

fn check_case(kind: &str, origin: &str, c: &Value, at: &str, errors: &mut Vec<String>) {
    let mut need = |cond: bool, what: &str| {
        if !cond {
            errors.push(format!("{at}: {what}"));
        }
    };
    if origin == "upstream-test-vectors" {
        let src = c.get("source").and_then(Value::as_str).unwrap_or("");
        need(
            src.contains('@') && src.contains(':'),
            "`source` must cite owner/repo@rev:path:line",
        );
    }
    match kind {
        "kv-codec" => need(c.get("op").is_some_and(Value::is_string), "`op` missing"),
        "row-value" => {
            let cols = c.get("columns").and_then(Value::as_array);
            need(cols.is_some_and(|v| !v.is_empty()), "`columns` empty");
            need(c.get("value_hex").is_some(), "`value_hex` missing");
            for col in cols.into_iter().flatten() {
                let kind = col.pointer("/expect/kind").and_then(Value::as_str);
                need(
                    matches!(
                        kind,
                        Some(
                            "int"
                                | "uint"
                                | "float32"
                                | "float64"
                                | "decimal"
                                | "time"
                                | "duration"
                                | "json"
                                | "bytes"
                                | "string"
                                | "enum"
                                | "set"
                                | "bit"
                                | "null"
                        )
                    ),
                    "column `expect.kind` unknown",
                );
                need(
                    col.get("id").is_some_and(Value::is_i64),
                    "column `id` missing",
                );
            }
        }
        "partition-dispatch" => {
            let n = c.get("partition_num").and_then(Value::as_i64).unwrap_or(0);
            need(n > 0, "`partition_num` must be > 0");
            match c.get("expect_partition").and_then(Value::as_i64) {
                Some(p) => need(
                    (0..n).contains(&p),
                    "`expect_partition` outside 0..partition_num",
                ),
                None => need(
                    c.get("expect_error").is_some(),
                    "neither `expect_partition` nor `expect_error`",
                ),
            }
        }
        "canal-json-column-types" => need(
            c.get("mysql_type").is_some_and(Value::is_string),
            "`mysql_type` missing",
        ),
        "debezium-message" => {
            need(
                c.pointer("/expect/key_json").is_some_and(Value::is_object),
                "`expect.key_json` missing",
            );
            need(
                c.pointer("/expect/value_json")
                    .is_some_and(Value::is_object),
                "`expect.value_json` missing",
            );
        }
        "oracle-table" => {
            need(c.get("sql").is_some_and(Value::is_string), "`sql` missing");
            for m in c
                .get("mutations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let op = m.get("op").and_then(Value::as_str);
                need(
                    matches!(op, Some("put" | "delete")),
                    "mutation `op` unknown",
                );
                let (s, t) = (
                    m.get("start_ts").and_then(Value::as_u64).unwrap_or(0),
                    m.get("commit_ts").and_then(Value::as_u64).unwrap_or(0),
                );
                need(s > 0 && t > s, "mutation needs 0 < start_ts < commit_ts");
            }
        }
        _ => {}
    }
}

#[test]
fn every_corpus_file_loads_and_is_well_formed() {
    let known: BTreeSet<&str> = REPLAY.iter().map(|(k, _)| *k).collect();
    let mut errors = Vec::new();
    for Loaded { path, doc } in load_all() {
        let name = path
            .strip_prefix(corpus_dir())
            .unwrap_or(&path)
            .display()
            .to_string();
        let field = |k: &str| doc.get(k);
        if field("corpus_format").and_then(Value::as_u64) != Some(1) {
            errors.push(format!("{name}: corpus_format must be 1"));
        }
        let origin = field("origin").and_then(Value::as_str).unwrap_or("");
        if !matches!(origin, "upstream-test-vectors" | "oracle") {
            errors.push(format!("{name}: unknown origin {origin:?}"));
        }
        let kind = field("kind").and_then(Value::as_str).unwrap_or("");
        if !known.contains(kind) {
            errors.push(format!(
                "{name}: kind {kind:?} has no entry in corpus::REPLAY"
            ));
        }
        let Some(cases) = field("cases").and_then(Value::as_array) else {
            errors.push(format!("{name}: `cases` is not an array"));
            continue;
        };
        if cases.is_empty() {
            errors.push(format!("{name}: no cases"));
        }
        let mut ids = BTreeSet::new();
        for (i, c) in cases.iter().enumerate() {
            let id = c
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| c.get("seq").map(Value::to_string))
                .unwrap_or_default();
            let at = format!("{name}: case {i} ({id})");
            if id.is_empty() {
                errors.push(format!("{at}: no `id` (or `seq`)"));
            } else if !ids.insert(id.clone()) {
                errors.push(format!("{at}: duplicate id"));
            }
            check_case(kind, origin, c, &at, &mut errors);
        }
        check_hex(&doc, &name, &mut errors);
    }
    assert!(
        errors.is_empty(),
        "{} corpus problem(s):\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn corpus_replay_status_is_reported() {
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for Loaded { doc, .. } in load_all() {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let n = doc
            .get("cases")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let e = by_kind.entry(kind).or_default();
        e.0 += 1;
        e.1 += n;
    }
    let mut report = String::from("corpus replay status (files, cases):\n");
    let mut pending = 0;
    let mut replayed = 0;
    for (kind, (files, cases)) in &by_kind {
        let status = REPLAY
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, r)| *r)
            .unwrap_or_else(|| panic!("kind {kind:?} has no entry in corpus::REPLAY"));
        match status {
            Replay::Pending(why) => {
                pending += cases;
                report.push_str(&format!(
                    "  {kind:<26} {files:>3} {cases:>5}  PENDING: {why}\n"
                ));
            }
            Replay::Replayed(by) => {
                replayed += cases;
                report.push_str(&format!(
                    "  {kind:<26} {files:>3} {cases:>5}  replayed by {by}\n"
                ));
            }
        }
    }
    report.push_str(&format!(
        "  {pending} case(s) pending, {replayed} replayed\n"
    ));
    // Printed so `cargo test -- --nocapture` (and CI logs) show what is not verified yet.
    eprintln!("{report}");
    assert!(
        by_kind.values().map(|(_, c)| c).sum::<usize>() > 0,
        "{report}"
    );
}
