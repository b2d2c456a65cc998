#!/usr/bin/env python3
"""Build tests/corpus/vectors/*.json from the expected values that TiDB's, TiKV's and
TiCDC's own test files state.

This is the fallback route of issue 8 (the Go oracle in tests/oracle cannot be built while the
Go module proxy refuses github.com/pingcap/tiflow and github.com/pingcap/tidb). Every case
carries a `source` of the form `owner/repo@rev:path:line`; the line is located at generation
time by searching the upstream file for an anchor text, so a wrong transcription of a location
fails loudly instead of producing a stale citation.

Upstream checkouts (bare git directories) are read with `git show <rev>:<path>`:
  TIFLOW_GIT (default /work/.mirror/pingcap+tiflow/repo), tag v8.5.7
  TIKV_GIT   (default /work/.mirror/tikv+tikv/repo), commit TIKV_REV below
  TICDC_GIT  (default /work/.mirror/pingcap+ticdc/repo), tag TICDC_REV below (Debezium DDL/watermark)
TiDB is cited by the commit of the file version that was read (no local checkout needed).

Usage: python3 tests/corpus/vectors/generate.py [OUT_DIR]
"""

import json
import os
import re
import subprocess
import sys
import zlib

TIFLOW_GIT = os.environ.get("TIFLOW_GIT", "/work/.mirror/pingcap+tiflow/repo")
TIKV_GIT = os.environ.get("TIKV_GIT", "/work/.mirror/tikv+tikv/repo")
TIFLOW_REV = "v8.5.7"
TIFLOW_COMMIT = "f90a1dd48658373443f3af2bb370d70dc0d825c5"
TIKV_REV = "8e964719db0d2088d47a280a1dde3fefa1b31d6b"
TIDB_ROWCODEC_TEST_COMMIT = "5c9acfc23afad817f480a3e55a163a317be6130a"
# The last tiflow release whose Avro tests still state per-column schemas, native values and
# whole-record schema texts (tiflow#11010, first released in v8.2.0, replaced them by round trips).
TIFLOW_AVRO_TABLES_REV = "v8.1.2"
TIFLOW_AVRO_TABLES_COMMIT = "cd5e9e4ecdd7772a960b78cdbd2f1ebad7fd5cab"

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

_cache = {}


def upstream(git_dir, rev, path):
    key = (git_dir, rev, path)
    if key not in _cache:
        out = subprocess.run(["git", "--git-dir", git_dir, "show", f"{rev}:{path}"],
                             check=True, capture_output=True)
        _cache[key] = out.stdout.decode("utf-8").split("\n")
    return _cache[key]


def line_of(git_dir, rev, path, anchor, after=None):
    """1-based line of the first line containing `anchor` (after the line containing `after`)."""
    lines = upstream(git_dir, rev, path)
    start = 0
    if after is not None:
        start = line_of(git_dir, rev, path, after)  # 1-based → index of next line
    for i in range(start, len(lines)):
        if anchor in lines[i]:
            return i + 1
    raise SystemExit(f"anchor {anchor!r} not found in {path}@{rev} (after {after!r})")


def tiflow(path, anchor, after=None):
    return f"pingcap/tiflow@{TIFLOW_REV}:{path}:{line_of(TIFLOW_GIT, TIFLOW_REV, path, anchor, after)}"


def tikv(path, anchor, after=None):
    return f"tikv/tikv@{TIKV_REV[:10]}:{path}:{line_of(TIKV_GIT, TIKV_REV, path, anchor, after)}"


def tiflow_at(rev, path, anchor, after=None):
    return f"pingcap/tiflow@{rev}:{path}:{line_of(TIFLOW_GIT, rev, path, anchor, after)}"


def hexb(seq):
    return bytes(seq).hex()


SOURCES = {
    "tiflow": {"repo": "pingcap/tiflow", "ref": TIFLOW_REV, "commit": TIFLOW_COMMIT,
               "note": "TiCDC classic, v8.5 LTS line; go.mod pins github.com/pingcap/tidb "
                       "v1.1.0-beta.0.20260630134030-9a2b003a90fd"},
    "tikv": {"repo": "tikv/tikv", "ref": "master", "commit": TIKV_REV},
    "tidb": {"repo": "pingcap/tidb", "note": "file versions as read through the search index; "
             "the commit is given per case"},
}


def envelope(kind, description, cases, **extra):
    doc = {
        "corpus_format": 1,
        "origin": "upstream-test-vectors",
        "kind": kind,
        "description": description,
        "sources": SOURCES,
    }
    doc.update(extra)
    doc["cases"] = cases
    return doc


def write(name, doc):
    ids = [c["id"] for c in doc["cases"]]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise SystemExit(f"{name}: duplicate case ids {sorted(dup)}")
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{path}: {len(doc['cases'])} cases")


# --------------------------------------------------------------------------------------------
# keys.json: key and primitive byte encodings
# --------------------------------------------------------------------------------------------

def keys():
    cases = []
    byte_rs = "components/codec/src/byte.rs"
    memcmp = [
        ([], [0, 0, 0, 0, 0, 0, 0, 0, 247]),
        ([0], [0, 0, 0, 0, 0, 0, 0, 0, 248]),
        ([1, 2, 3], [1, 2, 3, 0, 0, 0, 0, 0, 250]),
        ([1, 2, 3, 0], [1, 2, 3, 0, 0, 0, 0, 0, 251]),
        ([1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 0, 254]),
        ([0] * 8, [0] * 8 + [255] + [0] * 8 + [247]),
        ([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8, 255] + [0] * 8 + [247]),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6, 7, 8, 255, 9, 0, 0, 0, 0, 0, 0, 0, 248]),
    ]
    src = tikv(byte_rs, "fn test_read_bytes")
    for i, (raw, enc) in enumerate(memcmp):
        cases.append({"id": f"memcmp-bytes-{i}", "op": "memcomparable_bytes", "source": src,
                      "raw_hex": hexb(raw), "encoded_hex": hexb(enc)})
    src = tikv(byte_rs, "fn test_write_compact_bytes_for_file")
    for i, (s, enc) in enumerate([("", [0]), ("hello", [10, 104, 101, 108, 108, 111]),
                                  ("世界", [12, 228, 184, 150, 231, 149, 140])]):
        cases.append({"id": f"compact-bytes-{i}", "op": "compact_bytes", "source": src,
                      "raw_hex": s.encode().hex(), "raw_text": s, "encoded_hex": hexb(enc)})
    cases.append({"id": "record-key-table104-handle1", "op": "decode_record_key",
                  "source": tiflow("cdc/entry/codec_test.go", 'key := "7480000000000000685f728000000000000001"'),
                  "key_hex": "7480000000000000685f728000000000000001",
                  "expect": {"table_id": 104, "int_handle": 1}})
    return envelope("kv-codec", "Key layouts and primitive byte codecs (memcomparable bytes, "
                    "compact bytes, record keys).", cases)


# --------------------------------------------------------------------------------------------
# row_values.json: row format v2 values with their decoded columns
# --------------------------------------------------------------------------------------------

# Column types use TiDB's FieldType JSON names (Tp, Flag, Flen, Decimal, Elems).
T_LONGLONG, T_DOUBLE, T_VARCHAR, T_DATETIME, T_NEWDECIMAL, T_JSON, T_DURATION, T_SHORT, T_LONG = \
    8, 5, 15, 12, 0xf6, 0xf5, 11, 2, 3
UNSIGNED = 32


def rows():
    enc = "components/tidb_query_datatype/src/codec/row/v2/encoder_for_test.rs"
    note = ("TiKV's test builds the row from values; it states no column types. The `type` "
            "given here is the TiDB column type whose v2 encoding these bytes are (chosen by us "
            "from the value kind), needed to decode them.")
    cases = []
    cases.append({
        "id": "tikv-v2-unsigned",
        "source": tikv(enc, "fn test_encode_unsigned"),
        "format": "v2",
        "value_hex": hexb([128, 0, 2, 0, 0, 0, 1, 2, 8, 0, 9, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255]),
        "type_note": note,
        "columns": [
            {"id": 1, "type": {"Tp": T_LONGLONG, "Flag": UNSIGNED}, "expect": {"kind": "uint", "value": "18446744073709551615"}},
            {"id": 2, "type": {"Tp": T_LONGLONG, "Flag": 0}, "expect": {"kind": "int", "value": "-1"}},
        ],
    })
    v = [128, 0, 11, 0, 1, 0, 1, 3, 6, 7, 8, 9, 12, 13, 14, 15, 16, 33, 2, 0, 3, 0, 11, 0, 14,
         0, 16, 0, 24, 0, 25, 0, 33, 0, 36, 0, 65, 0, 69, 0, 232, 3, 3, 64, 3, 51, 51, 51, 51,
         51, 50, 97, 98, 99, 255, 127, 191, 252, 204, 204, 204, 204, 204, 205, 2, 0, 0, 0, 135,
         51, 230, 158, 25, 1, 0, 129, 1, 1, 0, 0, 0, 28, 0, 0, 0, 19, 0, 0, 0, 3, 0, 12, 22, 0,
         0, 0, 107, 101, 121, 5, 118, 97, 108, 117, 101, 0, 202, 154, 59]
    cases.append({
        "id": "tikv-v2-small",
        "source": tikv(enc, "fn test_encode()"),
        "format": "v2",
        "value_hex": hexb(v),
        "type_note": note,
        "columns": [
            {"id": 1, "type": {"Tp": T_LONGLONG}, "expect": {"kind": "int", "value": "1000"}},
            {"id": 3, "type": {"Tp": T_LONGLONG, "Flag": UNSIGNED}, "expect": {"kind": "uint", "value": "3"}},
            {"id": 6, "type": {"Tp": T_DOUBLE}, "expect": {"kind": "float64", "value": "-1.8"}},
            {"id": 7, "type": {"Tp": T_VARCHAR, "Charset": "binary"}, "expect": {"kind": "bytes", "hex": "616263"}},
            {"id": 8, "type": {"Tp": T_LONGLONG}, "expect": {"kind": "int", "value": "32767"}},
            {"id": 9, "type": {"Tp": T_DOUBLE}, "expect": {"kind": "float64", "value": "1.8"}},
            {"id": 12, "type": {"Tp": T_LONGLONG}, "expect": {"kind": "int", "value": "2"}},
            {"id": 13, "type": {"Tp": T_DATETIME, "Decimal": 0}, "expect": {"kind": "time", "value": "2018-01-19 03:14:07"}},
            {"id": 14, "type": {"Tp": T_NEWDECIMAL, "Flen": 1, "Decimal": 0}, "expect": {"kind": "decimal", "value": "1"}},
            {"id": 15, "type": {"Tp": T_JSON}, "expect": {"kind": "json", "value": "{\"key\": \"value\"}", "derived": "the test states the JSON text {\"key\":\"value\"}; this is TiDB's BinaryJSON.String() of it"}},
            {"id": 16, "type": {"Tp": T_DURATION, "Decimal": 0}, "expect": {"kind": "duration", "value": "00:00:01", "derived": "the test states 1 second (NANOS_PER_SEC); this is Duration.String() with fsp 0"}},
            {"id": 33, "type": {"Tp": T_LONGLONG}, "expect": {"kind": "null"}},
        ],
    })
    v = [128, 1, 4, 0, 1, 0, 1, 0, 0, 0, 3, 0, 0, 0, 8, 0, 0, 0, 12, 0, 0, 0, 79, 1, 0, 0, 2, 0,
         0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 232, 3, 3, 255, 127, 2]
    cases.append({
        "id": "tikv-v2-large",
        "source": tikv(enc, "fn test_encode_big"),
        "format": "v2",
        "value_hex": hexb(v),
        "type_note": note,
        "columns": [
            {"id": 1, "type": {"Tp": T_LONGLONG}, "expect": {"kind": "int", "value": "1000"}},
            {"id": 3, "type": {"Tp": T_LONGLONG}, "expect": {"kind": "int", "value": "3"}},
            {"id": 8, "type": {"Tp": T_LONGLONG}, "expect": {"kind": "int", "value": "32767"}},
            {"id": 12, "type": {"Tp": T_LONGLONG}, "expect": {"kind": "int", "value": "2"}},
            {"id": 335, "type": {"Tp": T_LONGLONG}, "expect": {"kind": "null"}},
        ],
    })
    return envelope("row-value", "Row values (TiDB row format v2) and the column values they "
                    "decode to. `expect.kind`: int, uint, float32, float64, decimal (string with "
                    "the stored scale), time (TiDB Time.String()), duration (Duration.String()), "
                    "json (BinaryJSON.String()), bytes (hex), enum/set/bit (uint), null.", cases)


# --------------------------------------------------------------------------------------------
# datums.json: single values and their internal (flattened) representation, from TiDB tests
# --------------------------------------------------------------------------------------------

def datums():
    # TiDB's file was read through the search index, which gives no line numbers: these cases
    # name the test function and the column id inside it instead.
    src_base = f"pingcap/tidb@{TIDB_ROWCODEC_TEST_COMMIT[:10]}:pkg/util/rowcodec/rowcodec_test.go"
    cases = [
        {"id": "tidb-timestamp6-packed", "source": f"{src_base}:TestTypesNewRowCodec (timestamp, col 5)",
         "type": {"Tp": 7, "Decimal": 6}, "text": "2011-11-10 11:11:11.999999",
         "expect": {"packed_u64": "1840446893366133311"}},
        {"id": "tidb-duration-4h", "source": f"{src_base}:TestTypesNewRowCodec (duration, col 16)",
         "type": {"Tp": 11, "Decimal": 0}, "text": "4:00:00",
         "expect": {"nanoseconds": "14400000000000"}},
        {"id": "tidb-enum-n", "source": f"{src_base}:TestTypesNewRowCodec (enum, col 9)",
         "type": {"Tp": 0xf7, "Elems": ["y", "n"]}, "text": "n", "expect": {"uint": "2"}},
        {"id": "tidb-set-n1", "source": f"{src_base}:TestTypesNewRowCodec (set, col 117)",
         "type": {"Tp": 0xf8, "Elems": ["n1", "n2"]}, "text": "n1", "expect": {"uint": "1"}},
        {"id": "tidb-bit24", "source": f"{src_base}:TestTypesNewRowCodec (bit, col 118)",
         "type": {"Tp": 16, "Flen": 24}, "text_hex": "313030", "expect": {"uint": "3223600"}},
        {"id": "tidb-decimal-11.9900", "source": f"{src_base}:TestTypesNewRowCodec (decimal, col 8)",
         "type": {"Tp": 0xf6, "Flen": 6, "Decimal": 4}, "text": "11.9900",
         "expect": {"string": "11.9900"}},
        {"id": "tidb-decimal-frac-mismatch", "source": f"{src_base}:TestDecodeDecimalFspNotMatch",
         "type": {"Tp": 0xf6, "Flen": 6, "Decimal": 3}, "text": "11.9900",
         "stored": {"prec": 6, "frac": 4},
         "expect": {"chunk_decoder_string": "11.990",
                    "note": "TiDB's chunk decoder rounds to the column scale; TiCDC's datum-map decoder keeps the stored frac"}},
        {"id": "tidb-year-1999", "source": f"{src_base}:TestTypesNewRowCodec (year, col 12)",
         "type": {"Tp": 13}, "text": "1999", "expect": {"int": "1999"}},
    ]
    dec = "components/tidb_query_datatype/src/codec/mysql/decimal.rs"
    dsrc = tikv(dec, "fn test_codec()")
    for n, (text, prec, frac, status, out) in enumerate([
            ("-10.55", 4, 2, "ok", "-10.55"),
            ("0.0123456789012345678912345", 30, 25, "ok", "0.0123456789012345678912345"),
            ("12345", 5, 0, "ok", "12345"),
            ("12345", 10, 3, "ok", "12345.000"),
            ("123.45", 10, 3, "ok", "123.450"),
            ("-123.45", 20, 10, "ok", "-123.4500000000"),
            (".00012345000098765", 15, 14, "truncated", "0.00012345000098"),
            (".00012345000098765", 22, 20, "ok", "0.00012345000098765000"),
            (".12345000098765", 30, 20, "ok", "0.12345000098765000000"),
            ("-.000000012345000098765", 30, 20, "truncated", "-0.00000001234500009876"),
            ("1234500009876.5", 30, 5, "ok", "1234500009876.50000"),
            ("111111111.11", 10, 2, "overflow", "11111111.11"),
            ("000000000.01", 7, 3, "ok", "0.010"),
            ("123.4", 10, 2, "ok", "123.40"),
            ("1000", 3, 0, "overflow", "0"),
            ("10000000000000000000.23", 23, 2, "ok", "10000000000000000000.23")]):
        cases.append({"id": f"tikv-decimal-codec-{n}", "source": dsrc, "type": {"Tp": 0xf6, "Flen": prec, "Decimal": frac},
                      "text": text, "expect": {"status": status, "decoded_string": out},
                      "note": "written with (prec, frac) as a row/datum decimal, read back, printed"})
    ser = "components/tidb_query_datatype/src/codec/mysql/json/serde.rs"
    cases.append({"id": "tikv-json-text-object-order", "source": tikv(ser, "fn test_from_str_for_object"), "type": {"Tp": 0xf5},
                  "text": '{"a": [1, "2", {"aa": "bb"}, 4.0, null], "c": null,"b": true}',
                  "expect": {"string": '{"a": [1, "2", {"aa": "bb"}, 4.0, null], "b": true, "c": null}'}})
    jsrc = tikv(ser, "fn test_to_str")
    for n, (desc, out) in enumerate([
            ('object {"key": "value"}', '{"key": "value"}'), ('array ["d1","d2"]', '["d1", "d2"]'),
            ("int64 -3", "-3"), ("int64 3", "3"), ("float64 3.0", "3.0"), ("null", "null"),
            ("true", "true"), ("false", "false"),
            ("opaque, mysql type 253 (VarString), bytes abcd", '"base64:type253:q80="')]):
        cases.append({"id": f"tikv-json-to-string-{n}", "source": jsrc, "type": {"Tp": 0xf5},
                      "value_desc": desc, "expect": {"string": out}})
    fsrc = tikv(ser, "fn test_from_str()")
    for n, (text, kind) in enumerate([("9223372036854776000", "float64"), ("9223372036854775807", "int64"),
                                      ("9223372036854775808", "uint64")]):
        # TiKV's test compares through Json's PartialEq, which compares numbers of any kind by
        # value (json/comparison.rs); 9223372036854776000 parses as a u64 (serde visit_u64, as in
        # TiDB) and equals from_f64(9223372036854776000.0) only numerically, so no kind is stated.
        expect = ({"json_number_equals": text} if kind == "float64" else {"json_number_kind": kind})
        cases.append({"id": f"tikv-json-number-kind-{n}", "source": fsrc, "type": {"Tp": 0xf5},
                      "text": text, "expect": expect})
    return envelope("datum", "Single TiDB values and the integer/string forms TiDB's row codec "
                    "gives them (packed time, duration nanoseconds, enum index, set bitmask, bit "
                    "integer), decimal round trips at a given precision/scale, and TiDB JSON text forms. No "
                    "bytes: these tests assert round trips and printed forms, not encodings.", cases)


# --------------------------------------------------------------------------------------------
# dispatch.json: partition dispatchers
# --------------------------------------------------------------------------------------------

def crc_hash(writes):
    h = 0
    for w in writes:
        h ^= zlib.crc32("".join(w).encode("utf-8"))
    return h


def dispatch():
    P = "cdc/sink/dmlsink/mq/dispatcher/partition/"
    cases = []

    def add(cid, source, dispatcher, schema, table, n, expect, *, columns=None, commit_ts=None,
            index=None, config_columns=None, error=None, hash_writes=None):
        c = {"id": cid, "source": source, "dispatcher": dispatcher, "schema": schema,
             "table": table, "partition_num": n}
        if columns is not None:
            c["columns"] = columns
        if commit_ts is not None:
            c["commit_ts"] = commit_ts
        if index is not None:
            c["index"] = index
        if config_columns is not None:
            c["config_columns"] = config_columns
        if error is not None:
            c["expect_error"] = error
        else:
            c["expect_partition"] = expect
        if hash_writes is not None:
            # transcription self-check against the hash of formats.md §6.3
            got = crc_hash(hash_writes) % n
            if got != expect:
                print(f"WARNING {cid}: crc32-xor hash gives {got}, TiCDC's test says {expect}")
            c["hash_writes"] = [list(w) for w in hash_writes]
        cases.append(c)

    src = P + "table_test.go"
    for i, (tbl, ts, exp) in enumerate([("t1", 1, 15), ("t1", 2, 15), ("t1", 3, 15), ("t2", 1, 5),
                                         ("t2", 2, 5), ("t2", 3, 5), ("t3", 3, 3)]):
        add(f"table-{i}", tiflow(src, "expectPartition: %d}" % exp), "table", "test", tbl, 16, exp,
            commit_ts=ts, hash_writes=[("test", tbl)])
    src = P + "ts_test.go"
    for i, (tbl, ts) in enumerate([("t1", 1), ("t1", 2), ("t1", 3), ("t2", 1), ("t2", 2), ("t2", 3)]):
        add(f"ts-{i}", tiflow(src, "func TestTsDispatcher"), "ts", "test", tbl, 16, ts % 16, commit_ts=ts)

    src = P + "index_value_test.go"
    pk1 = [{"name": "a", "flags": ["HandleKey", "PrimaryKey"]}, {"name": "b", "flags": []}]
    pk2 = [{"name": "a", "flags": ["HandleKey", "PrimaryKey"]}, {"name": "b", "flags": ["HandleKey", "PrimaryKey"]}]
    iv = [("t1", pk1, 11, 22, 2), ("t1", pk1, 22, 22, 11), ("t1", pk1, 11, 33, 2),
          ("t2", pk2, 11, 22, 5), ("t2", pk2, 11, 22, 5), ("t2", pk2, 11, 0, 14), ("t2", pk2, 11, 33, 2)]
    for i, (tbl, cols, a, b, exp) in enumerate(iv):
        writes = [("test", tbl), ("a", str(a))]
        if tbl == "t2":
            writes.append(("b", str(b)))
        add(f"index-value-{i}", tiflow(src, "func TestIndexValueDispatcher("), "index-value", "test", tbl, 16, exp,
            columns=[dict(c, value=str(v)) for c, v in zip(cols, (a, b))], hash_writes=writes)
    named_cols = [{"id": 1, "name": "COL2", "offset": 1, "value": "11"},
                  {"id": 2, "name": "Col1", "offset": 0, "value": "22"},
                  {"id": 3, "name": "col3", "offset": 2, "value": "33"}]
    src_named = tiflow(src, "func TestIndexValueDispatcherWithIndexName")
    table_note = {"pk_is_handle": True, "indexes": [{"name": "index1", "primary": True, "columns": ["COL2", "Col1"]}]}
    add("index-value-named-missing", src_named, "index-value", "test", "t1", 16, None, columns=named_cols,
        index="index2", error="ErrDispatcherFailed")
    for i, idx in enumerate(["index1", "INDEX1", ""]):
        c_id = f"index-value-named-{i}"
        add(c_id, src_named, "index-value", "test", "t1", 16, 5, columns=named_cols, index=idx,
            hash_writes=[("test", "t1"), ("COL2", "11"), ("Col1", "22")])
        cases[-1]["table_info"] = table_note

    src = tiflow(P + "columns_test.go", "func TestColumnsDispatcher")
    cols_lower = [{"id": 1, "name": "col2", "offset": 1, "value": "11"},
                  {"id": 2, "name": "col1", "offset": 0, "value": "22"},
                  {"id": 3, "name": "col3", "offset": 2, "value": "33"},
                  {"id": 4, "name": "col4", "offset": 3, "value": None, "generated": "virtual"}]
    add("columns-not-found", src, "columns", "test", "t1", 16, None, columns=cols_lower,
        config_columns=["col2", "col-not-found"], error="ErrDispatcherFailed: columns not found")
    add("columns-virtual", src, "columns", "test", "t1", 16, None, columns=cols_lower,
        config_columns=["col4"], error="ErrDispatcherFailed: found virtual generated columns")
    add("columns-0", src, "columns", "test", "t1", 16, 15, columns=cols_lower, config_columns=["col2", "col1"],
        hash_writes=[("test", "t1"), ("col2", "11"), ("col1", "22")])
    add("columns-1", src, "columns", "test", "t1", 16, 15, columns=cols_lower, config_columns=["COL2", "Col1"],
        hash_writes=[("test", "t1"), ("col2", "11"), ("col1", "22")])
    cols_mixed = [dict(c) for c in named_cols]
    add("columns-2", src, "columns", "test", "t1", 16, 5, columns=cols_mixed, config_columns=["col2", "col1"],
        hash_writes=[("test", "t1"), ("COL2", "11"), ("Col1", "22")])
    cases[-1]["note"] = "hash uses the table's own column names (COL2, Col1), not the configured spelling"

    add("default-0", tiflow(P + "default_test.go", "func TestDefaultDispatcher"), "default", "test", "t1", 3, 0,
        columns=[{"name": "id", "flags": ["HandleKey", "PrimaryKey"], "value": "1"}],
        hash_writes=[("test", "t1")])

    er = "cdc/sink/dmlsink/mq/dispatcher/event_router_test.go"
    s = tiflow(er, "func TestGetPartitionForRowChange")
    add("router-default1", s, "default", "test_default1", "table", 16, 14,
        columns=[{"name": "id", "flags": ["HandleKey", "PrimaryKey"], "value": "1"}],
        hash_writes=[("test_default1", "table")])
    cases[-1]["rule"] = {"matcher": ["test_default1.*"], "partition": "default"}
    add("router-unknown", s, "unknown-dispatcher", "test_default2", "table", 16, 0,
        columns=[{"name": "id", "flags": ["HandleKey", "PrimaryKey"], "value": "1"}],
        hash_writes=[("test_default2", "table")])
    cases[-1]["rule"] = {"matcher": ["test_default2.*"], "partition": "unknown-dispatcher"}
    cases[-1]["note"] = "an unknown partition rule falls back to the default (table) dispatcher"
    add("router-table", s, "table", "test_table", "table", 16, 15, commit_ts=1,
        hash_writes=[("test_table", "table")])
    add("router-index-value", s, "index-value", "test_index_value", "table", 10, 1,
        columns=[{"name": "a", "flags": ["HandleKey", "PrimaryKey"], "value": "11"}, {"name": "b", "flags": [], "value": "22"}],
        hash_writes=[("test_index_value", "table"), ("a", "11")])
    add("router-ts", s, "ts", "a", "table", 2, 1, commit_ts=1)
    return envelope("partition-dispatch", "TiCDC partition dispatchers: table, ts, index-value "
                    "(optionally with an index name), columns, default. `columns[].value` is the "
                    "value string the dispatcher hashes; `hash_writes` lists the (Write) calls of "
                    "formats.md §6.3 for reference (not TiCDC output).", cases)


# --------------------------------------------------------------------------------------------
# canal_json_types.json: mysqlType / sqlType per column type, extracted from type_test.go
# --------------------------------------------------------------------------------------------

JAVA = {"BIT": -7, "TINYINT": -6, "SMALLINT": 5, "INTEGER": 4, "BIGINT": -5, "REAL": 7, "DOUBLE": 8,
        "DECIMAL": 3, "CHAR": 1, "VARCHAR": 12, "DATE": 91, "TIME": 92, "TIMESTAMP": 93,
        "BINARY": -2, "VARBINARY": -3, "LONGVARBINARY": -4, "NULL": 0, "BLOB": 2004, "CLOB": 2005}


def split_columns(ddl):
    body = ddl[ddl.index("(") + 1: ddl.rindex(")")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return [p.split()[0] for p in parts if p and not p.lower().startswith("primary key")]


def canal_types():
    path = "pkg/sink/codec/canal/type_test.go"
    lines = upstream(TIFLOW_GIT, TIFLOW_REV, path)
    cases = {}
    ddl, ddl_line, col, pending_mysql, pending_java = None, None, None, None, None
    i = 0
    while i < len(lines):
        ln = lines[i]
        m = re.search(r"sql :?= `(.*)$", ln)
        if m:
            text, ddl_line = m.group(1), i + 1
            while "`" not in text:
                i += 1
                text += "\n" + lines[i]
            ddl = " ".join(text[: text.index("`")].split())
            col = None
        m = re.search(r"Columns\[(\d+)\]", ln)
        if m:
            col = int(m.group(1))
        m = re.search(r"GetMySQLType\(columnInfo, (true|false)\)", ln)
        if m:
            pending_mysql = m.group(1) == "true"
        m = re.search(r'require\.Equal\(t, "([^"]*)", mysqlType\)', ln)
        if m and pending_mysql is not None:
            key = (ddl, col)
            c = cases.setdefault(key, {"ddl": ddl, "ddl_source": f"pingcap/tiflow@{TIFLOW_REV}:{path}:{ddl_line}",
                                       "column_index": col, "column_name": split_columns(ddl)[col]})
            c["mysql_type_content_compatible" if pending_mysql else "mysql_type"] = m.group(1)
            c.setdefault("sources", []).append(f"pingcap/tiflow@{TIFLOW_REV}:{path}:{i + 1}")
            pending_mysql = None
        m = re.search(r"getJavaSQLType\((.*), columnInfo\.FieldType\.GetType\(\), flag\)", ln)
        if m:
            pending_java = m.group(1)
        m = (re.search(r"require\.Equal\(t, internal\.JavaSQLType(\w+), javaType\)", ln)
             or re.search(r"require\.Equal\(t, javaType, internal\.JavaSQLType(\w+)\)", ln))
        if m and pending_java is not None:
            key = (ddl, col)
            c = cases.setdefault(key, {"ddl": ddl, "ddl_source": f"pingcap/tiflow@{TIFLOW_REV}:{path}:{ddl_line}",
                                       "column_index": col, "column_name": split_columns(ddl)[col]})
            c.setdefault("sql_type_by_value", []).append(
                {"go_value": pending_java, "sql_type": JAVA[m.group(1)],
                 "source": f"pingcap/tiflow@{TIFLOW_REV}:{path}:{i + 1}"})
            pending_java = None
        i += 1
    out = []
    for n, c in enumerate(cases.values()):
        table = re.search(r"create table test\.(\w+)", c["ddl"]).group(1)
        c["id"] = f"{table}-{c['column_name']}-{n}"
        c["source"] = c.pop("sources", [c["ddl_source"]])[0] if "sources" in c else c["ddl_source"]
        out.append(c)
    out = [dict(id=c.pop("id"), **c) for c in out]
    return envelope("canal-json-column-types", "Canal-JSON `mysqlType` (default and "
                    "content-compatible) and `sqlType` (java.sql.Types, value-dependent for "
                    "unsigned integers) per column, for tables created in an embedded TiDB by "
                    "TiCDC's test. `go_value` is the Go literal TiCDC's test passes as the column "
                    "value (uint64(x) = unsigned column value, nil = NULL, \"0\" = a string).", out)


# --------------------------------------------------------------------------------------------
# canal_entry.json: rendered values (canal protobuf entry builder shares the value formatter
# with canal-json: pkg/sink/codec/canal/canal_entry.go formatColumnValue)
# --------------------------------------------------------------------------------------------

def canal_values():
    path = "pkg/sink/codec/canal/canal_entry_test.go"
    cases = [{
        "id": "insert-int-varchar-tinyint-text-blob-vector",
        "source": tiflow(path, "func TestInsert"),
        "ddl": "create table test.t( id int primary key, name varchar(32), tiny tinyint, comment text, bb blob, vec vector(5))",
        "dml": "insert into test.t values(1, \"Bob\", 127, \"测试\", \"测试blob\", '[1,2,3,4,5]')",
        "event": "INSERT",
        "columns": [
            {"name": "id", "is_key": True, "sql_type": 4, "mysql_type": "int", "value": "1"},
            {"name": "name", "is_key": False, "sql_type": 12, "mysql_type": "varchar", "value": "Bob"},
            {"name": "tiny", "is_key": False, "sql_type": -6, "value": "127"},
            {"name": "comment", "is_key": False, "sql_type": 2005, "mysql_type": "text", "value": "测试"},
            {"name": "bb", "is_key": False, "sql_type": 2004, "mysql_type": "blob",
             "value_iso8859_1_encoded_hex": "测试blob".encode().hex(),
             "note": "the rendered value, re-encoded to ISO-8859-1, gives the stored bytes back"},
            {"name": "vec", "is_key": False, "sql_type": 12, "mysql_type": "vector", "value": "[1,2,3,4,5]"},
        ]}, {
        "id": "update-before-after",
        "source": tiflow(path, "func TestUpdate"),
        "ddl": "create table test.t(id int primary key, name varchar(32))",
        "dml": "insert into test.t values (1, \"Nancy\"); insert into test.t values (2, \"Bob\")",
        "event": "UPDATE",
        "note": "the test builds an UPDATE from two inserted rows: before = (1,Nancy), after = (2,Bob)",
        "before": [{"name": "id", "sql_type": 4, "mysql_type": "int", "value": "1"},
                   {"name": "name", "sql_type": 12, "mysql_type": "varchar", "value": "Nancy"}],
        "columns": [{"name": "id", "sql_type": 4, "mysql_type": "int", "value": "2"},
                    {"name": "name", "sql_type": 12, "mysql_type": "varchar", "value": "Bob"}]}, {
        "id": "delete",
        "source": tiflow(path, "func TestDelete"),
        "ddl": "create table test.t(id int primary key)",
        "dml": "insert into test.t values(1)",
        "event": "DELETE",
        "before": [{"name": "id", "sql_type": 4, "mysql_type": "int", "value": "1"}]},
    ]
    return envelope("canal-values", "Values as TiCDC's Canal encoders render them, for rows "
                    "written by SQL into an embedded TiDB.", cases)


# --------------------------------------------------------------------------------------------
# debezium.json: the Debezium golden TiCDC tests against (real Debezium MySQL output)
# --------------------------------------------------------------------------------------------

def debezium():
    td = "pkg/sink/codec/debezium/testdata/"
    read = lambda p: "\n".join(upstream(TIFLOW_GIT, TIFLOW_REV, td + p))
    test = "pkg/sink/codec/debezium/debezium_test.go"
    case = {
        "id": "datatype-foo",
        "source": tiflow(test, "func (s *debeziumSuite) TestDataTypes"),
        "session": ["set @@tidb_enable_clustered_index=1", "use test", "SET sql_mode=''", "SET time_zone='UTC'"],
        "ddl": read("datatype.ddl.sql").strip(),
        "dml": read("datatype.dml.sql").strip(),
        "config": {"protocol": "debezium", "cluster_id": "dbserver1", "time-zone": "UTC"},
        "expect": {
            "key_json": json.loads(read("datatype.dbz.key.json")),
            "value_json": json.loads(read("datatype.dbz.json")),
            "compare": {
                "mode": "json-equal",
                "ignore": ["payload.source", "payload.ts_ms"],
                "ignore_when_debezium-disable-schema": ["schema"],
            },
            "provenance": "testdata/datatype.dbz*.json are Debezium's MySQL connector output for "
                          "the same DDL/DML; TiCDC's test requires its own encoder to match them.",
        },
        "data_sources": [f"pingcap/tiflow@{TIFLOW_REV}:{td}{f}" for f in
                         ("datatype.ddl.sql", "datatype.dml.sql", "datatype.dbz.json", "datatype.dbz.key.json")],
    }
    return envelope("debezium-message", "Debezium key and value JSON for one row of a table with "
                    "every common column type (dates incl. zero, fractional seconds, negative time, "
                    "bit widths, binary, decimal, unsigned maxima, invalid enum/set, JSON).", [case])


# --------------------------------------------------------------------------------------------
# debezium_messages.json / debezium_values.json: every Debezium message TiCDC's tests state
# --------------------------------------------------------------------------------------------
#
# Two encoders: TiCDC classic (tiflow v8.5.7, rows only: its EncodeDDLEvent and
# EncodeCheckpointEvent return nil) and TiCDC's new architecture (pingcap/ticdc, tag
# TICDC_REV), which adds schema-change (DDL) and watermark messages. Every expected message is
# the Go raw-string literal of a `require.JSONEq` call, kept byte for byte (`expect.text`);
# JSONEq compares parsed JSON, so neither key order nor whitespace nor number spelling is
# asserted by upstream: the encoder's own key order is the order of its writer calls (cited
# per object in README.md / the report, not restated here).

TICDC_GIT = os.environ.get("TICDC_GIT", "/work/.mirror/pingcap+ticdc/repo")
TICDC_REV = "v8.5.7-release.1"
TICDC_COMMIT = "e7e1f6142308f893acbd2aea8ee57af49a53e5fc"
DBZ_CLOCK_UNIX_S = 1701326309  # nowFunc: time.Unix(1701326309, 0) in every codec_test.go case

DBZ_SOURCES = dict(SOURCES)
DBZ_SOURCES["ticdc"] = {"repo": "pingcap/ticdc", "ref": TICDC_REV, "commit": TICDC_COMMIT,
                        "note": "TiCDC new architecture, v8.5.7 release line (2026-04-29); "
                                "the first line with Debezium DDL and watermark messages"}

# TiDB type codes and the FieldType flag bits the Debezium encoder reads.
TP = {"tiny": 1, "short": 2, "long": 3, "float": 4, "double": 5, "timestamp": 7, "longlong": 8,
      "int24": 9, "date": 10, "duration": 11, "datetime": 12, "year": 13, "varchar": 15,
      "bit": 16, "json": 245, "newdecimal": 246, "enum": 247, "set": 248, "blob": 252,
      "string": 254}
F_NOT_NULL, F_PRI_KEY, F_UNSIGNED, F_BINARY = 1, 2, 32, 128


def dbz_envelope(kind, description, cases, **extra):
    doc = envelope(kind, description, cases, **extra)
    doc["sources"] = DBZ_SOURCES
    return doc


def ticdc(path, anchor, after=None):
    return f"pingcap/ticdc@{TICDC_REV}:{path}:{line_of(TICDC_GIT, TICDC_REV, path, anchor, after)}"


def go_jsoneq_literals(git_dir, rev, path, func_anchor):
    """Every `require.JSONEq(t, `...`, <buf>.String())` of one Go test function, in order:
    (1-based line of the call, literal text exactly as in the file, buffer name)."""
    lines = upstream(git_dir, rev, path)
    start = line_of(git_dir, rev, path, func_anchor)
    end = next(i for i in range(start, len(lines)) if lines[i] == "}")
    out, i = [], start
    while i < end:
        if "require.JSONEq(t, `" in lines[i]:
            parts, j = [lines[i].split("require.JSONEq(t, `", 1)[1]], i
            while "`" not in parts[-1]:
                j += 1
                parts.append(lines[j])
            text, rest = "\n".join(parts).split("`", 1)
            m = re.match(r",\s*(\w+)\.String\(\)\)", rest)
            if not m:
                raise SystemExit(f"{path}:{i + 1}: unexpected JSONEq target {rest!r}")
            json.loads(text)  # must be JSON
            out.append((i + 1, text, m.group(1)))
            i = j
        i += 1
    return out


JSONEQ_NOTE = ("require.JSONEq (testify): both sides are unmarshalled into Go `interface{}` and "
               "compared with ObjectsAreEqual, so object key order, whitespace and number "
               "spelling (all numbers become float64) are not asserted; `text` is the test's raw "
               "string literal, byte for byte")


def dbz_col(name, tp, flag=0, *, flen=None, decimal=None, charset=None, elems=None, default=None,
            sql=None):
    t = {"Tp": TP[tp], "Flag": flag}
    if flen is not None:
        t["Flen"] = flen
    if decimal is not None:
        t["Decimal"] = decimal
    if charset is not None:
        t["Charset"] = charset
    if elems is not None:
        t["Elems"] = elems
    c = {"name": name, "type": t, "default_value": default}
    if sql is not None:
        c["sql_type"] = sql
    return c


def dbz_message_cases(stack, git_dir, rev, repo, path, func, plan):
    """Zip the JSONEq literals of `func` with `plan` (one dict per literal, in order)."""
    lits = go_jsoneq_literals(git_dir, rev, path, f"func {func}(")
    if len(lits) != len(plan):
        raise SystemExit(f"{path} {func}: {len(lits)} JSONEq literals, plan has {len(plan)}")
    cases = []
    for (line, text, buf), p in zip(lits, plan):
        msg = "key" if buf == "keyBuf" else "value"
        if msg != p["message"]:
            raise SystemExit(f"{path}:{line}: literal is the {msg}, plan says {p['message']}")
        case = {"id": p["id"], "source": f"{repo}@{rev}:{path}:{line}",
                "stack": stack, "test": func, "message": msg}
        case.update({k: v for k, v in p.items() if k not in ("id", "message")})
        case["expect"] = {"text": text, "json": json.loads(text), "compare": "json-eq"}
        cases.append(case)
    return cases


def dbz_row_plans(prefix, stack, table, event_for, options_seq):
    """Key/value literal plans of TestEncodeInsert/Update/Delete (same structure in both stacks)."""
    plans = []
    for n, (msg, opts) in enumerate(options_seq):
        plans.append({"id": f"{prefix}-{n}-{msg}", "message": msg, "table": table,
                      "event": event_for, "config": dict(opts)})
    return plans


def debezium_messages():
    cases = []
    clock = {"clock_unix_s": DBZ_CLOCK_UNIX_S, "clock_note": "nowFunc = time.Unix(1701326309, 0); "
             "payload.ts_ms = its UnixMilli = 1701326309000"}
    base = {"cluster_id": "test_cluster", "time-zone": None, "enable-tidb-extension": False}

    def cfg(disable_schema, output_old_value):
        c = dict(base)
        c["debezium-disable-schema"] = disable_schema
        c["debezium-output-old-value"] = output_old_value
        return c

    # ---- classic (tiflow v8.5.7): table built in Go by model.BuildTableInfo -------------------
    t_path = "pkg/sink/codec/debezium/codec_test.go"
    tiflow_table = {
        "schema": "test", "table": "table1", "handle_key": ["tiny"],
        "columns": [dbz_col("tiny", "tiny", F_PRI_KEY, charset="utf8mb4")],
        "built_by": "model.BuildTableInfo(\"test\", \"table1\", []*model.Column{{Name: \"tiny\", "
                    "Type: mysql.TypeTiny, Flag: model.NullableFlag | model.HandleKeyFlag | "
                    "model.PrimaryKeyFlag}}, [][]int{{0}})",
        "type_note": "The test states TiCDC column flags Nullable|HandleKey|PrimaryKey; "
                     "BuildTiDBTableInfoImpl turns them into TiDB flag PriKeyFlag without "
                     "NotNullFlag (so the key schema says optional: true) and charset utf8mb4 "
                     "(derived; Flen/Decimal are left zero and the encoder does not read them "
                     "for TINYINT)",
    }
    ins = {"kind": "insert", "commit_ts": 1, "columns": {"tiny": {"go": "int64(1)", "value": 1}}}
    upd = {"kind": "update", "commit_ts": 1, "columns": {"tiny": {"go": "int64(1)", "value": 1}},
           "pre_columns": {"tiny": {"go": "int64(2)", "value": 2}}}
    dele = {"kind": "delete", "commit_ts": 1, "pre_columns": {"tiny": {"go": "int64(2)", "value": 2}}}
    seqs = {
        "TestEncodeInsert": (ins, [("key", cfg(True, False)), ("value", cfg(True, False)),
                                   ("key", cfg(False, False)), ("value", cfg(False, False))]),
        "TestEncodeUpdate": (upd, [("key", cfg(True, True)), ("value", cfg(True, True)),
                                   ("key", cfg(False, True)), ("value", cfg(False, True)),
                                   ("key", cfg(True, False)), ("value", cfg(True, False))]),
        "TestEncodeDelete": (dele, [("key", cfg(True, False)), ("value", cfg(True, False)),
                                    ("key", cfg(False, False)), ("value", cfg(False, False))]),
    }
    for func, (ev, seq) in seqs.items():
        plan = dbz_row_plans(f"classic-{func[len('TestEncode'):].lower()}", "classic",
                             tiflow_table, ev, seq)
        for p in plan:
            p.update(clock)
        cases += dbz_message_cases("classic", TIFLOW_GIT, TIFLOW_REV, "pingcap/tiflow",
                                   t_path, func, plan)

    # ---- new architecture (pingcap/ticdc): tables made by SQL in an embedded TiDB -------------
    n_path = "pkg/sink/codec/debezium/codec_test.go"
    tiny_table = {
        "schema": "test", "table": "table1", "handle_key": ["tiny"],
        "ddl": "create table test.table1(tiny tinyint primary key)",
        "columns": [dbz_col("tiny", "tiny", F_NOT_NULL | F_PRI_KEY, flen=4, decimal=0,
                            charset="binary", sql="tinyint")],
        "type_note": "Derived from the DDL with TiDB's defaults: a PRIMARY KEY column is NOT NULL "
                     "(so the key schema says optional: false, unlike the classic cases)",
    }
    ins_n = {"kind": "insert", "commit_ts": 1, "dml": ["insert into test.table1 values (1)"],
             "columns": {"tiny": {"value": 1}}}
    upd_n = {"kind": "update", "commit_ts": 1,
             "dml": ["insert into test.table1 values (2)", "update test.table1 set tiny=1 where tiny=2"],
             "columns": {"tiny": {"value": 1}}, "pre_columns": {"tiny": {"value": 2}},
             "note": "row = the UPDATE's row with PreRow replaced by the INSERT's row; not split"}
    del_n = {"kind": "delete", "commit_ts": 1, "dml": ["insert into test.table1 values (2)"],
             "pre_columns": {"tiny": {"value": 2}},
             "note": "the INSERT's row with Row and PreRow swapped"}
    seqs = {
        "TestEncodeInsert": (ins_n, seqs["TestEncodeInsert"][1]),
        "TestEncodeUpdate": (upd_n, seqs["TestEncodeUpdate"][1]),
        "TestEncodeDelete": (del_n, seqs["TestEncodeDelete"][1]),
    }
    for func, (ev, seq) in seqs.items():
        plan = dbz_row_plans(f"newarch-{func[len('TestEncode'):].lower()}", "new-architecture",
                             tiny_table, ev, seq)
        for p in plan:
            p.update(clock)
        cases += dbz_message_cases("new-architecture", TICDC_GIT, TICDC_REV, "pingcap/ticdc",
                                   n_path, func, plan)

    # DDL (schema change) messages
    id_table = {"columns": [dbz_col("id", "long", F_NOT_NULL | F_PRI_KEY, flen=10, decimal=0,
                                    charset="binary", sql="int(10)")],
                "charset": "utf8mb4", "primary_key": ["id"],
                "type_note": "Derived from the DDL with TiDB's defaults (table charset utf8mb4)"}
    rename = {"kind": "ddl", "action": "ActionRenameTable", "action_type": 14,
              "schema": "test", "table": "table2", "extra_schema": "test", "extra_table": "table1",
              "query": "RENAME TABLE test.table1 to test.table2", "finished_ts": 1,
              "setup": ["use test", "create table test.table1(id int(10) primary key)"],
              "table_info": id_table}
    create = {"kind": "ddl", "action": "ActionCreateTable", "action_type": 3,
              "schema": "test", "table": "table1",
              "query": "CREATE TABLE test.table1(id int(10) primary key)", "finished_ts": 1,
              "table_info": id_table}
    drop = {"kind": "ddl", "action": "ActionDropTable", "action_type": 4,
            "schema": "test", "table": "table2", "query": "DROP TABLE test.table2", "finished_ts": 1}
    plan = []
    for name, ev, ds in (("rename", rename, False), ("create", create, True), ("drop", drop, True)):
        for msg in ("key", "value"):
            p = {"id": f"newarch-ddl-{name}-{msg}", "message": msg, "event": ev,
                 "config": cfg(ds, True)}
            p.update(clock)
            plan.append(p)
    cases.append({
        "id": "newarch-ddl-unsupported-action", "stack": "new-architecture", "test": "TestDDLEvent",
        "source": ticdc(n_path, "require.ErrorIs(t, err, errors.ErrDDLUnsupportType)"),
        "message": "none", "event": dict(rename, action="ActionNone", action_type=0),
        "config": cfg(False, True),
        "expect": {"error": "ErrDDLUnsupportType",
                   "note": "the encoder (encoder.go EncodeDDLEvent) logs and drops such a DDL: no message"}})
    cases += dbz_message_cases("new-architecture", TICDC_GIT, TICDC_REV, "pingcap/ticdc",
                               n_path, "TestDDLEvent", plan)

    # watermark (checkpoint) messages
    plan = []
    for msg in ("key", "value"):
        p = {"id": f"newarch-watermark-{msg}", "message": msg,
             "event": {"kind": "watermark", "checkpoint_ts": 3},
             "config": cfg(False, True),
             "note": "codec-level call: the batch encoder emits a watermark only with "
                     "enable-tidb-extension=true (encoder.go EncodeCheckpointEvent)"}
        p.update(clock)
        plan.append(p)
    cases += dbz_message_cases("new-architecture", TICDC_GIT, TICDC_REV, "pingcap/ticdc", n_path,
                               "TestCheckPointEvent", plan)

    # ---- the all-types golden (real Debezium 2.4 output; same files in both repositories) ---
    td = "pkg/sink/codec/debezium/testdata/"
    read = lambda p: "\n".join(upstream(TIFLOW_GIT, TIFLOW_REV, td + p))
    for p in ("datatype.dbz.json", "datatype.dbz.key.json", "datatype.ddl.sql", "datatype.dml.sql"):
        if read(p) != "\n".join(upstream(TICDC_GIT, TICDC_REV, td + p)):
            raise SystemExit(f"{p} differs between tiflow {TIFLOW_REV} and ticdc {TICDC_REV}")
    dt_test = "pkg/sink/codec/debezium/debezium_test.go"
    for msg, f in (("value", "datatype.dbz.json"), ("key", "datatype.dbz.key.json")):
        cases.append({
            "id": f"datatype-foo-{msg}", "stack": "both", "test": "debeziumSuite.TestDataTypes",
            "source": tiflow(dt_test, "func (s *debeziumSuite) TestDataTypes"),
            "also_source": ticdc(dt_test, "func (s *debeziumSuite) TestDataTypes"),
            "message": msg,
            "table": {"schema": "test", "table": "foo", "handle_key": ["pk"],
                      "ddl": read("datatype.ddl.sql").strip(),
                      "columns_in": "debezium_values.json (op column_value)"},
            "event": {"kind": "insert", "commit_ts": "from the mock store (tiflow: start ts + 1; "
                      "ticdc: 1)", "session": ["set @@tidb_enable_clustered_index=1", "use test",
                                              "SET sql_mode=''", "SET time_zone='UTC'"],
                      "dml": read("datatype.dml.sql").strip()},
            "config": {"cluster_id": "dbserver1", "time-zone": "UTC", "enable-tidb-extension": False,
                       "debezium-output-old-value": True,
                       "debezium-disable-schema": [False, True]},
            "expect": {"text": read(f), "json": json.loads(read(f)), "compare": "json-eq-ignoring",
                       "ignore": ["payload.source", "payload.ts_ms"],
                       "ignore_when_debezium-disable-schema": ["schema"],
                       "provenance": "Debezium 2.4 MySQL connector output for the same DDL/DML; "
                                     "TiCDC's suite runs once with the schema and once with "
                                     "debezium-disable-schema, comparing as parsed JSON (cmp.Diff of "
                                     "map[string]any) with these paths ignored"},
            "data_source": f"pingcap/tiflow@{TIFLOW_REV}:{td}{f}",
        })
    return dbz_envelope("debezium-messages", "Debezium key and value messages exactly as TiCDC's "
                    "tests state them (Go raw-string literals, byte for byte, in `expect.text`; "
                    "`expect.json` is the same parsed): classic row messages (tiflow), new-"
                    "architecture row, schema-change (DDL) and watermark messages (pingcap/ticdc), "
                    "and the all-types Debezium golden. " + JSONEQ_NOTE + ".", cases,
                    stacks={"classic": f"pingcap/tiflow@{TIFLOW_REV}",
                            "new-architecture": f"pingcap/ticdc@{TICDC_REV}"})


def split_sql_values(dml):
    """The top-level comma-separated items of `INSERT ... VALUES (...)`, quotes respected."""
    body = dml[dml.index("(") + 1: dml.rindex(")")]
    items, cur, quoted = [], "", False
    for ch in body:
        if ch == "'":
            quoted = not quoted
        if ch == "," and not quoted:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    items.append(cur.strip())
    return items


def json_object_text(lines, at):
    """Exact text of the JSON object whose member is on line index `at` (pretty-printed file)."""
    if "{" in lines[at] and "}" in lines[at]:
        return lines[at].strip().rstrip(",")
    s = at
    while lines[s].strip() != "{":
        s -= 1
    e = at
    while lines[e].strip() not in ("}", "},"):
        e += 1
    return "\n".join(lines[s:e + 1]).rstrip(",")


# The datatype table as TiDB builds it from testdata/datatype.ddl.sql (derived: the DDL states
# SQL types only). Flen/Decimal only where the Debezium encoder reads them (BIT length, time
# fsp, FLOAT/DOUBLE declared decimals, DECIMAL); Flag only the bits it reads.
DBZ_DATATYPE_COLUMNS = [
    ("pk", "INT PRIMARY KEY", "long", F_NOT_NULL | F_PRI_KEY, {}),
    ("col_d_2023", "DATE", "date", 0, {}), ("col_d_1000", "DATE", "date", 0, {}),
    ("col_d_9999", "DATE", "date", 0, {}), ("col_d_0000", "DATE", "date", 0, {}),
    ("col_dt", "DATETIME", "datetime", 0, {"decimal": 0}),
    ("col_dt_fsp_0", "DATETIME(0)", "datetime", 0, {"decimal": 0}),
    ("col_dt_fsp_1", "DATETIME(1)", "datetime", 0, {"decimal": 1}),
    ("col_dt_fsp_4", "DATETIME(4)", "datetime", 0, {"decimal": 4}),
    ("col_dt_fsp_6", "DATETIME(6)", "datetime", 0, {"decimal": 6}),
    ("col_dt_0000", "DATETIME(6)", "datetime", 0, {"decimal": 6}),
    ("col_t", "TIME", "duration", 0, {"decimal": 0}),
    ("col_t_fsp_0", "TIME(0)", "duration", 0, {"decimal": 0}),
    ("col_t_fsp_1", "TIME(1)", "duration", 0, {"decimal": 1}),
    ("col_t_fsp_4", "TIME(4)", "duration", 0, {"decimal": 4}),
    ("col_t_fsp_6", "TIME(6)", "duration", 0, {"decimal": 6}),
    ("col_t_neg", "TIME(6)", "duration", 0, {"decimal": 6}),
    ("col_ts", "TIMESTAMP", "timestamp", 0, {"decimal": 0}),
    ("col_ts_fsp_0", "TIMESTAMP(0)", "timestamp", 0, {"decimal": 0}),
    ("col_ts_fsp_1", "TIMESTAMP(1)", "timestamp", 0, {"decimal": 1}),
    ("col_ts_fsp_5", "TIMESTAMP(5)", "timestamp", 0, {"decimal": 5}),
    ("col_ts_fsp_6", "TIMESTAMP(6)", "timestamp", 0, {"decimal": 6}),
    ("col_y", "YEAR", "year", 0, {}),
    ("col_bit_1", "BIT(1)", "bit", 0, {"flen": 1}), ("col_bit_5", "BIT(5)", "bit", 0, {"flen": 5}),
    ("col_bit_6", "BIT(6)", "bit", 0, {"flen": 6}), ("col_bit_60", "BIT(60)", "bit", 0, {"flen": 60}),
    ("col_varchar", "VARCHAR(100)", "varchar", 0, {"flen": 100, "charset": "utf8mb4"}),
    ("col_char", "CHAR(100)", "string", 0, {"flen": 100, "charset": "utf8mb4"}),
    ("col_varbinary", "VARBINARY(100)", "varchar", F_BINARY, {"flen": 100, "charset": "binary"}),
    ("col_binary", "BINARY(100)", "string", F_BINARY, {"flen": 100, "charset": "binary"}),
    ("col_blob", "BLOB", "blob", F_BINARY, {"charset": "binary"}),
    ("col_decimal", "DECIMAL(10, 5)", "newdecimal", 0, {"flen": 10, "decimal": 5}),
    ("col_numeric", "NUMERIC(10, 5)", "newdecimal", 0, {"flen": 10, "decimal": 5}),
    ("col_float", "FLOAT", "float", 0, {"decimal": -1}),
    ("col_double", "DOUBLE", "double", 0, {"decimal": -1}),
    ("col_int", "INT", "long", 0, {}), ("col_int_unsigned", "INT UNSIGNED", "long", F_UNSIGNED, {}),
    ("col_tinyint", "TINYINT", "tiny", 0, {}),
    ("col_tinyint_unsigned", "TINYINT UNSIGNED", "tiny", F_UNSIGNED, {}),
    ("col_smallint", "SMALLINT", "short", 0, {}),
    ("col_smallint_unsigned", "SMALLINT UNSIGNED", "short", F_UNSIGNED, {}),
    ("col_mediumint", "MEDIUMINT", "int24", 0, {}),
    ("col_mediumint_unsigned", "MEDIUMINT UNSIGNED", "int24", F_UNSIGNED, {}),
    ("col_bigint", "BIGINT", "longlong", 0, {}),
    ("col_bigint_unsigned", "BIGINT UNSIGNED", "longlong", F_UNSIGNED, {}),
    ("col_enum", "ENUM('a', 'b', 'c')", "enum", 0, {"elems": ["a", "b", "c"]}),
    ("col_enum_invalid", "ENUM('a', 'b', 'c')", "enum", 0, {"elems": ["a", "b", "c"]}),
    ("col_set", "SET('a', 'b', 'c')", "set", 0, {"elems": ["a", "b", "c"]}),
    ("col_set_invalid", "SET('a', 'b', 'c')", "set", 0, {"elems": ["a", "b", "c"]}),
    ("col_json", "JSON", "json", F_BINARY, {"charset": "binary"}),
]


def debezium_values():
    td = "pkg/sink/codec/debezium/testdata/"
    ddl = "\n".join(upstream(TIFLOW_GIT, TIFLOW_REV, td + "datatype.ddl.sql"))
    dml = "\n".join(upstream(TIFLOW_GIT, TIFLOW_REV, td + "datatype.dml.sql"))
    dbz = upstream(TIFLOW_GIT, TIFLOW_REV, td + "datatype.dbz.json")
    parsed = json.loads("\n".join(dbz))
    after_line = next(i for i, l in enumerate(dbz) if l.strip() == '"after": {')
    sql_values = split_sql_values(dml)
    if [c[0] for c in DBZ_DATATYPE_COLUMNS] != [f["field"] for f in parsed["schema"]["fields"][0]["fields"]]:
        raise SystemExit("datatype columns disagree with datatype.dbz.json")
    if len(sql_values) != len(DBZ_DATATYPE_COLUMNS):
        raise SystemExit("datatype.dml.sql: value count disagrees with the columns")
    cases = []
    for (name, sql, tp, flag, more), literal in zip(DBZ_DATATYPE_COLUMNS, sql_values):
        if not re.search(rf"^\s*{name}\s+{re.escape(sql)}", ddl, re.M):
            raise SystemExit(f"datatype.ddl.sql: {name} {sql} not found")
        col = dbz_col(name, tp, flag, sql=sql, **more)
        schema_at = next(i for i, l in enumerate(dbz) if f'"field": "{name}"' in l)
        value_at = next(i for i in range(after_line, len(dbz)) if dbz[i].strip().startswith(f'"{name}": '))
        value_text = dbz[value_at].strip().rstrip(",").split(": ", 1)[1]
        schema_text = json_object_text(dbz, schema_at)
        cases.append({
            "id": f"datatype-{name}", "op": "column_value",
            "source": f"pingcap/tiflow@{TIFLOW_REV}:{td}datatype.dbz.json:{value_at + 1}",
            "schema_source": f"pingcap/tiflow@{TIFLOW_REV}:{td}datatype.dbz.json:{schema_at + 1}",
            "input_source": f"pingcap/tiflow@{TIFLOW_REV}:{td}datatype.dml.sql",
            "column": col,
            "input": {"sql_literal": literal, "session": {"time_zone": "UTC", "sql_mode": ""}},
            "config": {"time-zone": "UTC", "enable-tidb-extension": False},
            "expect": {"value_text": value_text, "value": parsed["payload"]["after"][name],
                       "schema_field_text": schema_text,
                       "schema_field": json.loads(schema_text),
                       "compare": "json-eq (Debezium's output; TiCDC's test compares parsed JSON)"},
        })
    # Schema and topic names
    for repo, git_dir, rev in (("pingcap/tiflow", TIFLOW_GIT, TIFLOW_REV),
                               ("pingcap/ticdc", TICDC_GIT, TICDC_REV)):
        path = "pkg/sink/codec/debezium/helper_test.go"
        cases.append({"id": f"schema-topic-name-{repo.split('/')[1]}", "op": "schema_name_prefix",
                      "source": f"{repo}@{rev}:{path}:{line_of(git_dir, rev, path, 'func TestGetSchemaTopicName')}",
                      "input": {"cluster_id": "default", "schema": "1A.B", "table": "columnNameWith中文"},
                      "expect": "default._1A_B.columnNameWith__",
                      "note": "prefix of <…>.Key / .Value / .Envelope: SanitizeName(cluster id) . "
                              "SanitizeName(schema) . SanitizeTopicName(table)"})
    # Column defaults and fsp as the new-architecture DDL encoder re-reads them from the query
    path = "pkg/sink/codec/debezium/helper_test.go"
    src = ticdc(path, "func TestGetColumns")
    query = ("CREATE TABLE test (id INT PRIMARY KEY, val1 datetime default current_timestamp, "
             "val2 time(2) default 0,  val3 timestamp(3) default now(), val4 YEAR(4) default 1970 "
             "comment 'first');")
    if query not in "\n".join(upstream(TICDC_GIT, TICDC_REV, path)):
        raise SystemExit("helper_test.go: TestGetColumns query moved")
    for cid, col, exp in (
            ("val1", dbz_col("val1", "datetime"), {"default_value": "CURRENT_TIMESTAMP"}),
            ("val2", dbz_col("val2", "duration"), {"Decimal": 2, "default_value": "0"}),
            ("val3", dbz_col("val3", "timestamp"), {"Decimal": 3, "default_value": "CURRENT_TIMESTAMP"}),
            ("val4", dbz_col("val4", "year"), {"Flen": 4, "default_value": "1970", "comment": ""})):
        col["type"]["Flag"] = 0
        cases.append({"id": f"parse-columns-{cid}", "op": "ddl_parse_columns", "source": src,
                      "query": query, "column_before": col, "expect": exp,
                      "note": "parseColumns(query, columnInfos) fills default value, fsp and length "
                              "from the DDL text into the column infos given as types.NewFieldType(tp); "
                              "the comment is not taken over"})
    return dbz_envelope("debezium-values", "Per-column Debezium values and column schemas of the "
                        "all-types golden (Debezium 2.4 MySQL connector output that TiCDC's test "
                        "requires its encoder to match; `value_text` / `schema_field_text` are the "
                        "file's text, byte for byte), the Connect schema name prefix, and the DDL "
                        "column parsing of the new-architecture schema-change encoder. Column `type` "
                        "is derived from the DDL (Flen/Decimal only where the encoder reads them; "
                        "Flag only NotNull 1, PriKey 2, Unsigned 32, Binary 128).", cases)


# --------------------------------------------------------------------------------------------
# avro_names.json: Avro name sanitising
# --------------------------------------------------------------------------------------------

def avro_names():
    path = "pkg/sink/codec/avro/avro_test.go"
    s1 = tiflow(path, "func TestSanitizeName")
    s2 = tiflow(path, "func TestGetAvroNamespace")
    cases = [
        {"id": "sanitize-0", "source": s1, "op": "sanitize_name", "input": "normalColumnName123", "expect": "normalColumnName123"},
        {"id": "sanitize-1", "source": s1, "op": "sanitize_name", "input": "1ColumnNameStartWithNumber", "expect": "_1ColumnNameStartWithNumber"},
        {"id": "sanitize-2", "source": s1, "op": "sanitize_name", "input": "A.B", "expect": "A_B"},
        {"id": "sanitize-3", "source": s1, "op": "sanitize_name", "input": "columnNameWith中文", "expect": "columnNameWith__"},
        {"id": "namespace-0", "source": s2, "op": "namespace", "input": ["normalNamespace", "normalSchema"], "expect": "normalNamespace.normalSchema"},
        {"id": "namespace-1", "source": s2, "op": "namespace", "input": ["1Namespace", "1Schema"], "expect": "_1Namespace._1Schema"},
        {"id": "namespace-2", "source": s2, "op": "namespace", "input": ["N-amespace", "S.chema"], "expect": "N_amespace.S_chema"},
        {"id": "namespace-3", "source": s2, "op": "namespace", "input": ["normalNamespace", ""], "expect": "normalNamespace"},
    ]
    return envelope("avro-names", "Avro record/field name sanitising and namespaces "
                    "(input[0] = namespace prefix, input[1] = schema name).", cases)


# --------------------------------------------------------------------------------------------
# avro_schema.json / avro_values.json: Avro schemas and native values as TiCDC's tests state them
# --------------------------------------------------------------------------------------------
#
# tiflow v8.5.7's avro_test.go states almost no schema or value: tiflow#11010 (first released
# in v8.2.0) replaced the per-column table `avroTestColumns`, the expected whole-record schema
# texts (avro_test_data.go) and the per-mode checks by encode/decode round trips. The tables
# are therefore read at v8.1.2, the last release that has them; every such case cites
# pingcap/tiflow@v8.1.2. Between v8.1.2 and v8.5.7, pkg/sink/codec/avro/avro.go changes in
# ways none of these cases reach (checked by reading the diff): the empty-schema namespace
# (avro_names.json), a nullable column whose default converts to the string "null", the
# VECTOR type, and SanitizeName moving to pkg/sink/codec/common/helper.go unchanged.

AVRO_TEST = "pkg/sink/codec/avro/avro_test.go"
AVRO_TEST_DATA = "pkg/sink/codec/avro/avro_test_data.go"
AVRO_OLD = TIFLOW_AVRO_TABLES_REV

MYSQL_TP = {
    "TypeTiny": 1, "TypeShort": 2, "TypeLong": 3, "TypeFloat": 4, "TypeDouble": 5,
    "TypeTimestamp": 7, "TypeLonglong": 8, "TypeInt24": 9, "TypeDate": 10, "TypeDuration": 11,
    "TypeDatetime": 12, "TypeYear": 13, "TypeVarchar": 15, "TypeBit": 16, "TypeJSON": 245,
    "TypeNewDecimal": 246, "TypeEnum": 247, "TypeSet": 248, "TypeTinyBlob": 249,
    "TypeMediumBlob": 250, "TypeLongBlob": 251, "TypeBlob": 252, "TypeVarString": 253,
    "TypeString": 254,
}
F_NOT_NULL, F_PRI_KEY, F_UNSIGNED, F_BINARY = 1, 2, 32, 128
STRING_TPS = {"TypeVarchar", "TypeVarString", "TypeString", "TypeTinyBlob", "TypeMediumBlob",
              "TypeLongBlob", "TypeBlob"}

AVRO_MODES_DEFAULT = {"avro-decimal-handling-mode": "precise",
                      "avro-bigint-unsigned-handling-mode": "long",
                      "enable-tidb-extension": False}

HELLO = "hello world"

# avroTestColumns (v8.1.2 avro_test.go:46-517), in order. Per column: name, rowcodec column id,
# model.Column Type, flags the test sets ("U" = model.UnsignedFlag, "B" = model.BinaryFlag),
# Elems, the Go value TiCDC's test passes, that value in this corpus' value kinds, the expected
# Avro type (TestColumnToAvroSchema), the expected native value as the Go literal the test
# states, goavro's union branch name the test states, and that native value as data.
AVRO_COLUMNS = [
    ("tiny", 1, "TypeTiny", "", None, "int64(1)", {"kind": "int", "value": "1"},
     ("int", {"tidb_type": "INT"}), "int32(1)", "int", {"avro": "int", "value": 1}),
    ("short", 2, "TypeShort", "", None, "int64(1)", {"kind": "int", "value": "1"},
     ("int", {"tidb_type": "INT"}), "int32(1)", "int", {"avro": "int", "value": 1}),
    ("int24", 3, "TypeInt24", "", None, "int64(1)", {"kind": "int", "value": "1"},
     ("int", {"tidb_type": "INT"}), "int32(1)", "int", {"avro": "int", "value": 1}),
    ("long", 4, "TypeLong", "", None, "int64(1)", {"kind": "int", "value": "1"},
     ("int", {"tidb_type": "INT"}), "int32(1)", "int", {"avro": "int", "value": 1}),
    ("longlong", 5, "TypeLonglong", "", None, "int64(1)", {"kind": "int", "value": "1"},
     ("long", {"tidb_type": "BIGINT"}), "int64(1)", "long", {"avro": "long", "value": 1}),
    ("tinyunsigned", 6, "TypeTiny", "U", None, "uint64(1)", {"kind": "uint", "value": "1"},
     ("int", {"tidb_type": "INT UNSIGNED"}), "int32(1)", "int", {"avro": "int", "value": 1}),
    ("shortunsigned", 7, "TypeShort", "U", None, "uint64(1)", {"kind": "uint", "value": "1"},
     ("int", {"tidb_type": "INT UNSIGNED"}), "int32(1)", "int", {"avro": "int", "value": 1}),
    ("int24unsigned", 8, "TypeInt24", "U", None, "uint64(1)", {"kind": "uint", "value": "1"},
     ("int", {"tidb_type": "INT UNSIGNED"}), "int32(1)", "int", {"avro": "int", "value": 1}),
    ("longunsigned", 9, "TypeLong", "U", None, "uint64(1)", {"kind": "uint", "value": "1"},
     ("long", {"tidb_type": "INT UNSIGNED"}), "int64(1)", "long", {"avro": "long", "value": 1}),
    ("longlongunsigned", 10, "TypeLonglong", "U", None, "uint64(1)", {"kind": "uint", "value": "1"},
     ("long", {"tidb_type": "BIGINT UNSIGNED"}), "int64(1)", "long", {"avro": "long", "value": 1}),
    ("float", 11, "TypeFloat", "", None, "float32(3.14)", {"kind": "float32", "value": "3.14"},
     ("float", {"tidb_type": "FLOAT"}), "float32(3.14)", "float", {"avro": "float", "value": "3.14"}),
    ("double", 12, "TypeDouble", "", None, "float64(3.14)", {"kind": "float64", "value": "3.14"},
     ("double", {"tidb_type": "DOUBLE"}), "float64(3.14)", "double", {"avro": "double", "value": "3.14"}),
    ("bit", 13, "TypeBit", "", None, "uint64(683)", {"kind": "bit", "value": "683"},
     ("bytes", {"length": "1", "tidb_type": "BIT"}), '[]byte("\\x02\\xab")', "bytes",
     {"avro": "bytes", "hex": "02ab"}),
    ("decimal", 14, "TypeNewDecimal", "", None, '"129012.1230000"', {"kind": "decimal", "value": "129012.1230000"},
     ("bytes", {"tidb_type": "DECIMAL"}), "big.NewRat(129012123, 1000)", "bytes.decimal",
     {"avro": "bytes.decimal", "rational": "129012123/1000"}),
] + [
    (n, i, tp, "", None, '[]byte("hello world")', {"kind": "bytes", "hex": HELLO.encode().hex(), "text": HELLO},
     ("string", {"tidb_type": "TEXT"}), '"hello world"', "string", {"avro": "string", "value": HELLO})
    for n, i, tp in [("tinytext", 15, "TypeTinyBlob"), ("mediumtext", 16, "TypeMediumBlob"),
                     ("text", 17, "TypeBlob"), ("longtext", 18, "TypeLongBlob"),
                     ("varchar", 19, "TypeVarchar"), ("varstring", 20, "TypeVarString"),
                     ("string", 21, "TypeString")]
] + [
    (n, i, tp, "B", None, '[]byte("hello world")', {"kind": "bytes", "hex": HELLO.encode().hex(), "text": HELLO},
     ("bytes", {"tidb_type": "BLOB"}), '[]byte("hello world")', "bytes", {"avro": "bytes", "hex": HELLO.encode().hex()})
    for n, i, tp in [("tinyblob", 22, "TypeTinyBlob"), ("mediumblob", 23, "TypeMediumBlob"),
                     ("blob", 24, "TypeBlob"), ("longblob", 25, "TypeLongBlob"),
                     ("varbinary", 26, "TypeVarchar"), ("varbinary1", 27, "TypeVarString"),
                     ("binary", 28, "TypeString")]
] + [
    ("enum", 29, "TypeEnum", "", ["a", "b"], "uint64(1)", {"kind": "enum", "value": "1"},
     ("string", {"allowed": "a,b", "tidb_type": "ENUM"}), '"a"', "string", {"avro": "string", "value": "a"}),
    ("set", 30, "TypeSet", "", ["a", "b"], "uint64(1)", {"kind": "set", "value": "1"},
     ("string", {"allowed": "a,b", "tidb_type": "SET"}), '"a"', "string", {"avro": "string", "value": "a"}),
    ("json", 31, "TypeJSON", "", None, '`{"key": "value"}`', {"kind": "json", "value": '{"key": "value"}'},
     ("string", {"tidb_type": "JSON"}), '`{"key": "value"}`', "string", {"avro": "string", "value": '{"key": "value"}'}),
    ("date", 32, "TypeDate", "", None, '"2000-01-01"', {"kind": "time", "value": "2000-01-01"},
     ("string", {"tidb_type": "DATE"}), '"2000-01-01"', "string", {"avro": "string", "value": "2000-01-01"}),
    ("datetime", 33, "TypeDatetime", "", None, '"2015-12-20 23:58:58"', {"kind": "time", "value": "2015-12-20 23:58:58"},
     ("string", {"tidb_type": "DATETIME"}), '"2015-12-20 23:58:58"', "string",
     {"avro": "string", "value": "2015-12-20 23:58:58"}),
    ("timestamp", 34, "TypeTimestamp", "", None, '"1973-12-30 15:30:00"', {"kind": "time", "value": "1973-12-30 15:30:00"},
     ("string", {"tidb_type": "TIMESTAMP"}), '"1973-12-30 15:30:00"', "string",
     {"avro": "string", "value": "1973-12-30 15:30:00"}),
    ("time", 35, "TypeDuration", "", None, '"23:59:59"', {"kind": "duration", "value": "23:59:59"},
     ("string", {"tidb_type": "TIME"}), '"23:59:59"', "string", {"avro": "string", "value": "23:59:59"}),
    ("year", 36, "TypeYear", "", None, "int64(1970)", {"kind": "int", "value": "1970"},
     ("int", {"tidb_type": "YEAR"}), "int32(1970)", "int", {"avro": "int", "value": 1970}),
]


def avro_column_type(tp, flags, elems, nullable=False, pri_key=False):
    """The TiDB column (FieldType JSON names) equivalent to the TiCDC test column.

    Flen/Decimal are given only where TiCDC's Avro encoder reads them (BIT: `length`; DECIMAL:
    precision/scale); the test builds them with types.NewFieldType, which leaves both
    unspecified (-1) for these two types. Charset `binary` stands for TiCDC's BinaryFlag, which
    v8.5.7 derives from the column charset (cdc/model/schema_storage.go initColumnsFlag)."""
    t = {"Tp": MYSQL_TP[tp],
         "Flag": (0 if nullable else F_NOT_NULL) | (F_PRI_KEY if pri_key else 0)
         | (F_UNSIGNED if "U" in flags else 0) | (F_BINARY if "B" in flags else 0)}
    if tp in ("TypeBit", "TypeNewDecimal"):
        t["Flen"], t["Decimal"] = -1, -1
    if tp in STRING_TPS:
        t["Charset"] = "binary" if "B" in flags else "utf8mb4"
    if elems is not None:
        t["Elems"] = elems
    return t


def avro_type_json(avro, params, decimal=None):
    """The expected avroSchema / avroLogicalTypeSchema as JSON, keys in encoding/json order
    (struct fields in declaration order, map keys sorted)."""
    v = {"type": avro, "connect.parameters": dict(sorted(params.items()))}
    if decimal is not None:
        v.update({"logicalType": "decimal", "precision": decimal[0], "scale": decimal[1]})
    return v


def compact(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


# Avro binary encoding (Avro 1.11 specification), to derive the bytes of a stated native value.
def avro_long(n):
    u = ((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        b, u = u & 0x7F, u >> 7
        out.append(b | 0x80 if u else b)
        if not u:
            return bytes(out)


def signed_bytes(n):
    """goavro v2.11.1 toSignedBytes: minimal big-endian two's complement (0 → 00)."""
    if n == 0:
        return b"\x00"
    if n > 0:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return b"\x00" + b if b[0] & 0x80 else b
    length = (n.bit_length() // 8 + 1) * 8
    v = n + (1 << length)
    b = v.to_bytes((v.bit_length() + 7) // 8, "big")
    return b[1:] if len(b) >= 2 and b[0] == 0xFF and b[1] & 0x80 else b


def avro_binary(native, scale=None):
    import struct
    kind = native["avro"]
    if kind in ("int", "long"):
        return avro_long(int(native["value"]))
    if kind == "float":
        return struct.pack("<f", float(native["value"]))
    if kind == "double":
        return struct.pack("<d", float(native["value"]))
    if kind == "string":
        b = native["value"].encode()
        return avro_long(len(b)) + b
    if kind == "bytes":
        b = bytes.fromhex(native["hex"])
        return avro_long(len(b)) + b
    if kind == "bytes.decimal":
        num, den = (int(x) for x in native["rational"].split("/"))
        b = signed_bytes((num * 10 ** scale) // den)  # big.Int.Div: Euclidean (floor for den > 0)
        return avro_long(len(b)) + b
    raise SystemExit(f"no Avro binary for {native}")


def avro_test_lines():
    """Locate each avroTestColumns entry: (column line, expected-schema line, expected-data line),
    checking the transcription above against the upstream text."""
    lines = upstream(TIFLOW_GIT, AVRO_OLD, AVRO_TEST)
    start = line_of(TIFLOW_GIT, AVRO_OLD, AVRO_TEST, "var avroTestColumns = ")
    end = line_of(TIFLOW_GIT, AVRO_OLD, AVRO_TEST, "func TestColumnToAvroSchema")
    out = {}
    i = start
    for (name, cid, tp, flags, elems, go_value, _inp, (avro, params), go_native, branch, _nat) in AVRO_COLUMNS:
        while not re.search(r'Name:\s+"%s",' % re.escape(name), lines[i]):
            i += 1
            if i >= end:
                raise SystemExit(f"avroTestColumns: column {name!r} not found in order")
        col_line = i + 1
        j = i
        while "avroSchema{" not in lines[j] and "avroLogicalTypeSchema{" not in lines[j]:
            j += 1
        schema_line = j + 1
        k = j
        while not re.search(r', "[\w.]+",\s*$', lines[k]):
            k += 1
        data_line = k + 1
        squeeze = lambda t: re.sub(r"\s+", " ", t)
        entry = squeeze("\n".join(lines[i - 1:k + 1]))
        checks = [f"Value: {go_value}", f"mysql.{tp}", f"ID: {cid},", f'Type: "{avro}"',
                  f"{go_native}, \"{branch}\","]
        checks += [f'"{k2}": "{v2}"' for k2, v2 in params.items()]
        if "U" in flags:
            checks.append("model.UnsignedFlag")
        if "B" in flags:
            checks += ["model.BinaryFlag", "SetBinChsClnFlag"]
        if elems:
            checks.append("[]string{%s}" % ", ".join(f'"{e}"' for e in elems))
        for c in map(squeeze, checks):
            if c not in entry:
                raise SystemExit(f"avroTestColumns {name!r}: {c!r} not in upstream entry at line {col_line}")
        if not re.search(r"Type:\s+mysql\.%s\b" % tp, entry):
            raise SystemExit(f"avroTestColumns {name!r}: column type is not mysql.{tp}")
        for flag, word in (("U", "UnsignedFlag"), ("B", "BinaryFlag")):
            if flag not in flags and word in entry:
                raise SystemExit(f"avroTestColumns {name!r}: upstream sets {word}")
        out[name] = (col_line, schema_line, data_line)
        i = k + 1
    return out


def avro_record_texts():
    """The three expected whole-record schema texts of avro_test_data.go: {var: (line, text)}."""
    lines = upstream(TIFLOW_GIT, AVRO_OLD, AVRO_TEST_DATA)
    out = {}
    for var in ("expectedSchemaWithoutExtension", "expectedSchemaWithExtension",
                "expectedSchemaWithExtensionEnableChecksum"):
        i = line_of(TIFLOW_GIT, AVRO_OLD, AVRO_TEST_DATA, f"var {var} = `") - 1
        buf = [lines[i].split("`", 1)[1]]
        j = i + 1
        while "`" not in lines[j]:
            buf.append(lines[j])
            j += 1
        buf.append(lines[j].split("`")[0])
        text = "\n".join(buf)
        # The test compares against json.Indent(<schema>, "", "  "); the schema TiCDC writes
        # is the compact form. Check the round trip is lossless before relying on it.
        value = json.loads(text)
        if json.dumps(value, ensure_ascii=False, indent=2) != text or any(c in text for c in "<>&"):
            raise SystemExit(f"{var}: compact form cannot be derived losslessly")
        out[var] = (i + 1, text, value)
    return out


def avro_large_event_columns():
    """newLargeEvent (v8.1.2 avro_test.go): `id` INT primary key (handle, column id 1000), then
    each avroTestColumns column followed by a nullable copy named <name>nullable (id + 36)."""
    cols = [{"name": "id", "id": 1000, "type": avro_column_type("TypeLong", "", None, pri_key=True),
             "default_value": None}]
    n = len(AVRO_COLUMNS)
    for (name, cid, tp, flags, elems, *_rest) in AVRO_COLUMNS:
        cols.append({"name": name, "id": cid, "type": avro_column_type(tp, flags, elems), "default_value": None})
        cols.append({"name": name + "nullable", "id": cid + n,
                     "type": avro_column_type(tp, flags, elems, nullable=True), "default_value": None})
    return cols


AVRO_SOURCES = dict(SOURCES, **{"tiflow-avro-tables": {
    "repo": "pingcap/tiflow", "ref": TIFLOW_AVRO_TABLES_REV, "commit": TIFLOW_AVRO_TABLES_COMMIT,
    "note": "last release whose pkg/sink/codec/avro tests state schemas and native values "
            "(removed by tiflow#11010, first released in v8.2.0); avro.go v8.1.2..v8.5.7 "
            "changes nothing these cases reach"}})


def avro_schema():
    locs = avro_test_lines()
    records = avro_record_texts()
    plain = records["expectedSchemaWithoutExtension"]
    checksum = records["expectedSchemaWithExtensionEnableChecksum"]
    data_lines = upstream(TIFLOW_GIT, AVRO_OLD, AVRO_TEST_DATA)
    fields_plain = {f["name"]: f for f in plain[2]["fields"]}
    fields_checksum = {f["name"]: f for f in checksum[2]["fields"]}

    def field_line(var_line, name):
        return f"pingcap/tiflow@{AVRO_OLD}:{AVRO_TEST_DATA}:" + str(
            line_of(TIFLOW_GIT, AVRO_OLD, AVRO_TEST_DATA, f'"name": "{name}",', after=data_lines[var_line - 1]))

    assert_src = tiflow_at(AVRO_OLD, AVRO_TEST, "require.Equal(t, v.expectedSchema, schema)")
    cases = []
    for (name, cid, tp, flags, elems, go_value, inp, (avro, params), *_rest) in AVRO_COLUMNS:
        decimal = (10, 0) if tp == "TypeNewDecimal" else None
        expect = avro_type_json(avro, params, decimal)
        # The same column, NOT NULL, appears in expectedSchemaWithoutExtension as text.
        stated = fields_plain[name]
        if stated != {"name": name, "type": expect} or compact(stated["type"]) != compact(expect):
            raise SystemExit(f"avro_schema {name}: column schema and record text disagree: {stated}")
        c = {"id": f"column-{name}", "source": f"pingcap/tiflow@{AVRO_OLD}:{AVRO_TEST}:{locs[name][1]}",
             "assert_source": assert_src, "op": "column_type",
             "column": {"name": name, "id": cid, "type": avro_column_type(tp, flags, elems), "default_value": None},
             "modes": AVRO_MODES_DEFAULT,
             "expect": {"type_json": expect, "compared_as": "go-value",
                        "type_text": compact(expect),
                        "type_text_source": field_line(plain[0], name)}}
        if decimal:
            c["note"] = ("Flen/Decimal unspecified (-1): precision and scale fall back to "
                         "mysql.GetDefaultFieldLengthAndDecimal(TypeNewDecimal) = 10, 0")
        if tp == "TypeBit":
            c["note"] = ("Flen unspecified (-1): `length` falls back to "
                         "mysql.GetDefaultFieldLengthAndDecimal(TypeBit) = 1")
        cases.append(c)
    # The two mode variants TestColumnToAvroSchema checks.
    for name, anchor, mode, avro, params in [
            ("decimal", 'avroSchema{Type: "string", Parameters: map[string]string{"tidb_type": "DECIMAL"}}',
             {"avro-decimal-handling-mode": "string"}, "string", {"tidb_type": "DECIMAL"}),
            ("longlongunsigned", 'Parameters: map[string]string{"tidb_type": "BIGINT UNSIGNED"},',
             {"avro-bigint-unsigned-handling-mode": "string"}, "string", {"tidb_type": "BIGINT UNSIGNED"})]:
        row = next(r for r in AVRO_COLUMNS if r[0] == name)
        expect = avro_type_json(avro, params)
        if fields_checksum[name] != {"name": name, "type": expect}:
            raise SystemExit(f"avro_schema {name} ({mode}): disagrees with the checksum record text")
        cases.append({
            "id": f"column-{name}-{'-'.join(mode.values())}-mode",
            "source": tiflow_at(AVRO_OLD, AVRO_TEST, anchor, after="func TestColumnToAvroSchema"),
            "op": "column_type",
            "column": {"name": name, "id": row[1], "type": avro_column_type(row[2], row[3], row[4]),
                       "default_value": None},
            "modes": dict(AVRO_MODES_DEFAULT, **mode),
            "expect": {"type_json": expect, "compared_as": "go-value", "type_text": compact(expect),
                       "type_text_source": field_line(checksum[0], name)}})
    # Whole-record value schemas (TestRowToAvroSchema, TestRowToAvroSchemaEnableChecksum).
    table = {"namespace": "default", "schema": "testdb", "table": "avroencode", "table_id": 100,
             "pk_is_handle": True, "commit_ts": "417318403368288260"}
    columns = avro_large_event_columns()
    for var, cid, modes, assert_anchor, note in [
            ("expectedSchemaWithoutExtension", "record-without-extension", AVRO_MODES_DEFAULT,
             "require.Equal(t, expectedSchemaWithoutExtension, indentJSON(schema))",
             "fields in column order; NOT NULL columns bare, nullable ones [\"null\", T] with default null"),
            ("expectedSchemaWithExtension", "record-with-extension", dict(AVRO_MODES_DEFAULT, **{"enable-tidb-extension": True}),
             "require.Equal(t, expectedSchemaWithExtension, indentJSON(schema))",
             "as without extension, then _tidb_op, _tidb_commit_ts, _tidb_commit_physical_time"),
            ("expectedSchemaWithExtensionEnableChecksum", "record-with-extension-checksum",
             {"avro-decimal-handling-mode": "string", "avro-bigint-unsigned-handling-mode": "string",
              "enable-tidb-extension": True, "enable-row-checksum": True},
             "require.Equal(t, expectedSchemaWithExtensionEnableChecksum, indentJSON(schema))",
             "the test shuffles the columns first; with row checksum on TiCDC sorts them by column id "
             "(id 1000 last), then appends the three extension and three checksum fields"),
    ]:
        line, text, value = records[var]
        names = [f["name"] for f in value["fields"]]
        ext = [n for n in names if n.startswith("_tidb_")]
        want = [c["name"] for c in columns]
        if "checksum" in cid:
            want = [c["name"] for c in sorted(columns, key=lambda c: c["id"])]
        if names[:len(names) - len(ext)] != want:
            raise SystemExit(f"{var}: field order is not the column order this generator assumes")
        cases.append({
            "id": cid, "source": f"pingcap/tiflow@{AVRO_OLD}:{AVRO_TEST_DATA}:{line}",
            "assert_source": tiflow_at(AVRO_OLD, AVRO_TEST, assert_anchor),
            "op": "value_record",
            "table": table, "columns": columns, "modes": modes, "note": note,
            "expect": {"text": text, "compared_as": "text (json.Indent of the schema, two spaces)",
                       "compact_text": compact(value),
                       "compact_text_note": "the schema as TiCDC writes and registers it: the stated "
                                            "text with json.Indent undone (lossless: no <, >, & to escape)"}})
    return envelope("avro-schema", "Avro schemas TiCDC generates, as its tests state them. "
                    "`column_type`: one column's Avro type (TestColumnToAvroSchema compares Go "
                    "values: `type_json`; `type_text` is the same object as the whole-record text "
                    "at `type_text_source` states it). `value_record`: the whole value schema of a "
                    "table (compared as text). Columns: `type` in TiDB FieldType names (Flag bits: "
                    "1 NOT NULL, 2 primary key, 32 unsigned, 128 binary; Charset binary = TiCDC's "
                    "binary flag), `default_value` = ColumnInfo default (null: none). Modes are "
                    "TiCDC's sink options; the record namespace is `default` (the changefeed "
                    "namespace) + `.` + schema.", cases, sources=AVRO_SOURCES)


def avro_values():
    locs = avro_test_lines()
    assert_src = tiflow_at(AVRO_OLD, AVRO_TEST, "require.Equal(t, v.expectedData, data)")
    binary_note = ("derived_binary_hex: the Avro binary of the stated native value under the "
                   "column's (non-union) type, by the Avro specification; a decimal is scaled by "
                   "goavro v2.11.1 (unscaled = floor(value * 10^scale), big.Int.Div) and written as "
                   "minimal two's-complement bytes (toSignedBytes)")
    cases = []
    for (name, cid, tp, flags, elems, go_value, inp, (avro, params), go_native, branch, native) in AVRO_COLUMNS:
        scale = 0 if tp == "TypeNewDecimal" else None
        cases.append({
            "id": f"value-{name}", "source": f"pingcap/tiflow@{AVRO_OLD}:{AVRO_TEST}:{locs[name][2]}",
            "column_source": f"pingcap/tiflow@{AVRO_OLD}:{AVRO_TEST}:{locs[name][0]}",
            "assert_source": assert_src, "op": "column_value",
            "column": {"name": name, "id": cid, "type": avro_column_type(tp, flags, elems), "default_value": None},
            "modes": AVRO_MODES_DEFAULT,
            "input": dict(inp, go=go_value),
            "expect": dict(native, go=go_native, union_branch=branch),
            "derived": True, "derived_note": binary_note,
            "derived_binary_hex": avro_binary(native, scale).hex()})
    for name, mode, anchor, native in [
            ("decimal", {"avro-decimal-handling-mode": "string"}, 'require.Equal(t, "129012.1230000", data)',
             {"avro": "string", "value": "129012.1230000"}),
            ("longlongunsigned", {"avro-bigint-unsigned-handling-mode": "string"}, 'require.Equal(t, "1", data)',
             {"avro": "string", "value": "1"})]:
        row = next(r for r in AVRO_COLUMNS if r[0] == name)
        cases.append({
            "id": f"value-{name}-{'-'.join(mode.values())}-mode",
            "source": tiflow_at(AVRO_OLD, AVRO_TEST, anchor, after="func TestColumnToAvroData"),
            "op": "column_value",
            "column": {"name": name, "id": row[1], "type": avro_column_type(row[2], row[3], row[4]),
                       "default_value": None},
            "modes": dict(AVRO_MODES_DEFAULT, **mode),
            "input": dict(row[6], go=row[5]),
            "expect": dict(native, go=f'"{native["value"]}"', union_branch="string"),
            "derived": True, "derived_note": binary_note,
            "derived_binary_hex": avro_binary(native).hex()})

    # Whole-event assertions of TestAvroEncode: v8.1.2 on newLargeEvent, v8.5.7 on the table of
    # pkg/sink/codec/utils/test_utils.go (NewLargeEvent4Test).
    ext_on = dict(AVRO_MODES_DEFAULT, **{"enable-tidb-extension": True})
    large = avro_large_event_columns()
    old_table = {"namespace": "default", "schema": "testdb", "table": "avroencode", "table_id": 100,
                 "pk_is_handle": True, "commit_ts": "417318403368288260", "event": "INSERT",
                 "columns_source": tiflow_at(AVRO_OLD, AVRO_TEST, "func newLargeEvent()")}
    id_col = large[0]
    float_col = next(c for c in large if c["name"] == "float")
    cases.append({
        "id": "encode-v8.1.2-key-id", "source": tiflow_at(AVRO_OLD, AVRO_TEST, 'require.Equal(t, int32(1), res.(map[string]interface{})["id"])'),
        "op": "encode_key_field", "event": old_table, "modes": ext_on,
        "column": id_col, "input": {"kind": "int", "value": "1", "go": "int64(1)"},
        "expect": {"field": "id", "avro": "int", "value": 1, "go": "int32(1)"}})
    cases.append({
        "id": "encode-v8.1.2-key-no-extension", "source": tiflow_at(AVRO_OLD, AVRO_TEST, 'require.Fail(t, "key shall not include extension fields")'),
        "op": "encode_key_fields_exclude", "event": old_table, "modes": ext_on,
        "expect": {"absent_fields": ["_tidb_commit_ts", "_tidb_op", "_tidb_commit_physical_time"]}})
    cases.append({
        "id": "encode-v8.1.2-value-op", "source": tiflow_at(AVRO_OLD, AVRO_TEST, 'require.Equal(t, "c", v.(string))'),
        "op": "encode_value_field", "event": old_table, "modes": ext_on,
        "expect": {"field": "_tidb_op", "avro": "string", "value": "c"}})
    cases.append({
        "id": "encode-v8.1.2-value-float", "source": tiflow_at(AVRO_OLD, AVRO_TEST, "require.Equal(t, float32(3.14), v)"),
        "op": "encode_value_field", "event": old_table, "modes": ext_on,
        "column": float_col, "input": {"kind": "float32", "value": "3.14", "go": "float32(3.14)"},
        "expect": {"field": "float", "avro": "float", "value": "3.14", "go": "float32(3.14)"}})
    tu = "pkg/sink/codec/utils/test_utils.go"
    new_table = {"namespace": "default", "schema": "test", "table": "t", "event": "INSERT",
                 "ddl_source": tiflow(tu, "sql := `create table test.t("),
                 "dml_source": tiflow(tu, "sql = `insert into test.t values(")}
    # The insert's second value is tu1's (the first, also 127, is column t's).
    first = line_of(TIFLOW_GIT, TIFLOW_REV, tu, "127,", after="sql = `insert into test.t values(")
    if upstream(TIFLOW_GIT, TIFLOW_REV, tu)[first].strip() != "127,":
        raise SystemExit("NewLargeEvent4Test: tu1's value is not the second 127")
    tu1_value_src = f"pingcap/tiflow@{TIFLOW_REV}:{tu}:{first + 1}"
    cases.append({
        "id": "encode-v8.5.7-key-tu1", "source": tiflow(AVRO_TEST, 'require.Equal(t, int32(127), res.(map[string]interface{})["tu1"])'),
        "op": "encode_key_field", "event": new_table, "modes": ext_on,
        "column": {"name": "tu1", "ddl": "tu1 tinyint unsigned default 1 primary key",
                   "ddl_source": tiflow(tu, "tu1 tinyint unsigned default 1 primary key"),
                   "type": {"Tp": 1, "Flag": F_NOT_NULL | F_PRI_KEY | F_UNSIGNED}, "default_value": "1"},
        "input": {"kind": "uint", "value": "127", "dml_source": tu1_value_src},
        "expect": {"field": "tu1", "avro": "int", "value": 127, "go": "int32(127)"},
        "note": "the key record holds the handle-key columns only (here the primary key tu1)"})
    cases.append({
        "id": "encode-v8.5.7-key-no-extension", "source": tiflow(AVRO_TEST, 'require.Fail(t, "key shall not include extension fields")'),
        "op": "encode_key_fields_exclude", "event": new_table, "modes": ext_on,
        "expect": {"absent_fields": ["_tidb_commit_ts", "_tidb_op", "_tidb_commit_physical_time"]}})
    cases.append({
        "id": "encode-v8.5.7-value-op", "source": tiflow(AVRO_TEST, 'require.Equal(t, "c", v.(string))'),
        "op": "encode_value_field", "event": new_table, "modes": ext_on,
        "expect": {"field": "_tidb_op", "avro": "string", "value": "c"},
        "note": "the same test's check of a field named `float` never runs at v8.5.7: "
                "NewLargeEvent4Test's table has no such column (floatT)"})

    # Confluent envelope (TestAvroEnvelope, identical at v8.1.2 and v8.5.7).
    reg = "pkg/sink/codec/avro/confluent_schema_registry.go"
    env_schema = {"type": "record", "name": "testdb.avroenvelope",
                  "fields": [{"name": "id", "type": "int", "default": 0}]}
    header = b"\x00" + (8).to_bytes(4, "big")
    body = avro_long(7)
    cases.append({
        "id": "confluent-envelope-id8", "source": tiflow(AVRO_TEST, "func TestAvroEnvelope"),
        "op": "confluent_envelope",
        "schema_json": env_schema, "native": {"id": 7}, "schema_id": 8,
        "expect": {"header_len": 5, "decoded": {"id": 7}, "decoded_go": "int32(7)"},
        "expect_source": tiflow(AVRO_TEST, "require.Equal(t, header, evlp[0:5])"),
        "derived": True,
        "derived_note": "the test compares the envelope with getMsgHeader(8) rather than a literal; "
                        "header = magic 0 + int32 id big-endian (" + tiflow(reg, "func (m *confluentSchemaManager) getMsgHeader")
                        + "), body = Avro binary of int 7",
        "derived_header_hex": header.hex(), "derived_body_hex": body.hex(),
        "derived_envelope_hex": (header + body).hex()})
    return envelope("avro-values", "Avro native values TiCDC's encoder produces, as its tests "
                    "state them. `column_value`: one column value (`input`: the TiCDC column value, "
                    "in this corpus' value kinds plus the Go literal; `expect`: the native value "
                    "(`avro` type, `value`/`hex`/`rational`), the Go literal the test states and "
                    "goavro's union branch name). `encode_*`: a field of the key or value record "
                    "TestAvroEncode decodes from a real encoding. `confluent_envelope`: the wire "
                    "header. `derived_*` fields are computed, not stated (see `derived_note`).",
                    cases, sources=AVRO_SOURCES)


# --------------------------------------------------------------------------------------------
# dispatch_hash.json: the hash under every hashing dispatcher, and the value strings it hashes
# --------------------------------------------------------------------------------------------

def dispatch_hash():
    path = "pkg/hash/position_inertia_test.go"
    seqs = [
        ([("hello", "hash"), ("hello", "pingcap"), ("hello", "ticdc"), ("hello", "tools")], 0x914505a7),
        ([("hello", "pingcap"), ("hello", "hash"), ("hello", "tools"), ("hello", "ticdc")], 0x914505a7),
        ([("hello", "ticdc"), ("hello", "hash"), ("hello", "tools"), ("hello", "pingcap")], 0x914505a7),
        ([("ticdc", "hello"), ("hello", "hash"), ("hello", "tools"), ("hello", "pingcap")], 0xf21b4f40),
        ([("ticdc", "hello"), ("hello", "hash"), ("tools", "hello"), ("hello", "pingcap")], 0x7cd6194a),
    ]
    lines = upstream(TIFLOW_GIT, TIFLOW_REV, path)
    asserts = [i + 1 for i, ln in enumerate(lines) if "require.Equal(t, uint32(" in ln]
    assert len(asserts) == len(seqs), asserts
    cases = []
    for n, (writes, exp) in enumerate(seqs):
        assert ("%#08x" % exp) in lines[asserts[n] - 1], (n, lines[asserts[n] - 1])
        if crc_hash(writes) != exp:
            print(f"WARNING hash-{n}: crc32-xor gives {crc_hash(writes):#x}, TiCDC's test says {exp:#x}")
        cases.append({"id": f"position-inertia-{n}", "source": f"pingcap/tiflow@{TIFLOW_REV}:{path}:{asserts[n]}",
                      "op": "position_inertia", "writes": [list(w) for w in writes], "expect_sum32": exp})
    path = "cdc/model/sink_test.go"
    for n, (go_value, exp) in enumerate([
            ("interface{}(nil)", "null"), ("true", "1"), ("false", "0"), ("123", "123"), ("int8(-123)", "-123"),
            ("int16(-123)", "-123"), ("int32(-123)", "-123"), ("int64(-123)", "-123"), ("uint8(123)", "123"),
            ("uint16(123)", "123"), ("uint32(123)", "123"), ("uint64(123)", "123"), ("float32(123.01)", "123.01"),
            ("float64(123.01)", "123.01"), ('"123.01"', "123.01"), ('[]byte("123.01")', "123.01")]):
        cases.append({"id": f"value-string-{n}", "source": tiflow(path, "func TestColumnValueString"),
                      "op": "column_value_string", "go_value": go_value, "expect": exp})
    return envelope("dispatch-hash", "The hash every hashing dispatcher uses (TiCDC's "
                    "PositionInertia: CRC-32/IEEE of each Write's concatenated arguments, XORed; "
                    "`writes` are the arguments as text) and ColumnValueString, the text a column "
                    "value is hashed as (`go_value` is the Go value TiCDC's test passes).", cases)


# --------------------------------------------------------------------------------------------
# default_values.json: what TiCDC's mounter fills in for a column absent from a row value
# --------------------------------------------------------------------------------------------

def default_values():
    path = "cdc/entry/mounter_test.go"
    NN, UN = 1, 32
    I = lambda v: {"kind": "int", "value": str(v)}
    U = lambda v: {"kind": "uint", "value": str(v)}
    NULL = {"kind": "null"}
    table = [
        # (name in TiCDC's test, type, origin_default, expect)
        ("mysql flag null", {"Tp": 0}, None, NULL),
        ("mysql.TypeTiny + notnull + nodefault", {"Tp": 1, "Flag": NN}, None, I(0)),
        ("mysql.TypeTiny + notnull + default", {"Tp": 1, "Flag": NN}, "-128", I(-128)),
        ("mysql.TypeTiny + notnull + default + unsigned", {"Tp": 1, "Flag": NN | UN}, None, U(0)),
        ("mysql.TypeTiny + notnull + unsigned", {"Tp": 1, "Flag": NN | UN}, "127", U(127)),
        ("mysql.TypeTiny + null + default", {"Tp": 1}, "-128", I(-128)),
        ("mysql.TypeTiny + null + nodefault", {"Tp": 1}, None, NULL),
        ("mysql.TypeShort, others testCases same as tiny", {"Tp": 2, "Flag": NN}, None, I(0)),
        ("mysql.TypeLong, others testCases same as tiny", {"Tp": 3, "Flag": NN}, None, I(0)),
        ("mysql.TypeLonglong, others testCases same as tiny", {"Tp": 8, "Flag": NN}, None, I(0)),
        ("mysql.TypeInt24, others testCases same as tiny", {"Tp": 9, "Flag": NN}, None, I(0)),
        ("mysql.TypeFloat + notnull + nodefault", {"Tp": 4, "Flag": NN}, None, {"kind": "float32", "value": "0"}),
        ("mysql.TypeFloat + notnull + default", {"Tp": 4, "Flag": NN}, {"go": "float32(-3.1415)"}, {"kind": "float32", "value": "-3.1415"}),
        ("mysql.TypeFloat + notnull + default + unsigned", {"Tp": 4, "Flag": NN | UN}, {"go": "float32(3.1415)"}, {"kind": "float32", "value": "3.1415"}),
        ("mysql.TypeFloat + notnull + unsigned", {"Tp": 4, "Flag": NN | UN}, None, {"kind": "float32", "value": "0"}),
        ("mysql.TypeFloat + null + default", {"Tp": 4}, {"go": "float32(-3.1415)"}, {"kind": "float32", "value": "-3.1415"}),
        ("mysql.TypeFloat + null + nodefault", {"Tp": 4}, None, NULL),
        ("mysql.TypeDouble, other testCases same as float", {"Tp": 5, "Flag": NN}, None, {"kind": "float64", "value": "0"}),
        ("mysql.TypeNewDecimal + notnull + nodefault", {"Tp": 246, "Flag": NN, "Flen": 5, "Decimal": 2}, None, {"kind": "decimal", "value": "0"}),
        ("mysql.TypeNewDecimal + null + nodefault", {"Tp": 246, "Flen": 5, "Decimal": 2}, None, NULL),
        ("mysql.TypeNull", {"Tp": 6}, None, NULL),
        ("mysql.TypeTimestamp + notnull + nodefault", {"Tp": 7, "Flag": NN}, None, {"kind": "time", "value": "0000-00-00 00:00:00"}),
        ("mysql.TypeDate, other testCases same as TypeTimestamp", {"Tp": 10, "Flag": NN}, None, {"kind": "time", "value": "0000-00-00"}),
        ("mysql.TypeDuration, other testCases same as TypeTimestamp", {"Tp": 11, "Flag": NN}, None, {"kind": "duration", "value": "00:00:00"}),
        ("mysql.TypeDatetime, other testCases same as TypeTimestamp", {"Tp": 12, "Flag": NN}, None, {"kind": "time", "value": "0000-00-00 00:00:00"}),
        ("mysql.TypeYear + notnull + nodefault", {"Tp": 13, "Flag": NN}, None, I(0)),
        ("mysql.TypeYear + notnull + default", {"Tp": 13, "Flag": NN}, "2021", I(2021)),
        ("mysql.TypeNewDate", {"Tp": 14, "Flag": NN}, None, NULL),
        ("mysql.TypeVarchar + notnull + nodefault", {"Tp": 15, "Flag": NN}, None, {"kind": "bytes", "hex": ""}),
        ("mysql.TypeVarchar + notnull + default", {"Tp": 15, "Flag": NN}, "e0", {"kind": "bytes", "hex": b"e0".hex()}),
        ("mysql.TypeTinyBlob", {"Tp": 249, "Flag": NN}, None, {"kind": "bytes", "hex": ""}),
        ("mysql.TypeMediumBlob", {"Tp": 250, "Flag": NN}, None, {"kind": "bytes", "hex": ""}),
        ("mysql.TypeLongBlob", {"Tp": 251, "Flag": NN}, None, {"kind": "bytes", "hex": ""}),
        ("mysql.TypeBlob", {"Tp": 252, "Flag": NN}, None, {"kind": "bytes", "hex": ""}),
        ("mysql.TypeVarString", {"Tp": 253, "Flag": NN}, None, {"kind": "bytes", "hex": ""}),
        ("mysql.TypeString", {"Tp": 254, "Flag": NN}, None, {"kind": "bytes", "hex": ""}),
        ("mysql.TypeBit", {"Tp": 16, "Flag": NN}, None, U(0)),
        ("mysql.TypeJSON", {"Tp": 245, "Flag": NN}, None, {"kind": "json", "value": "null"}),
        ("mysql.TypeEnum + notnull + nodefault", {"Tp": 247, "Flag": NN, "Elems": ["e0", "e1"]}, None, U(1)),
        ("mysql.TypeEnum + null", {"Tp": 247}, None, NULL),
        ("mysql.TypeSet + notnull", {"Tp": 248, "Flag": NN, "Elems": ["1", "e"]}, None, U(0)),
        ("mysql.TypeGeometry", {"Tp": 255, "Flag": NN}, None, NULL),
    ]
    cases = []
    for n, (name, tp, dflt, exp) in enumerate(table):
        c = {"id": f"zero-{n}", "source": tiflow(path, f'"{name}"', after="func TestGetDefaultZeroValue"),
             "name": name, "type": tp, "expect": exp}
        if dflt is not None:
            c["origin_default"] = dflt
        cases.append(c)
    tail = [
        ("decimal-default", '"mysql.TypeNewDecimal + notnull + default"', {"Tp": 246, "Flag": NN, "Flen": 5, "Decimal": 2}, "-3.14",
         {"kind": "decimal", "value": "-3.14"}, None),
        ("timestamp-notnull-default", '"mysql.TypeTimestamp + notnull + default"', {"Tp": 7, "Flag": NN}, "2020-11-19 12:12:12",
         {"kind": "time", "value": "2020-11-19 20:12:12"},
         "origin_default of a TIMESTAMP is UTC; the value is shown in the server time zone, which in TiCDC's test is +08:00"),
        ("timestamp-null-default", '"mysql.TypeTimestamp + null + default"', {"Tp": 7}, "2020-11-19 12:12:12",
         {"kind": "time", "value": "2020-11-19 20:12:12"},
         "as above: UTC origin default shown at +08:00"),
        ("enum-default", '"mysql.TypeEnum + notnull + default"', {"Tp": 247, "Flag": NN, "Elems": ["e0", "e1"]}, "e1", U(2), None),
        ("set-default", '"mysql.TypeSet + notnull + default"', {"Tp": 248, "Flag": NN, "Elems": ["1", "e"]}, "1,e", U(3), None),
    ]
    for cid, anchor, tp, dflt, exp, note in tail:
        c = {"id": cid, "source": tiflow(path, anchor, after="func TestGetDefaultZeroValue"), "type": tp,
             "origin_default": dflt, "expect": exp}
        if note:
            c["time_zone"] = "+08:00"
            c["note"] = note
        cases.append(c)
    return envelope("default-value", "The value TiCDC's mounter gives a column that a row value "
                    "does not contain (added later, or never written): `origin_default` converted to "
                    "the column type, else NULL when nullable, else the type's zero value (ENUM: first "
                    "element). `origin_default` {\"go\": ...} is a Go value rather than the usual "
                    "string. The +08:00 cases' zone is inferred from the stated value.", cases)


def main():
    write("keys.json", keys())
    write("row_values.json", rows())
    write("datums.json", datums())
    write("default_values.json", default_values())
    write("dispatch.json", dispatch())
    write("dispatch_hash.json", dispatch_hash())
    write("canal_json_types.json", canal_types())
    write("canal_values.json", canal_values())
    write("debezium.json", debezium())
    write("debezium_messages.json", debezium_messages())
    write("debezium_values.json", debezium_values())
    write("avro_names.json", avro_names())
    write("avro_schema.json", avro_schema())
    write("avro_values.json", avro_values())


if __name__ == "__main__":
    main()
