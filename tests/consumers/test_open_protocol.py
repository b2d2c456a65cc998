#!/usr/bin/env python3
"""Unit tests of consume.py's TiCDC Open Protocol decoder (decode_open_record) on hand-built
records: the events are those of the documentation's "Examples of the Event stream output"
(ticdc-open-protocol.md, logs 1-14), framed as the documentation's "Message format" says,
plus the key members and row shapes of the current protocol (update with the old row "p",
"rid"/"ptn"/"ohk"/"ccl", column flags), and one case per way a record can be invalid.

Run with the consumers' venv python (tests/it/consumers.rs does, so the suite runs it):

  python tests/consumers/test_open_protocol.py
"""

from __future__ import annotations

import json
import os
import sys
import unittest
from typing import List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from consume import OpenProtocolError, decode_open_record  # noqa: E402


def be64(n: int) -> bytes:
    return n.to_bytes(8, "big", signed=True)


def frame(data: bytes) -> bytes:
    return be64(len(data)) + data


def record(events: List[Tuple[str, str]], version: int = 1) -> Tuple[bytes, bytes]:
    """Key and value of one record holding `events` (key JSON text, value JSON text; "" for
    a resolved event's empty value), as the documentation's Message format lays them out."""
    key = be64(version) + b"".join(frame(k.encode()) for k, _ in events)
    value = b"".join(frame(v.encode()) for _, v in events)
    return key, value


# The documentation's example events (logs 1, 2, 5, 7, 9, 12 and 13), as its log lines show them.
DDL_KEY = '{"ts":415508856908021766,"scm":"test","tbl":"t1","t":2}'
DDL_VALUE = '{"q":"CREATE TABLE test.t1(id int primary key, val varchar(16))","t":3}'
RESOLVED_KEY_1 = '{"ts":415508856908021766,"t":3}'
ROW_KEY = '{"ts":415508878783938562,"scm":"test","tbl":"t1","t":1}'
INSERT_1 = '{"u":{"id":{"t":3,"h":true,"v":1},"val":{"t":15,"v":"YWE="}}}'
INSERT_3 = '{"u":{"id":{"t":3,"h":true,"v":3},"val":{"t":15,"v":"Y2M="}}}'
DELETE_KEY = '{"ts":415508881418485761,"scm":"test","tbl":"t1","t":1}'
DELETE_1 = '{"d":{"id":{"t":3,"h":true,"v":1}}}'
INSERT_4 = '{"u":{"id":{"t":3,"h":true,"v":4},"val":{"t":15,"v":"ZWU="}}}'
RESOLVED_KEY_13 = '{"ts":415508881038376963,"t":3}'


def event(index: int, size: int, key: str, value: Optional[str]) -> dict:
    return {
        "index": index,
        "batch_size": size,
        "key": json.loads(key),
        "value": None if value is None else json.loads(value),
    }


class DecodesTheDocumentedEvents(unittest.TestCase):
    def test_a_ddl_event_alone(self) -> None:
        got = decode_open_record(*record([(DDL_KEY, DDL_VALUE)]))
        self.assertEqual(got, [event(0, 1, DDL_KEY, DDL_VALUE)])
        self.assertEqual(got[0]["value"]["t"], 3)  # Create Table in the DDL Type Code table

    def test_a_resolved_event_has_no_value(self) -> None:
        key, value = record([(RESOLVED_KEY_1, "")])
        self.assertEqual(value, be64(0))
        got = decode_open_record(key, value)
        self.assertEqual(got, [event(0, 1, RESOLVED_KEY_1, None)])
        self.assertNotIn("scm", got[0]["key"])

    def test_a_batch_keeps_its_events_in_order(self) -> None:
        events = [(ROW_KEY, INSERT_1), (ROW_KEY, INSERT_3), (ROW_KEY, INSERT_3)]
        got = decode_open_record(*record(events))
        self.assertEqual(got, [event(i, 3, k, v) for i, (k, v) in enumerate(events)])

    def test_a_batch_may_mix_rows_and_a_resolved_event(self) -> None:
        events = [(DELETE_KEY, DELETE_1), (DELETE_KEY, INSERT_4), (RESOLVED_KEY_13, "")]
        got = decode_open_record(*record(events))
        self.assertEqual(
            got,
            [
                event(0, 3, DELETE_KEY, DELETE_1),
                event(1, 3, DELETE_KEY, INSERT_4),
                event(2, 3, RESOLVED_KEY_13, None),
            ],
        )

    def test_an_update_with_its_old_row_and_every_key_member(self) -> None:
        key = '{"ts":1,"scm":"s","tbl":"t","rid":7,"ptn":131,"ohk":true,"ccl":"s3://b/k","t":1}'
        value = (
            '{"u":{"id":{"t":8,"h":true,"f":11,"v":2},"n":{"t":8,"f":192,"v":18446744073709551615}},'
            '"p":{"id":{"t":8,"h":true,"f":11,"v":2},"n":{"t":8,"f":192,"v":null}}}'
        )
        got = decode_open_record(*record([(key, value)]))
        self.assertEqual(got, [event(0, 1, key, value)])
        # Python's json keeps a BIGINT UNSIGNED exact.
        self.assertEqual(got[0]["value"]["u"]["n"]["v"], 18446744073709551615)
        self.assertIsNone(got[0]["value"]["p"]["n"]["v"])

    def test_an_update_without_the_old_row(self) -> None:
        got = decode_open_record(*record([(ROW_KEY, INSERT_3)]))
        self.assertEqual(set(got[0]["value"]), {"u"})


class RefusesInvalidRecords(unittest.TestCase):
    def refuses(self, key: Optional[bytes], value: Optional[bytes], reason: str) -> None:
        with self.assertRaisesRegex(OpenProtocolError, reason):
            decode_open_record(key, value)

    def refuses_event(self, key: str, value: str, reason: str) -> None:
        self.refuses(*record([(key, value)]), reason)

    def test_another_protocol_version(self) -> None:
        self.refuses(*record([(DDL_KEY, DDL_VALUE)], version=2), "protocol version 2, not 1")

    def test_no_key_or_a_short_key(self) -> None:
        self.refuses(None, frame(DDL_VALUE.encode()), "no key")
        self.refuses(b"\x00\x00\x00\x01", frame(DDL_VALUE.encode()), "too few for the protocol version")

    def test_a_record_without_events(self) -> None:
        self.refuses(be64(1), b"", "holds no event")

    def test_trailing_bytes_in_the_key(self) -> None:
        key, value = record([(DDL_KEY, DDL_VALUE)])
        self.refuses(key + b"\x00\x00\x00", value, "3 trailing bytes")

    def test_trailing_bytes_in_the_value(self) -> None:
        key, value = record([(DDL_KEY, DDL_VALUE)])
        self.refuses(key, value + b"\x00", "1 trailing bytes")

    def test_a_length_past_the_end(self) -> None:
        key, value = record([(DDL_KEY, DDL_VALUE)])
        self.refuses(key, be64(len(DDL_VALUE) + 1) + DDL_VALUE.encode(), "bytes left")

    def test_a_negative_length(self) -> None:
        key, _ = record([(DDL_KEY, DDL_VALUE)])
        self.refuses(key, be64(-1), "has length -1")

    def test_more_keys_than_values(self) -> None:
        key, _ = record([(ROW_KEY, INSERT_1), (ROW_KEY, INSERT_3)])
        _, value = record([(ROW_KEY, INSERT_1)])
        self.refuses(key, value, "the key holds 2 events, the value 1")

    def test_a_missing_value_counts_as_no_event(self) -> None:
        key, _ = record([(RESOLVED_KEY_1, "")])
        self.refuses(key, None, "the key holds 1 events, the value 0")

    def test_an_unknown_event_type(self) -> None:
        self.refuses_event('{"ts":1,"scm":"s","tbl":"t","t":4}', "{}", "t=4")

    def test_a_key_without_ts_or_type(self) -> None:
        self.refuses_event('{"scm":"s","tbl":"t","t":1}', INSERT_1, "no 'ts'")
        self.refuses_event('{"ts":1,"scm":"s","tbl":"t"}', INSERT_1, "no 't'")

    def test_a_row_key_without_schema_or_table(self) -> None:
        self.refuses_event('{"ts":1,"tbl":"t","t":1}', INSERT_1, "without scm and tbl")

    def test_an_undocumented_key_member(self) -> None:
        self.refuses_event('{"ts":1,"scm":"s","tbl":"t","t":1,"x":0}', INSERT_1, "undocumented member 'x'")

    def test_a_key_member_of_the_wrong_type(self) -> None:
        self.refuses_event('{"ts":"1","scm":"s","tbl":"t","t":1}', INSERT_1, "'ts' has the wrong JSON type")
        self.refuses_event('{"ts":1,"scm":"s","tbl":"t","t":1,"ohk":1}', INSERT_1, "'ohk' has the wrong")
        self.refuses_event('{"ts":1,"scm":"s","tbl":"t","t":true}', INSERT_1, "'t' has the wrong JSON type")

    def test_a_resolved_event_with_a_value(self) -> None:
        self.refuses_event(RESOLVED_KEY_1, "{}", "resolved event has 2 bytes, not 0")

    def test_row_values_of_other_shapes(self) -> None:
        both = '{"u":{"id":{"t":3,"v":1}},"d":{"id":{"t":3,"v":1}}}'
        self.refuses_event(ROW_KEY, both, r"shape \['d', 'u'\]")
        self.refuses_event(ROW_KEY, '{"p":{"id":{"t":3,"v":1}}}', r"shape \['p'\]")
        self.refuses_event(ROW_KEY, '{"u":{}}', "not a non-empty object of columns")
        self.refuses_event(ROW_KEY, "[1]", "shape list")
        self.refuses_event(ROW_KEY, DDL_VALUE, r"shape \['q', 't'\]")

    def test_columns_of_other_shapes(self) -> None:
        self.refuses_event(ROW_KEY, '{"u":{"id":{"v":1}}}', 'no integer type code "t"')
        self.refuses_event(ROW_KEY, '{"u":{"id":{"t":3}}}', 'no value "v"')
        self.refuses_event(ROW_KEY, '{"u":{"id":{"t":3,"v":1,"x":1}}}', r"undocumented members \['x'\]")
        self.refuses_event(ROW_KEY, '{"u":{"id":{"t":3,"h":1,"v":1}}}', 'non-boolean "h"')
        self.refuses_event(ROW_KEY, '{"u":{"id":{"t":3,"f":"2","v":1}}}', 'non-integer flags "f"')
        self.refuses_event(ROW_KEY, '{"u":{"id":3}}', "column 'id' is not an object")

    def test_ddl_values_of_other_shapes(self) -> None:
        self.refuses_event(DDL_KEY, '{"q":"drop table t","t":4,"x":1}', "not a DDL value")
        self.refuses_event(DDL_KEY, '{"q":"drop table t"}', "not a DDL value")
        self.refuses_event(DDL_KEY, '{"q":1,"t":4}', "non-string q")

    def test_json_that_is_not_strict(self) -> None:
        self.refuses_event('{"ts":1,"ts":2,"scm":"s","tbl":"t","t":1}', INSERT_1, "member 'ts' twice")
        self.refuses_event(ROW_KEY, '{"u":{"f":{"t":5,"v":NaN}}}', "holds NaN")
        self.refuses_event(ROW_KEY, '{"u":', "is not JSON")
        self.refuses_event("[1]", INSERT_1, "not a JSON object")
        key, _ = record([(ROW_KEY, INSERT_1)])
        self.refuses(key, frame(b"\xff\xfe"), "not UTF-8")


if __name__ == "__main__":
    unittest.main(verbosity=2)
