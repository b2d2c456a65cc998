//! The upstream client's hot path: prewrite/commit matching and the span frontier.
//!
//! `matcher/prewrite_commit`: one region's matcher after INITIALIZED takes N PREWRITE rows
//! (sysbench-sized values, old values) then their N COMMIT rows, as TiKV streams a
//! transaction's live events. `matcher/committed`: N COMMITTED rows (1PC or incremental
//! scan), which bypass matching. `frontier/advance`: one resolved-ts tick over a span of R
//! regions (every region advances once, as a TiKV batch does), the frontier recomputed.
//! Throughput is in rows (matcher) or region advances (frontier).
//! Run: `cargo bench --bench upstream -- --warm-up-time 2 --measurement-time 5`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tidb_changefeed::proto::cdcpb::event::{LogType, Row, row::OpType};
use tidb_changefeed::upstream::frontier::SpanFrontier;
use tidb_changefeed::upstream::matcher::Matcher;

/// A record key of table 110 with an int handle (19 bytes, as TiDB writes it).
fn key(i: u64) -> Vec<u8> {
    let mut k = b"t\x80\x00\x00\x00\x00\x00\x00\x6e_r".to_vec();
    k.extend_from_slice(&(i ^ (1 << 63)).to_be_bytes());
    k
}

fn row(ty: LogType, i: u64, start_ts: u64, commit_ts: u64, value: &[u8]) -> Row {
    Row {
        start_ts,
        commit_ts,
        r#type: ty as i32,
        op_type: if matches!(ty, LogType::Commit | LogType::Committed | LogType::Prewrite) {
            OpType::Put as i32
        } else {
            OpType::Unknown as i32
        },
        key: key(i),
        value: if ty == LogType::Commit {
            Vec::new()
        } else {
            value.to_vec()
        },
        old_value: if ty == LogType::Prewrite {
            value.to_vec()
        } else {
            Vec::new()
        },
        ..Row::default()
    }
}

fn matcher(c: &mut Criterion) {
    // A sysbench row value is ~200 bytes (k INT, c CHAR(120), pad CHAR(60)).
    let value = vec![0x61u8; 200];
    let mut g = c.benchmark_group("matcher");
    for n in [1_000u64, 10_000] {
        let mut rows = vec![row(LogType::Initialized, 0, 0, 0, &[])];
        rows.extend((0..n).map(|i| row(LogType::Prewrite, i, 1000, 0, &value)));
        rows.extend((0..n).map(|i| row(LogType::Commit, i, 1000, 1001, &value)));
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("prewrite_commit/{n}"), |b| {
            b.iter_batched(
                || {
                    (
                        Matcher::new(1),
                        rows.clone(),
                        Vec::with_capacity(n as usize),
                    )
                },
                |(mut m, rows, mut out)| {
                    for r in rows {
                        m.apply(r, &mut out).expect("matches");
                    }
                    black_box(out)
                },
                BatchSize::LargeInput,
            )
        });
        let mut rows = vec![row(LogType::Initialized, 0, 0, 0, &[])];
        rows.extend((0..n).map(|i| row(LogType::Committed, i, 1000, 1001, &value)));
        g.bench_function(format!("committed/{n}"), |b| {
            b.iter_batched(
                || {
                    (
                        Matcher::new(1),
                        rows.clone(),
                        Vec::with_capacity(n as usize),
                    )
                },
                |(mut m, rows, mut out)| {
                    for r in rows {
                        m.apply(r, &mut out).expect("committed");
                    }
                    black_box(out)
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn frontier(c: &mut Criterion) {
    let mut g = c.benchmark_group("frontier");
    for regions in [100u64, 1_000, 10_000] {
        let bound = |i: u64| {
            if i == 0 { Vec::new() } else { key(i * 1000) }
        };
        let mut f = SpanFrontier::new(Vec::new(), Vec::new(), 1);
        for i in 0..regions {
            let end = if i + 1 == regions {
                Vec::new()
            } else {
                bound(i + 1)
            };
            f.insert(i + 1, bound(i), end, 1);
        }
        let mut ts = 1u64;
        g.throughput(Throughput::Elements(regions));
        g.bench_function(format!("advance/{regions}"), |b| {
            b.iter(|| {
                ts += 1;
                for id in 1..=regions {
                    black_box(f.advance(id, ts));
                }
                assert_eq!(f.frontier(), ts);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, matcher, frontier);
criterion_main!(benches);
