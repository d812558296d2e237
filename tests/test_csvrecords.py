"""csvrecords.Records reads what csv.reader reads: the same records, line counts and errors."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from schoolpass.csvrecords import Records

PIECES = st.sampled_from(["a", "bc", "é", " ", ",", ",", '"', '""', "\n", "\r\n", "\r", "\x00", "x" * 70000])


def read(reader) -> tuple[list, str | None]:
    """(each record with the line count after it, the error that stopped the reading, if any)."""
    seen = []
    try:
        for record in reader:
            seen.append((record, reader.line_num))
    except csv.Error as error:
        return seen, str(error)
    return seen, None


@given(st.lists(PIECES, max_size=40))
def test_records_are_what_the_standard_reader_reads(pieces):
    text = "".join(pieces)
    assert read(Records(io.StringIO(text, newline=""))) == read(csv.reader(io.StringIO(text, newline="")))


def test_quote_free_lines_are_split_and_quoted_records_read_whole():
    text = 'id,name\r\n1,Ana\n\n2,"Lee, Jo\r\nand Kim",x\r3,"a ""b"""\n4,last'
    records = Records(io.StringIO(text, newline=""))
    assert [(r, records.line_num) for r in records] == [
        (["id", "name"], 1), (["1", "Ana"], 2), ([], 3), (["2", "Lee, Jo\r\nand Kim", "x"], 5),
        (["3", 'a "b"'], 6), (["4", "last"], 7)]


def test_a_field_over_the_readers_limit_is_refused_as_the_reader_refuses_it():
    text = "id,notes\n1," + "x" * (csv.field_size_limit() + 1) + "\n2,ok\n"
    records = Records(io.StringIO(text, newline=""))
    assert next(records) == ["id", "notes"]
    expected = read(csv.reader(io.StringIO(text, newline="")))
    assert expected[1] and read(records) == (expected[0][1:], expected[1])
