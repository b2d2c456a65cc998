#!/usr/bin/env python3
"""The independent consumer: reads a topic of the real broker from the beginning and decodes
every record with code nobody in this project wrote, printing one JSON object per record (per
event for open-protocol, below) on stdout, sorted by (partition, offset) (the events of one
record in their order). For --format avro
(confluent-kafka's consumer and its Confluent Avro deserializer):

  {"partition": P, "offset": O, "key": ..., "value": ..., "key_schema_id": ..., "value_schema_id": ...}

For --format avro, key and value are the decoded Avro records (dicts), null for a missing key and
for a tombstone's value; *_schema_id is the id from the Confluent frame (null when the field is
null). To let a test compare exactly, bytes/fixed become lowercase hex strings, Decimal becomes
its string (str(Decimal), e.g. "-12.340"), date/time/datetime become ISO 8601 strings, UUID its
string form; everything else is what fastavro decodes (int, float, str, bool, dict, list).

--format open-protocol is TiCDC's Open Protocol, decoded here in plain Python from its public
documentation only (decode_open_record below). A Kafka record is a batch: the key is the
protocol version (8-byte big-endian int64, must be 1) then, per event, an 8-byte big-endian
length and the event key JSON; the value is, per event, an 8-byte big-endian length and the
event value JSON (length 0 for a resolved event). One object is printed per EVENT:

  {"partition": P, "offset": O, "index": i, "batch_size": n, "key": {...}, "value": {...} | null}

index is the event's position in its record (0-based), batch_size the record's event count,
key the event key JSON ("ts", "t": 1 row | 2 DDL | 3 resolved, "scm", "tbl", and optionally
"rid", "ptn", "ohk", "ccl"), value the event value JSON (row: {"u"}, {"u","p"} or {"d"} of
column objects {"t","h"?,"f"?,"v"}; DDL: {"q","t"}), null for a resolved event. A record fails
to decode (exit 2) when the version is not 1, a length runs past the end or bytes are left
over, key and value hold different event counts, a key's "t" is not 1, 2 or 3, a row value
is not one of those shapes, a DDL value is not {"q","t"}, a resolved event's value is not
empty, or any JSON is not strict (duplicate members, NaN, not an object).

It stops once it holds at least --expect output objects (records; events for open-protocol,
where the last record read may take it past --expect) or at --timeout, whichever comes first;
without --expect, when it has reached the end of every partition. Exit codes: 0 ok; 2 a record
failed to decode (stderr names topic, partition and offset); 3 fewer than --expect output
objects before the timeout; 4 a Kafka or usage error (topic missing, broker unreachable); 1
stuck past --timeout + 30 s (a watchdog dumps every thread's stack on stderr) or an unexpected
crash.

--format debezium-json hands the whole run to the JVM consumer tests/consumers/jvm
(DebeziumConsume: the Kafka Java client, Kafka Connect's JsonConverter and Flink's
debezium-json format), with the same options, exit codes and stdout contract, one object per
record:

  {"partition": P, "offset": O, "connect_key": ..., "connect_value": ..., "flink": [...]}

(jvm/DebeziumConsume.java, ConnectView.java and FlinkView.java describe the fields). Its own
options: --no-schema (JsonConverter schemas.enable=false; Flink schema-include=false unless
--flink-schema-include says otherwise), --flink-columns "name:TYPE,..." (Flink SQL types; without
it "flink" is null), --flink-schema-include true|false, --flink-timestamp-format SQL|ISO-8601,
--flink-errors-as-data (a record Flink rejects gets "flink": null and "flink_error", the
exception chain on one line, instead of failing the run).

--format canal-json runs the same JVM consumer with Flink's canal-json format on the value
(CanalJsonDeserializationSchema, the class Flink SQL's 'format' = 'canal-json' runs) and
Connect's JsonConverter without schemas (the record as a plain map); --flink-columns gives the
table, --flink-errors-as-data and --flink-timestamp-format apply as above.
Before starting it, tests/consumers/setup-jvm.sh fetches the jars and compiles the program when
needed (under a second when nothing changed).

One decoder per format: in-process ones in DECODERS (avro, open-protocol), whole-run delegates
to another runtime in DELEGATES (debezium-json, canal-json).
tests/consumers/test_open_protocol.py tests the open-protocol decoder on hand-built bytes.

Run it with the venv python that tests/consumers/setup.sh prints.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import decimal
import faulthandler
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.serialization import MessageField, SerializationContext

EXIT_DECODE = 2
EXIT_SHORT = 3
EXIT_KAFKA = 4

# A decoder turns one consumed message into the fields of its output objects (all but
# partition and offset): one per record, or one per event for formats that batch events in a
# record. It raises on anything it cannot decode.
Decoder = Callable[[Any], List[Dict[str, Any]]]


def to_json_value(v: Any) -> Any:
    """Makes a decoded value JSON-safe in a form a Rust test can compare exactly."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): to_json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json_value(x) for x in v]
    return v


def confluent_schema_id(raw: Optional[bytes]) -> Optional[int]:
    """The schema id of a Confluent-framed payload (magic 0, 4-byte big-endian id), else None."""
    if raw is None or len(raw) < 5 or raw[0] != 0:
        return None
    return int.from_bytes(raw[1:5], "big")


def avro_decoder(args: argparse.Namespace) -> Decoder:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer

    if not args.registry:
        fail(EXIT_KAFKA, "--format avro needs --registry URL")
    # The client's HTTP timeout defaults to none (httpx with timeout=None): a stalled answer
    # would hang the run, so every registry call gets one.
    conf: Dict[str, Any] = {"url": args.registry, "timeout": 10}
    if args.registry_user is not None or args.registry_password is not None:
        conf["basic.auth.user.info"] = f"{args.registry_user or ''}:{args.registry_password or ''}"
    client = SchemaRegistryClient(conf)
    deserializer = AvroDeserializer(client)

    def decode_field(msg: Any, raw: Optional[bytes], field: str) -> Any:
        if raw is None:
            return None
        if confluent_schema_id(raw) is None:
            head = raw[:8].hex()
            raise ValueError(f"{field} is not Confluent-framed (magic byte 0 + 4-byte id): starts {head}")
        kind = MessageField.KEY if field == "key" else MessageField.VALUE
        return deserializer(raw, SerializationContext(msg.topic(), kind, msg.headers()))

    def decode(msg: Any) -> List[Dict[str, Any]]:
        key, value = msg.key(), msg.value()
        return [
            {
                "key": to_json_value(decode_field(msg, key, "key")),
                "value": to_json_value(decode_field(msg, value, "value")),
                "key_schema_id": confluent_schema_id(key),
                "value_schema_id": confluent_schema_id(value),
            }
        ]

    return decode


# --- TiCDC Open Protocol, from the public documentation (ticdc-open-protocol.md) -------------

OPEN_VERSION = 1
OPEN_ROW, OPEN_DDL, OPEN_RESOLVED = 1, 2, 3

def is_int(v: Any) -> bool:
    """A JSON integer (Python's bool is an int; JSON's true is not)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_str(v: Any) -> bool:
    return isinstance(v, str)


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


# Members an event key may have, and the test of the JSON type each must hold.
OPEN_KEY_MEMBERS: Dict[str, Callable[[Any], bool]] = {
    "ts": is_int,
    "scm": is_str,
    "tbl": is_str,
    "t": is_int,
    "rid": is_int,
    "ptn": is_int,
    "ohk": is_bool,
    "ccl": is_str,
}
# The shapes of a row value: insert, update (with or without the old row), delete.
OPEN_ROW_SHAPES = ({"u"}, {"u", "p"}, {"d"})


class OpenProtocolError(ValueError):
    """A record that is not valid TiCDC Open Protocol."""


def strict_json(raw: bytes, what: str) -> Any:
    """Parses one JSON document, refusing duplicate members and NaN/Infinity."""

    def no_duplicates(pairs: List[tuple]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise OpenProtocolError(f"{what} has member {k!r} twice")
            out[k] = v
        return out

    def no_constant(name: str) -> Any:
        raise OpenProtocolError(f"{what} holds {name}, which is not JSON")

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise OpenProtocolError(f"{what} is not UTF-8: {e}") from e
    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except json.JSONDecodeError as e:
        raise OpenProtocolError(f"{what} is not JSON ({e}): {text[:200]!r}") from e


def split_frames(data: bytes, start: int, what: str) -> List[bytes]:
    """The length-prefixed frames of data[start:]: each an 8-byte big-endian int64 length and
    that many bytes, which must end exactly at the end of data."""
    frames = []
    at = start
    while at < len(data):
        if len(data) - at < 8:
            raise OpenProtocolError(f"{what}: {len(data) - at} trailing bytes at {at}, too few for a length")
        length = int.from_bytes(data[at : at + 8], "big", signed=True)
        at += 8
        if length < 0 or length > len(data) - at:
            raise OpenProtocolError(
                f"{what}: frame {len(frames)} at {at - 8} has length {length}, {len(data) - at} bytes left"
            )
        frames.append(data[at : at + length])
        at += length
    return frames


def check_open_key(key: Any, i: int) -> None:
    """An event key: an object of the documented members, "ts" and "t" required, "t" a known
    kind, schema and table named on row events."""
    what = f"event key {i}"
    if not isinstance(key, dict):
        raise OpenProtocolError(f"{what} is not a JSON object: {key!r}")
    for name, v in key.items():
        type_ok = OPEN_KEY_MEMBERS.get(name)
        if type_ok is None:
            raise OpenProtocolError(f"{what} has an undocumented member {name!r}: {key}")
        if not type_ok(v):
            raise OpenProtocolError(f"{what} member {name!r} has the wrong JSON type: {key}")
    for name in ("ts", "t"):
        if name not in key:
            raise OpenProtocolError(f"{what} has no {name!r}: {key}")
    if key["ts"] < 0:
        raise OpenProtocolError(f"{what} has a negative ts: {key}")
    if key["t"] not in (OPEN_ROW, OPEN_DDL, OPEN_RESOLVED):
        raise OpenProtocolError(f"{what} has type t={key['t']}, not 1 (row), 2 (DDL) or 3 (resolved): {key}")
    if key["t"] == OPEN_ROW and ("scm" not in key or "tbl" not in key):
        raise OpenProtocolError(f"{what} is a row event without scm and tbl: {key}")


def check_open_column(name: str, col: Any, what: str) -> None:
    """A column object: {"t": type code, "h": bool (optional), "f": flags (optional), "v": value}."""
    if not isinstance(col, dict):
        raise OpenProtocolError(f"{what} column {name!r} is not an object: {col!r}")
    extra = set(col) - {"t", "h", "f", "v"}
    if extra:
        raise OpenProtocolError(f"{what} column {name!r} has undocumented members {sorted(extra)}: {col}")
    if not is_int(col.get("t")):
        raise OpenProtocolError(f"{what} column {name!r} has no integer type code \"t\": {col}")
    if "v" not in col:
        raise OpenProtocolError(f"{what} column {name!r} has no value \"v\": {col}")
    if "h" in col and not isinstance(col["h"], bool):
        raise OpenProtocolError(f"{what} column {name!r} has a non-boolean \"h\": {col}")
    if "f" in col and not is_int(col["f"]):
        raise OpenProtocolError(f"{what} column {name!r} has non-integer flags \"f\": {col}")


def check_open_row(value: Any, what: str) -> None:
    """A row value: {"u"} insert, {"u","p"} update, {"d"} delete, each a non-empty object of
    column objects."""
    if not isinstance(value, dict) or set(value) not in OPEN_ROW_SHAPES:
        shape = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise OpenProtocolError(f"{what} is a row value of shape {shape}, not {{u}}, {{u,p}} or {{d}}")
    for image, columns in value.items():
        if not isinstance(columns, dict) or not columns:
            raise OpenProtocolError(f"{what} {image!r} is not a non-empty object of columns: {columns!r}")
        for name, col in columns.items():
            check_open_column(name, col, f"{what} {image!r}")


def check_open_ddl(value: Any, what: str) -> None:
    """A DDL value: {"q": query text, "t": DDL type code}."""
    if not isinstance(value, dict) or set(value) != {"q", "t"}:
        raise OpenProtocolError(f"{what} is not a DDL value {{q, t}}: {value!r}")
    if not isinstance(value["q"], str) or not is_int(value["t"]):
        raise OpenProtocolError(f"{what} has a non-string q or non-integer t: {value!r}")


def decode_open_event(key_raw: bytes, value_raw: bytes, i: int) -> Dict[str, Any]:
    """One event of a batch: its key and value JSON, checked against its kind."""
    key = strict_json(key_raw, f"event key {i}")
    check_open_key(key, i)
    what = f"event value {i}"
    if key["t"] == OPEN_RESOLVED:
        if value_raw:
            raise OpenProtocolError(f"{what} of a resolved event has {len(value_raw)} bytes, not 0")
        return {"key": key, "value": None}
    value = strict_json(value_raw, what)
    if key["t"] == OPEN_ROW:
        check_open_row(value, what)
    else:
        check_open_ddl(value, what)
    return {"key": key, "value": value}


def decode_open_record(key: Optional[bytes], value: Optional[bytes]) -> List[Dict[str, Any]]:
    """Every event of one Open Protocol record, in order, as {"index", "batch_size", "key",
    "value"}. Raises OpenProtocolError on anything the documentation does not allow."""
    if key is None:
        raise OpenProtocolError("the record has no key")
    if len(key) < 8:
        raise OpenProtocolError(f"the key has {len(key)} bytes, too few for the protocol version")
    version = int.from_bytes(key[:8], "big", signed=True)
    if version != OPEN_VERSION:
        raise OpenProtocolError(f"protocol version {version}, not {OPEN_VERSION}")
    keys = split_frames(key, 8, "key")
    values = split_frames(value or b"", 0, "value")
    if len(keys) != len(values):
        raise OpenProtocolError(f"the key holds {len(keys)} events, the value {len(values)}")
    if not keys:
        raise OpenProtocolError("the record holds no event")
    return [
        {"index": i, "batch_size": len(keys), **decode_open_event(k, v, i)}
        for i, (k, v) in enumerate(zip(keys, values))
    ]


def open_protocol_decoder(args: argparse.Namespace) -> Decoder:
    def decode(msg: Any) -> List[Dict[str, Any]]:
        return decode_open_record(msg.key(), msg.value())

    return decode


# format name -> factory of its decoder (called once with the parsed arguments).
DECODERS: Dict[str, Callable[[argparse.Namespace], Decoder]] = {
    "avro": avro_decoder,
    "open-protocol": open_protocol_decoder,
}

HERE = os.path.dirname(os.path.abspath(__file__))


def jvm_debezium(args: argparse.Namespace) -> None:
    """Replaces this process with the JVM consumer (tests/consumers/jvm/DebeziumConsume)."""
    jvm_consume(args, "debezium-json")


def jvm_canal(args: argparse.Namespace) -> None:
    """The JVM consumer with Flink's canal-json format (Connect reads the value schemaless)."""
    args.no_schema = True
    jvm_consume(args, "canal-json")


def jvm_consume(args: argparse.Namespace, flink_format: str) -> None:
    """Replaces this process with the JVM consumer, Flink reading `flink_format`."""
    setup = os.path.join(HERE, "setup-jvm.sh")
    got = subprocess.run([setup], stdout=subprocess.PIPE, text=True)
    if got.returncode != 0:
        fail(EXIT_KAFKA, f"{setup} failed (exit {got.returncode}); its stderr is above")
    classpath = got.stdout.strip()
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else "java"
    argv = [
        java,
        # A short-lived client: start fast, stay small.
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        "-Xmx512m",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp",
        classpath,
        "DebeziumConsume",
        "--flink-format",
        flink_format,
        "--bootstrap",
        args.bootstrap,
        "--topic",
        args.topic,
        "--timeout",
        str(args.timeout),
    ]
    if args.expect is not None:
        argv += ["--expect", str(args.expect)]
    if args.no_schema:
        argv.append("--no-schema")
    if args.flink_columns is not None:
        argv += ["--flink-columns", args.flink_columns]
    if args.flink_schema_include is not None:
        argv += ["--flink-schema-include", args.flink_schema_include]
    if args.flink_timestamp_format is not None:
        argv += ["--flink-timestamp-format", args.flink_timestamp_format]
    if args.flink_errors_as_data:
        argv.append("--flink-errors-as-data")
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        fail(EXIT_KAFKA, f"cannot start {argv[0]}: {e}")


# format name -> a function that runs the whole consumption in another runtime (never returns).
DELEGATES: Dict[str, Callable[[argparse.Namespace], None]] = {
    "debezium-json": jvm_debezium,
    "canal-json": jvm_canal,
}


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="consume.py",
        description=(
            "Read a Kafka topic from the beginning and decode every record independently; one "
            "JSON object per record (per event for open-protocol) on stdout. Formats: avro "
            "(Confluent wire format, schemas from the registry); debezium-json (the JVM consumer: "
            "Kafka Connect's JsonConverter and Flink's debezium-json format); open-protocol "
            "(TiCDC Open Protocol batches, decoded event by event); canal-json (the JVM consumer "
            "with Flink's canal-json format)."
        ),
    )
    p.add_argument("--format", required=True, choices=sorted([*DECODERS, *DELEGATES]), help="record format")
    p.add_argument("--bootstrap", required=True, help="broker HOST:PORT (PLAINTEXT)")
    p.add_argument("--topic", required=True)
    p.add_argument("--registry", help="Confluent-API schema registry base URL (avro)")
    p.add_argument("--registry-user", help="basic-auth user for the registry")
    p.add_argument("--registry-password", help="basic-auth password for the registry")
    p.add_argument(
        "--expect",
        type=int,
        help="stop after this many output objects: records, or events for open-protocol (exit 3 if fewer arrive)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait in all (default 30)")
    p.add_argument(
        "--no-schema",
        action="store_true",
        help="debezium-json: JsonConverter with schemas.enable=false (and Flink schema-include=false)",
    )
    p.add_argument("--flink-columns", help='debezium-json: the table for Flink, "name:TYPE,..." (Flink SQL types)')
    p.add_argument(
        "--flink-schema-include",
        choices=["true", "false"],
        help="debezium-json: debezium-json.schema-include (default: true unless --no-schema)",
    )
    p.add_argument(
        "--flink-timestamp-format",
        choices=["SQL", "ISO-8601"],
        help="debezium-json: debezium-json.timestamp-format.standard (default SQL)",
    )
    p.add_argument(
        "--flink-errors-as-data",
        action="store_true",
        help='debezium-json: a record Flink rejects gets "flink": null and "flink_error" instead of exit 2',
    )
    return p.parse_args(argv)


def unit(fmt: str) -> str:
    """What one output object is for a format (the unit --expect counts)."""
    return "events" if fmt == "open-protocol" else "records"


def fail(code: int, text: str) -> None:
    print(f"consume.py: {text}", file=sys.stderr)
    sys.exit(code)


def main(argv: List[str]) -> None:
    args = parse_args(argv)
    if args.format in DELEGATES:
        DELEGATES[args.format](args)
        return
    # Never hang a test run: past the timeout plus a grace period, dump every thread's stack
    # to stderr and exit (code 1).
    faulthandler.dump_traceback_later(args.timeout + 30, exit=True)
    decode = DECODERS[args.format](args)
    deadline = time.monotonic() + args.timeout
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            # A fresh group each run; offsets are never committed (partitions are assigned).
            "group.id": "tidb-changefeed-consume-" + base64.b32encode(uuid.uuid4().bytes[:5]).decode().lower(),
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "socket.timeout.ms": 10000,
        }
    )
    try:
        md = consumer.list_topics(args.topic, timeout=max(1.0, min(10.0, args.timeout)))
        tmd = md.topics.get(args.topic)
        if tmd is None or tmd.error is not None or not tmd.partitions:
            err = tmd.error if tmd is not None else "not in metadata"
            fail(EXIT_KAFKA, f"topic {args.topic!r} is not readable on {args.bootstrap}: {err}")
        partitions = sorted(tmd.partitions)
        consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in partitions])
        at_eof = set()
        out: List[Dict[str, Any]] = []
        while True:
            if args.expect is not None and len(out) >= args.expect:
                break
            if args.expect is None and at_eof == set(partitions):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            msg = consumer.poll(min(left, 0.5))
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_eof.add(msg.partition())
                    continue
                fail(EXIT_KAFKA, f"Kafka error on {args.topic}: {err}")
            at_eof.discard(msg.partition())
            try:
                objects = decode(msg)
            except Exception as e:  # any failure of the independent decoder is the finding
                fail(
                    EXIT_DECODE,
                    f"cannot decode {args.format} record at topic {msg.topic()} partition "
                    f"{msg.partition()} offset {msg.offset()}: {type(e).__name__}: {e}",
                )
            out.extend({"partition": msg.partition(), "offset": msg.offset(), **f} for f in objects)
    except KafkaException as e:
        fail(EXIT_KAFKA, f"Kafka error: {e}")
    finally:
        consumer.close()
    # A stable sort: the objects of one record keep their order.
    out.sort(key=lambda r: (r["partition"], r["offset"]))
    for rec in out:
        print(json.dumps(rec, sort_keys=False, ensure_ascii=False))
    sys.stdout.flush()
    if args.expect is not None and len(out) < args.expect:
        fail(
            EXIT_SHORT,
            f"read {len(out)} of {args.expect} expected {unit(args.format)} from {args.topic} within {args.timeout}s",
        )
    if args.expect is None and at_eof != set(partitions):
        fail(EXIT_SHORT, f"did not reach the end of every partition of {args.topic} within {args.timeout}s")


if __name__ == "__main__":
    main(sys.argv[1:])
