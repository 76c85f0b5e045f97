"""Text normalisation shared by ingestion, the index and the gold sets.

One function, applied once when an article is read, so that every stored text, chunk,
quote and offset refers to the same characters. It does not change letters, case or
punctuation (curly quotes stay curly): it only removes what breaks matching.
"""

from __future__ import annotations

import re
import unicodedata

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
# Control characters other than tab and newline carry no text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Lone surrogates (from undecodable bytes in arguments or JSON) cannot be stored or encoded.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_TRAILING = re.compile(r"[ \t]+\n")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """Return ``text`` in the canonical form every stored text uses.

    NFKC compatibility forms (ligatures, full-width letters), no zero-width or control
    characters (lone surrogates become U+FFFD), every kind of space as one ASCII space, Unix newlines, at most one
    blank line in a row, no spaces at line ends, and no leading or trailing blanks.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Drop invisible characters before NFKC, so that what they separated composes now and a
    # second pass changes nothing (idempotence).
    text = text.translate(_ZERO_WIDTH)
    text = _CONTROL.sub("", text)
    text = _SURROGATE.sub("\ufffd", text)
    text = unicodedata.normalize("NFKC", text)
    text = _SPACES.sub(" ", text)
    text = _TRAILING.sub("\n", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def normalize_quote(text: str) -> str:
    """Normalise a quote the way stored text is, and fold its whitespace to single spaces."""
    return re.sub(r"\s+", " ", normalize_text(text))
