"""lz-string's ``decompressFromBase64``, the ``lz64`` compression of older posthog-js releases.

A port of lz-string 1.5.0's ``_decompress`` (MIT, pieroxy), with one addition: the output is
bounded, so a small body cannot expand past the route's size limit. lz-string works on UTF-16
code units; units are collected as they come and joined as UTF-16 at the end, so characters
outside the BMP (emoji in a page title) survive as the surrogate pairs they were sent as.
"""

from __future__ import annotations

__all__ = ["LzStringError", "decompress_from_base64"]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_VALUES = {char: index for index, char in enumerate(_ALPHABET)}


class LzStringError(ValueError):
    """The text is not lz-string ``compressToBase64`` output (or inflates past the limit)."""


class _Bits:
    """Reads the bit stream lz-string packs into six-bit base64 characters, lowest bit first."""

    __slots__ = ("index", "position", "text", "value")

    def __init__(self, text: str) -> None:
        self.text = text
        self.value = self._char(0)
        self.position = 32  # lz-string's resetValue for base64: bit 5 of each character
        self.index = 1

    def _char(self, index: int) -> int:
        if index >= len(self.text):
            return 0  # lz-string reads past the end as zero bits
        try:
            return _VALUES[self.text[index]]
        except KeyError:
            raise LzStringError(f"not base64: {self.text[index]!r} at {index}") from None

    def read(self, count: int) -> int:
        bits = 0
        for shift in range(count):
            if self.value & self.position:
                bits |= 1 << shift
            self.position >>= 1
            if self.position == 0:
                self.position = 32
                self.value = self._char(self.index)
                self.index += 1
        return bits


def decompress_from_base64(text: str, *, limit: int) -> str:
    """Inflate lz-string ``compressToBase64`` output into at most ``limit`` UTF-16 code units.

    >>> decompress_from_base64("BYSyA===", limit=100)  # LZString.compressToBase64("hi")
    'hi'
    """
    if not text:
        raise LzStringError("empty lz64 text")
    bits = _Bits(text)
    dictionary: list[str] = ["", "", ""]  # codes 0, 1 and 2 are commands, never entries
    enlarge_in, num_bits = 4, 3
    kind = bits.read(2)
    if kind == 2:
        return ""
    if kind not in (0, 1):
        raise LzStringError("not lz-string output")
    word = chr(bits.read(8 if kind == 0 else 16))
    dictionary.append(word)
    out = [word]
    size = 1
    while True:
        if bits.index > len(text):
            raise LzStringError("lz64 text is truncated")
        code = bits.read(num_bits)
        if code in (0, 1):
            dictionary.append(chr(bits.read(8 if code == 0 else 16)))
            code = len(dictionary) - 1
            enlarge_in -= 1
        elif code == 2:
            return _join(out)
        enlarge_in, num_bits = _widen(enlarge_in, num_bits)
        if code < len(dictionary):
            entry = dictionary[code]
        elif code == len(dictionary):
            entry = word + word[0]
        else:
            raise LzStringError("lz64 text refers to an unknown sequence")
        size += len(entry)
        if size > limit:
            raise LzStringError(f"lz64 text inflates past {limit} characters")
        out.append(entry)
        dictionary.append(word + entry[0])
        enlarge_in -= 1
        word = entry
        enlarge_in, num_bits = _widen(enlarge_in, num_bits)


def _widen(enlarge_in: int, num_bits: int) -> tuple[int, int]:
    """Codes grow by a bit each time the dictionary doubles (lz-string's ``enlargeIn``)."""
    if enlarge_in == 0:
        return 1 << num_bits, num_bits + 1
    return enlarge_in, num_bits


def _join(units: list[str]) -> str:
    text = "".join(units)
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        raise LzStringError("lz64 text holds a lone UTF-16 surrogate") from None
