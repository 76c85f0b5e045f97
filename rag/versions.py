"""Versions: what the articles say when they disagree, and who says it.

After :mod:`rag.answer` pools the reader's spans into candidates, this stage decides which candidates
are *versions of one answer*: the best candidate, plus each candidate scored nearly as high (within
``CONFLICT_MARGIN`` logits, and itself above the reader's threshold) that gives a different value of
the same kind from another voice, i.e. another article, or the same article attributed to another
speaker ("police said about 800 ..., while organisers put the number at 5,000"; such a rival may score
lower, down to ``SPEAKER_MARGIN``), in a sentence about the same thing (:func:`same_topic`). Candidates
that agree with a version join it (their articles are cited for it):

- two amounts agree when they state the same values: "about 2,500", "some 2,500" and "2,500"; "several
  thousand" and "thousands"; not "thousands" and "hundreds of thousands", nor "2,500" and "hundreds or
  up to a few thousand" (a figure against a magnitude is two statements);
- other answers agree when the words of one are among the words of the other ("al-Muhandis" and
  "Abu Mahdi al-Muhandis"; "3 January" and "January 3, 2020").

Only amounts dispute each other (:func:`comparable`): two names from two articles were, when measured,
the reader's second readings more often than two claims. Pure functions over candidate texts; the
caller supplies who says what and the sentences' closeness (docs/disagreements.md).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from .lexical import tokenize

CONFLICT_MARGIN = 3.0  # logits below the best candidate a rival version may score
# A rival's sentence must be about what the best's is: close in meaning (cosine of the index's sentence
# vectors) and sharing words besides the answers (Jaccard of their terms). Chosen on the demo gold set
# and the SQuAD v1.1 dev split (docs/disagreements.md).
SENTENCE_COSINE = 0.55
SHARED_WORDS = 0.1
SPEAKER_MARGIN = 6.0  # logits below the best a rival attributed to another speaker in the same article may score
MAX_VERSIONS = 3
SCAN = 6  # candidates looked at for rivals and agreement
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "‘’“”–—")
_NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(thousand|million|billion|trillion)?", re.IGNORECASE)
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_ALTERNATIVES = re.compile(r"\b(?:or|to)\b|\s[-–—]\s|(?<=\d)[-–—](?=\d)", re.IGNORECASE)
LEXICON = Path(__file__).with_name("lexicon") / "numbers.json"


@lru_cache(maxsize=1)
def number_words() -> dict[str, dict[str, float]]:
    """The number words of ``lexicon/numbers.json``: units, tens and scales, each word -> value."""
    data = json.loads(LEXICON.read_text(encoding="utf-8"))
    return {part: {w: float(v) for w, v in data[part].items()} for part in ("units", "tens", "scales")}


class Stated(Protocol):
    """A pooled candidate as this stage sees it (:class:`rag.answer.Candidate`)."""

    text: str
    score: float

    @property
    def docs(self) -> frozenset[str]: ...


def answer_key(text: str) -> str:
    """The text SQuAD-normalised: lower case, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def numeric_value(text: str) -> float | None:
    """The first figure in ``text`` with its scale word ("2.5 million" is 2,500,000), if any."""
    m = _NUMBER.search(text)
    if not m:
        return None
    try:
        value = float(m.group(1).replace(",", ""))
    except ValueError:
        return None
    return value * _SCALE.get((m.group(2) or "").lower(), 1.0)


def spelled_value(part: str) -> float | None:
    """The amount said in words in ``part``: "fourteen" 14, "twenty-five" 25, "two million" 2e6,
    "hundreds of thousands" 1e5, "several thousand" 1e3, "tens of thousands" 1e4; ``None`` if none."""
    words = number_words()
    total, current, seen = 0.0, 0.0, False
    for word in answer_key(part.replace("-", " ")).split():
        if word in words["units"] or word in words["tens"]:
            current += words["units"].get(word, 0.0) + words["tens"].get(word, 0.0)
            seen = True
        elif word in words["scales"]:
            scale = words["scales"][word]
            current = (current or 1.0) * scale
            if scale >= 1e3:
                total, current = total + current, 0.0
            seen = True
    return total + current if seen else None


def amount_key(text: str) -> tuple[float, ...] | None:
    """The values an amount states, one per alternative ("10 to 15 cents" is (10, 15), "hundreds or up
    to a few thousand" (100, 1000), "several thousand" (1000,), "January 3, 2020" (3, 2020)); ``None`` when ``text`` is no amount."""
    values: set[float] = set()
    for part in _ALTERNATIVES.split(text):
        figures = [numeric_value(m.group(0)) for m in _NUMBER.finditer(part)]
        values.update(v for v in figures if v is not None)
        if not figures and (spelled := spelled_value(part)) is not None:
            values.add(spelled)
    return tuple(sorted(values)) or None


def is_amount(text: str) -> bool:
    """``text`` states an amount: a figure ("2,500", "2.5 million") or a magnitude ("hundreds"). Pure."""
    return amount_key(text) is not None


def agree(a: str, b: str) -> bool:
    """Whether the answers ``a`` and ``b`` say the same thing (see the module docstring). Pure."""
    ka, kb = answer_key(a), answer_key(b)
    if ka == kb:
        return True
    wa, wb = set(ka.split()), set(kb.split())
    nested = bool(wa) and bool(wb) and (wa <= wb or wb <= wa)
    va, vb = amount_key(a), amount_key(b)
    if va is None and vb is None:
        return nested
    if va is None or vb is None:
        return False
    return va == vb or (nested and (set(va) <= set(vb) or set(vb) <= set(va)))


def comparable(a: str, b: str) -> bool:
    """Two answers that can disagree: both amounts (figures, dates, magnitudes). Pure.

    Two different names from two articles are not reported as a disagreement: on the demo gold set
    (tuned on) they were the reader's second readings of the question far more often than two claims
    (false conflicts on 9 of 84 answerable questions against 0 for amounts alone, and no conflict
    question gained); see docs/disagreements.md."""
    return is_amount(a) and is_amount(b)


def same_topic(best: tuple[str, str], other: tuple[str, str], cosine: float | None = None) -> bool:
    """Whether two (sentence, answer) say something about the same thing: the sentences share words
    besides their answers, and their vectors' ``cosine`` (when known) is high enough. Pure."""
    (sent_a, ans_a), (sent_b, ans_b) = best, other
    words_a = set(tokenize(sent_a)) - set(tokenize(ans_a))
    words_b = set(tokenize(sent_b)) - set(tokenize(ans_b))
    shared = len(words_a & words_b) / max(1, len(words_a | words_b))
    return shared >= SHARED_WORDS and (cosine is None or cosine >= SENTENCE_COSINE)


def group_versions(cands: Sequence[Stated], threshold: float,
                   speaker: Callable[[Stated, Stated], bool] | None = None,
                   related: Callable[[Stated, Stated], bool] | None = None) -> list[list[int]]:
    """Indices into ``cands`` (best first) grouped into versions: the first group holds the best
    candidate and those agreeing with it; each further group is a rival version (see the module
    docstring). ``speaker(a, b)`` says whether, in the articles stating both, ``a`` and ``b`` are
    attributed to different named speakers: such a rival may score down to ``SPEAKER_MARGIN`` below
    the best, even under the threshold (a reader trained on one answer per question scores the second
    figure of "police said 800 ..., organisers 5,000" low); without it, a rival comes from other articles.
    ``related(best, other)`` (e.g. :func:`same_topic` on their sentences) must hold for a rival: two
    figures about two different things are not a disagreement."""
    if not cands:
        return []
    groups: list[list[int]] = [[0]]
    best = cands[0]
    for i, other in enumerate(cands[1:SCAN], start=1):
        close = other.score > threshold and other.score >= best.score - CONFLICT_MARGIN
        if not close and (speaker is None or other.score < best.score - SPEAKER_MARGIN):
            continue
        joined = next((g for g in groups if agree(cands[g[0]].text, other.text)), None)
        if joined is not None:
            if close:
                joined.append(i)
            continue
        if len(groups) >= MAX_VERSIONS or not comparable(best.text, other.text) or (
                related is not None and not related(best, other)):
            continue
        shared = other.docs & frozenset().union(*(cands[j].docs for g in groups for j in g))
        if (close and not shared) or (shared and speaker is not None
                                      and all(speaker(cands[g[0]], other) for g in groups)):
            groups.append([i])
    return groups
