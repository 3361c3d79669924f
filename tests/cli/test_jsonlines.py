"""The JSON-lines reader and judge of ``evana ingest``: numbering, gzip, limits, and a fuzz run."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evana.cli._errors import CliError
from evana.cli._jsonlines import MAX_LINE_BYTES, Source, read_lines
from evana.cli._judge import LineError, judge
from evana.cli._pipeline import Origin, Pipeline

from ._lines import expected
from ._lines import lines as line_strategy

LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def test_lines_are_numbered_from_one_blank_lines_included_and_a_bom_is_dropped() -> None:
    data = b'\xef\xbb\xbf{"a": 1}\r\n\n   \n{"b": 2}'
    assert list(read_lines(io.BytesIO(data))) == [
        (1, b'{"a": 1}\r\n'),
        (2, b"\n"),
        (3, b"   \n"),
        (4, b'{"b": 2}'),
    ]


def test_a_line_over_the_limit_is_skipped_in_chunks_and_numbering_goes_on() -> None:
    huge = b'{"event": "' + b"x" * (3 * MAX_LINE_BYTES) + b'"}\n'
    data = b'{"event": "a", "user_id": "u"}\n' + huge + b'{"event": "b", "user_id": "u"}\n'
    lines = list(read_lines(io.BytesIO(data)))
    assert [n for n, _ in lines] == [1, 2, 3]
    assert len(lines[1][1]) <= 200  # the long line is never held whole
    with pytest.raises(LineError, match="longer than"):
        judge(lines[1][1], LATER)
    assert judge(lines[2][1], LATER)[0]["event"] == "b"


def test_gzip_is_recognised_by_its_bytes_and_positions_count_compressed_bytes(
    tmp_path: Path,
) -> None:
    lines = [json.dumps({"event": "a", "user_id": f"u{n}"}) for n in range(2000)]
    path = tmp_path / "no-gz-suffix.data"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    source = Source(str(path))
    with source.open() as stream:
        read = list(source.lines(stream))
        assert source.position() == source.size == path.stat().st_size
    assert [json.loads(line) for _, line in read] == [json.loads(line) for line in lines]


def test_missing_directory_and_broken_gzip_inputs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"cannot read .*nope\.jsonl: No such file"):
        Source(str(tmp_path / "nope.jsonl"))
    with pytest.raises(CliError, match="is a directory"):
        Source(str(tmp_path))
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(b'{"event": "a", "user_id": "u"}\n' * 1000)[:-40])
    source = Source(str(broken))
    with pytest.raises(CliError, match="broken gzip data"), source.open() as stream:
        list(source.lines(stream))


# -- fuzz: the reader never crashes, and every bad line is reported with its number -----------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(line_strategy, max_size=12), crlf=st.booleans(), final_newline=st.booleans())
def test_fuzz_every_bad_line_is_reported_with_its_number(
    lines: list[bytes], crlf: bool, final_newline: bool
) -> None:
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    data = (b"\r\n" if crlf else b"\n").join(lines) + (b"\n" if final_newline and lines else b"")
    if data.startswith(b"\xef\xbb\xbf"):  # a leading BOM is dropped, as it should be
        return
    rejected: dict[int, str] = {}

    def on_reject(origin: Origin, error: str) -> None:
        assert origin.line not in rejected
        rejected[origin.line] = error

    with Pipeline(None, on_reject=on_reject, batch_size=3) as pipeline:
        pipeline.feed(0, read_lines(io.BytesIO(data)))
    tally = pipeline.tally

    verdicts = {n: expected(line) for n, line in enumerate(lines, 1) if line.strip()}
    assert set(rejected) == {n for n, event in verdicts.items() if event is None}
    assert all(rejected.values())  # every reject says why
    ids = [event.event_id for event in verdicts.values() if event is not None]
    assert tally.read == len(verdicts)
    assert tally.accepted == len(set(ids))
    assert tally.duplicates == len(ids) - len(set(ids))
    assert tally.read == tally.accepted + tally.rejected + tally.duplicates
