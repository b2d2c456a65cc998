//! `tidb-changefeed decode` on TiKV's own byte vectors (reference upstream.md §3.9: V1 is
//! TiCDC's `codec_test.go` key, V4 TiKV's `encoder_for_test.rs` `test_encode` row), with
//! values rendered as Canal-JSON renders them.

use crate::support::{daemon, write_file};

/// TableInfo JSON (TiDB's tags) for the columns of V4; `_tidb_rowid` is the handle.
fn table_info() -> String {
    let col = |id: i64, offset: usize, tp: u8, flag: u32, flen: i64, decimal: i32, cs: &str| {
        format!(
            r#"{{"id":{id},"name":{{"O":"c{id}","L":"c{id}"}},"offset":{offset},"type":{{"Tp":{tp},"Flag":{flag},"Flen":{flen},"Decimal":{decimal},"Charset":"{cs}","Collate":"{cs}_bin","Elems":null}},"state":5}}"#
        )
    };
    let cols = [
        col(1, 0, 8, 0, 20, 0, "binary"),
        col(3, 1, 8, 32, 20, 0, "binary"),
        col(6, 2, 5, 0, 22, -1, "binary"),
        col(7, 3, 15, 0, 10, 0, "utf8mb4"),
        col(8, 4, 8, 0, 20, 0, "binary"),
        col(9, 5, 5, 0, 22, -1, "binary"),
        col(12, 6, 8, 0, 20, 0, "binary"),
        col(13, 7, 12, 0, 19, 0, "binary"),
        col(14, 8, 246, 0, 10, 0, "binary"),
        col(15, 9, 245, 0, 4294967295, 0, "binary"),
        col(16, 10, 11, 0, 10, 0, "binary"),
        col(33, 11, 8, 0, 20, 0, "binary"),
    ];
    format!(
        r#"{{"id":104,"name":{{"O":"t","L":"t"}},"cols":[{}],"index_info":null,"pk_is_handle":false,"state":5}}"#,
        cols.join(",")
    )
}

const V1_KEY: &str = "7480000000000000685f728000000000000001";
const V4_VALUE: &str = "80000b0001000103060708090c0d0e0f1021020003000b000e001000180019002100240041004500e803034003333333333332616263ff7fbffccccccccccccd020000008733e69e1901008101010000001c0000001300000003000c160000006b65790576616c756500ca9a3b";

#[test]
fn decodes_tikv_vectors_as_canal_json_renders_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ti = write_file(dir.path(), "t.json", &table_info());
    let ti = ti.to_str().expect("utf-8 path");
    let out = daemon(&[
        "decode",
        "--table-info",
        ti,
        "--key",
        V1_KEY,
        "--value",
        V4_VALUE,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim_end(),
        r#"{"table_id":104,"handle":1,"columns":{"c1":"1000","c3":"3","c6":"-1.8","c7":"abc","c8":"32767","c9":"1.8","c12":"2","c13":"2018-01-19 03:14:07","c14":"1","c15":"{\"key\": \"value\"}","c16":"00:00:01","c33":null}}"#
    );

    let key_only = daemon(&["decode", "--table-info", ti, "--key", V1_KEY]);
    assert_eq!(
        String::from_utf8_lossy(&key_only.stdout).trim_end(),
        r#"{"table_id":104,"handle":1}"#
    );
}

#[test]
fn bad_input_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ti = write_file(dir.path(), "t.json", &table_info());
    let ti = ti.to_str().expect("utf-8 path");
    let truncated = &V4_VALUE[..40];
    let out = daemon(&[
        "decode",
        "--table-info",
        ti,
        "--key",
        V1_KEY,
        "--value",
        truncated,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: cannot decode the row of table t (104) at key 7480000000000000685f728000000000000001:"), "{err}");

    let out = daemon(&["decode", "--table-info", ti, "--key", "zz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key is not hex"));

    let bad_ti = write_file(dir.path(), "bad.json", "{\"id\": \"x\"}");
    let out = daemon(&[
        "decode",
        "--table-info",
        bad_ti.to_str().expect("utf-8"),
        "--key",
        V1_KEY,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not TiDB TableInfo JSON"));
}
