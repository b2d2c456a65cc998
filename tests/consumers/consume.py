#!/usr/bin/env python3
"""The independent consumer: reads a topic of the real broker from the beginning and decodes
every record with code nobody in this project wrote, printing one JSON object per record on
stdout, sorted by (partition, offset). For --format avro (confluent-kafka's consumer and its
Confluent Avro deserializer):

  {"partition": P, "offset": O, "key": ..., "value": ..., "key_schema_id": ..., "value_schema_id": ...}

For --format avro, key and value are the decoded Avro records (dicts), null for a missing key and
for a tombstone's value; *_schema_id is the id from the Confluent frame (null when the field is
null). To let a test compare exactly, bytes/fixed become lowercase hex strings, Decimal becomes
its string (str(Decimal), e.g. "-12.340"), date/time/datetime become ISO 8601 strings, UUID its
string form; everything else is what fastavro decodes (int, float, str, bool, dict, list).

It stops after --expect records or at --timeout, whichever comes first; without --expect, when it
has reached the end of every partition. Exit codes: 0 ok; 2 a record failed to decode (stderr
names topic, partition and offset); 3 fewer than --expect records before the timeout; 4 a Kafka
or usage error (topic missing, broker unreachable); 1 stuck past --timeout + 30 s (a watchdog
dumps every thread's stack on stderr) or an unexpected crash.

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
Before starting it, tests/consumers/setup-jvm.sh fetches the jars and compiles the program when
needed (under a second when nothing changed).

One decoder per format: in-process ones in DECODERS (avro), whole-run delegates to another
runtime in DELEGATES (debezium-json); canal-json (as Flink reads it) is meant to be added.

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

# A decoder turns one consumed message into the fields of its output object (all but
# partition and offset). It raises on anything it cannot decode.
Decoder = Callable[[Any], Dict[str, Any]]


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

    def decode(msg: Any) -> Dict[str, Any]:
        key, value = msg.key(), msg.value()
        return {
            "key": to_json_value(decode_field(msg, key, "key")),
            "value": to_json_value(decode_field(msg, value, "value")),
            "key_schema_id": confluent_schema_id(key),
            "value_schema_id": confluent_schema_id(value),
        }

    return decode


# format name -> factory of its decoder (called once with the parsed arguments).
DECODERS: Dict[str, Callable[[argparse.Namespace], Decoder]] = {
    "avro": avro_decoder,
}

HERE = os.path.dirname(os.path.abspath(__file__))


def jvm_debezium(args: argparse.Namespace) -> None:
    """Replaces this process with the JVM consumer (tests/consumers/jvm/DebeziumConsume)."""
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
}


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="consume.py",
        description=(
            "Read a Kafka topic from the beginning and decode every record independently; one "
            "JSON object per record on stdout. Formats: avro (Confluent wire format, schemas "
            "from the registry); debezium-json (the JVM consumer: Kafka Connect's JsonConverter "
            "and Flink's debezium-json format). canal-json is planned, not there yet."
        ),
    )
    p.add_argument("--format", required=True, choices=sorted([*DECODERS, *DELEGATES]), help="record format")
    p.add_argument("--bootstrap", required=True, help="broker HOST:PORT (PLAINTEXT)")
    p.add_argument("--topic", required=True)
    p.add_argument("--registry", help="Confluent-API schema registry base URL (avro)")
    p.add_argument("--registry-user", help="basic-auth user for the registry")
    p.add_argument("--registry-password", help="basic-auth password for the registry")
    p.add_argument("--expect", type=int, help="stop after this many records (exit 3 if fewer arrive)")
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
                fields = decode(msg)
            except Exception as e:  # any failure of the independent decoder is the finding
                fail(
                    EXIT_DECODE,
                    f"cannot decode {args.format} record at topic {msg.topic()} partition "
                    f"{msg.partition()} offset {msg.offset()}: {type(e).__name__}: {e}",
                )
            out.append({"partition": msg.partition(), "offset": msg.offset(), **fields})
    except KafkaException as e:
        fail(EXIT_KAFKA, f"Kafka error: {e}")
    finally:
        consumer.close()
    out.sort(key=lambda r: (r["partition"], r["offset"]))
    for rec in out:
        print(json.dumps(rec, sort_keys=False, ensure_ascii=False))
    sys.stdout.flush()
    if args.expect is not None and len(out) < args.expect:
        fail(EXIT_SHORT, f"read {len(out)} of {args.expect} expected records from {args.topic} within {args.timeout}s")
    if args.expect is None and at_eof != set(partitions):
        fail(EXIT_SHORT, f"did not reach the end of every partition of {args.topic} within {args.timeout}s")


if __name__ == "__main__":
    main(sys.argv[1:])
