"""Cleaning: strip web chrome from an article's text, keep the article.

Works line by line on normalised text with general rules, not a list of known strings:
short lines that are not sentences (reading-time stamps, bylines, "Source link"),
phrases that only web pages say (comment forms, newsletter and share prompts), photo
captions and credit lines, lines in another script than the article's (UI strings), and
trailing prompts that end in a colon. A headline line at the top becomes the title, and
date stamps and "Author:" lines become metadata. It does not rewrite sentences.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from .normalize import normalize_text

_BOILERPLATE_PHRASES = re.compile(
    r"""(?ix)
    \b(?:source\s+link
    |your\s+email\s+(?:address\s+)?will\s+not\s+be\s+published|required\s+fields\s+are\s+marked
    |save\s+my\s+name,?\s+email|notify\s+me\s+of\s+(?:new|follow)
    |sign\s+up\s+for\s+(?:our|the)\s+\w*\s*newsletter|subscribe\s+to\s+(?:our|the)\s+\w*\s*newsletter
    |click\s+here\s+to
    |all\s+rights\s+reserved|this\s+site\s+uses\s+cookies|accept\s+(?:all\s+)?cookies
    |to\s+participate\s+in\s+the\s+discussion|log\s+in\s+or\s+register|sign\s+in\s+to\s+comment
    |select\s+digest|skip\s+to\s+(?:main\s+)?content)\b
    # Words that running text uses too ("the advertisement ran", "he posted a comment on X")
    # are chrome only when they open the line.
    |^\W*(?:leave\s+a\s+(?:reply|comment)|post(?:ed)?\s+a\s+comment
    |share\s+(?:this|on)\s+(?:article|story|post|facebook|twitter)
    |download\s+(?:the|our)\s+app|follow\s+us\s+on|related\s+(?:articles|stories|posts)
    |continue\s+reading|read\s+more|advertisement)\b
    """
)
_CAPTION = re.compile(
    r"""(?ix)
    ^\s*(?:©|\(c\)|copyright\b|photo\s*:|image\s*:|picture\s*:|credit\s*:|file\s+photo\b)
    # Agency credits where credits stand ("/Reuters", "(Getty Images)", "AP Photo/..."), not
    # the names in running text ("works for Getty Images", "an AP photo showed").
    |[(/|]\s*(?:getty\s+images|ap\s+photo|shutterstock)\b|\bvia\s+getty\s+images\b|\bafp\s+via\b
    |/\s*(?:reuters|afp)\b|\bap\s+photo\s*/|(?:getty\s+images|shutterstock)\s*$
    |\s[-–—]\s[^.\n]{2,60},\s*\d{3,4}\s*,\s*\d{1,2}\.\d{1,2}\.\d{4}\s*$   # "… - Sputnik, 1920, 02.01.2022"
    """
)
_BYLINE = re.compile(r"(?i)^(?:by|author:|written\s+by|posted\s+by)\s+(?P<name>[\w .'’-]{2,60})$")
_AUTHOR_FIELD = re.compile(r"(?i)\bauthor:\s*(?P<name>[^\n,;|]{2,60})")
_TERMINAL = re.compile(r"""[.!?…:;"”’')\]»。」』؟।]$""")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_DATE_DMY = re.compile(r"\b(\d{1,2})[./](\d{1,2})[./](\d{4})\b")
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?!\d)")  # also "2020-01-03T10:00:00Z"
_DATE_MDY = re.compile(r"(?i)\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")
_DATE_DMY_WORDS = re.compile(r"(?i)\b(\d{1,2})(?:st|nd|rd|th)?\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,?\s+(\d{4})\b")
_STAMP_WORDS = {"min", "mins", "minute", "minutes", "read", "ago", "hour", "hours", "hrs", "day", "days",
                "mth", "mths", "month", "months", "year", "years", "updated", "published", "posted",
                "am", "pm", "views", "comments", "share", "shares", "by", "author", "admin", "on"}


@dataclass(frozen=True)
class Cleaned:
    """The article text without web chrome, and what the chrome told us."""

    text: str
    title: str = ""
    date: str = ""
    author: str = ""
    removed: tuple[str, ...] = ()


def _words(line: str) -> list[str]:
    return _WORD.findall(line)


# Japanese mixes kanji and kana in every sentence: one script for these purposes.
_SCRIPT_FAMILY = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HALFWIDTH": "CJK"}


@lru_cache(maxsize=65_536)
def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0] if name else ""
    return _SCRIPT_FAMILY.get(first, first)


def _script_counts(text: str) -> dict[str, int]:
    """Letters of ``text`` per script; counts distinct characters first (in C), names each once."""
    counts: dict[str, int] = {}
    for ch, n in Counter(text).items():
        if ch.isalpha():
            s = _script(ch)
            counts[s] = counts.get(s, 0) + n
    return counts


def dominant_script(text: str) -> str:
    """The Unicode script (first word of the character names) most letters belong to."""
    counts = _script_counts(text)
    return max(counts, key=counts.__getitem__) if counts else ""


def _foreign_script(line: str, script: str) -> bool:
    if not script:
        return False
    counts = _script_counts(line)
    letters = sum(counts.values())
    return bool(letters) and counts.get(script, 0) / letters < 0.5


def parse_date(text: str) -> str:
    """The first date found in ``text`` as ISO ``YYYY-MM-DD``, or ``""``."""
    found: list[tuple[int, date]] = []
    for pattern, order in ((_DATE_ISO, "ymd"), (_DATE_DMY, "dmy"), (_DATE_MDY, "mdy"), (_DATE_DMY_WORDS, "dmy")):
        for m in pattern.finditer(text):
            parts = dict(zip(order, m.groups()))
            month = parts["m"]
            month_no = _MONTHS.get(month[:3].lower()) if not month.isdigit() else int(month)
            try:
                found.append((m.start(), date(int(parts["y"]), month_no or 0, int(parts["d"]))))
            except ValueError:
                continue
    return min(found)[1].isoformat() if found else ""


def is_headline(line: str) -> bool:
    """A line that reads like a headline: several words, no final punctuation, mostly capitalised."""
    words = _words(line)
    if not 3 <= len(words) <= 30 or _TERMINAL.search(line.rstrip()) and not line.rstrip().endswith(("’", "'")):
        return False
    long_words = [w for w in words if len(w) > 3]
    if not long_words:
        return False
    capitalised = sum(1 for w in long_words if w[0].isupper() or w[0].isdigit())
    return capitalised / len(long_words) >= 0.6


def _byline(line: str) -> re.Match[str] | None:
    """A "By Jane Doe" line; "By then the city was quiet." is a sentence, not a byline."""
    m = _BYLINE.match(line)
    if not m:
        return None
    words = _words(m.group("name"))
    capitalised = sum(1 for w in words if w[0].isupper())
    return m if len(words) == 1 or capitalised * 2 >= len(words) else None


def _is_stamp(line: str) -> bool:
    """Date stamps, reading times and view counters: numbers and stamp words only."""
    words = [w.lower().rstrip(".") for w in _words(line)]
    if not words or len(words) > 8:
        return False
    rest = [w for w in words if not w.isdigit() and w not in _STAMP_WORDS and w[:3] not in _MONTHS
            and not re.fullmatch(r"\d+(?:st|nd|rd|th)", w)
            and w not in {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}]
    return len(rest) <= max(1, len(words) // 4) and bool(parse_date(line) or any(w.isdigit() for w in words))


def _is_chrome(line: str, script: str) -> bool:
    stripped = line.strip()
    words = _words(stripped)
    if not words:
        return True
    if _BOILERPLATE_PHRASES.search(stripped) and len(words) <= 25:
        return True
    if _CAPTION.search(stripped) and len(words) <= 60:
        return True
    if _is_stamp(stripped) or _byline(stripped):
        return True
    if _AUTHOR_FIELD.search(stripped) and len(words) <= 10:
        return True
    if _foreign_script(stripped, script) and len(words) <= 20:
        return True
    if not _TERMINAL.search(stripped):
        # Not a sentence: keep only if it is long enough to be running text.
        return len(words) <= 6 or is_headline(stripped)
    return False


def clean_article(raw: str, title: str = "") -> Cleaned:
    """Remove web chrome from ``raw`` (any text); detect title, date and author."""
    text = normalize_text(raw)
    lines = [ln.strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    script = dominant_script(text)
    found_date = ""
    author = ""
    removed: list[str] = []
    kept: list[str] = []
    for i, line in enumerate(lines):
        if not title and not kept and is_headline(line) and not _is_chrome_phrase(line) and not _is_stamp(line):
            title = line
            removed.append(line)
            continue
        if not kept and title and line.casefold() == title.casefold():  # a given title repeated atop the body
            removed.append(line)
            continue
        if _is_chrome(line, script):
            removed.append(line)
            if not found_date and (_is_stamp(line) or _AUTHOR_FIELD.search(line)):
                found_date = parse_date(line)
            if not author:
                m = _byline(line) or _AUTHOR_FIELD.search(line)
                if m and m.group("name").strip().lower() not in {"admin", "administrator", "editor", "staff"}:
                    author = m.group("name").strip()
            continue
        kept.append(line)
    # A short prompt ending in a colon with nothing after it is a UI leftover.
    while kept and kept[-1].endswith(":") and len(_words(kept[-1])) <= 8:
        removed.append(kept.pop())
    return Cleaned(text="\n\n".join(kept), title=title, date=found_date, author=author, removed=tuple(removed))


def _is_chrome_phrase(line: str) -> bool:
    return bool(_BOILERPLATE_PHRASES.search(line) or _CAPTION.search(line) or _byline(line)
                or _AUTHOR_FIELD.search(line))
