"""The lz64 decompressor against real lz-string output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evana.server._wire._lzstring import LzStringError, decompress_from_base64

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("plain", "packed"),
    [
        *json.loads((FIXTURES / "lz64_strings.json").read_text()),
        tuple(json.loads((FIXTURES / "lz64_batch.json").read_text()).values()),
    ],
)
def test_decompresses_what_lz_string_compressed(plain: str, packed: str) -> None:
    assert decompress_from_base64(packed, limit=10**6) == plain


def test_output_is_bounded_while_inflating() -> None:
    _plain, packed = next(
        p for p in json.loads((FIXTURES / "lz64_strings.json").read_text()) if len(p[0]) == 5000
    )
    assert len(packed) < 200  # 5,000 characters from about a hundred
    with pytest.raises(LzStringError, match="inflates past 1000"):
        decompress_from_base64(packed, limit=1000)


@pytest.mark.parametrize("garbage", ["@@@@", "////////", "A", ""])
def test_garbage_is_an_error(garbage: str) -> None:
    with pytest.raises(LzStringError):
        decompress_from_base64(garbage, limit=1000)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=@ "))
def test_any_text_decompresses_or_is_refused_with_lz_string_error(text: str) -> None:
    try:
        out = decompress_from_base64(text, limit=1000)
    except LzStringError:
        return
    assert isinstance(out, str)
    assert len(out) <= 1000
