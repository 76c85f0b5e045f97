"""Shared data types: small frozen dataclasses passed between the stages.

Offsets are always ``[start, end)`` character positions into a document's cleaned
text, so ``document.text[start:end] == chunk.text`` for every chunk and
``document.text[c.start:c.end] == c.quote`` for every citation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """A cleaned article."""

    doc_id: str
    text: str
    title: str = ""
    date: str = ""  # ISO 8601 date (YYYY-MM-DD) when known
    source: str = ""
    url: str = ""
    author: str = ""
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Sentence:
    """A sentence span of a document."""

    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned slice of a document: ``doc.text[start:end] == text``."""

    chunk_id: str
    doc_id: str
    ordinal: int
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...] = ()  # document offsets of its sentences


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its score and the span of its best sentence."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    rank: int = 0
    source: str = ""
    date: str = ""
    best_start: int = -1  # document offsets of the best-matching sentence, -1 if unknown
    best_end: int = -1
    scores: dict[str, float] = field(default_factory=dict)  # per-stage scores (dense, bm25, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """An ``[n]`` marker's evidence: a verbatim quote at exact document offsets."""

    marker: int
    doc_id: str
    title: str
    chunk_id: str
    quote: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Version:
    """One version of an answer: what is said, who says it and where (its citations' markers).

    An answer the articles agree on has one version; a disputed one has one per side, best first.
    """

    value: str
    attribution: str  # who says it: the speaker the sentence names, else the outlet; "" when unknown
    sources: tuple[str, ...]  # the outlets (an article's title when it names none) of its citations
    doc_ids: tuple[str, ...]
    markers: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """What ``KnowledgeBase.ask`` returns."""

    question: str
    text: str
    short_answer: str
    citations: tuple[Citation, ...]
    passages: tuple[Hit, ...]
    abstained: bool
    confidence: float
    timing: dict[str, float] = field(default_factory=dict)
    mode: str = "extractive"
    notes: tuple[str, ...] = ()  # e.g. conflicts found, verification repairs
    versions: tuple[Version, ...] = ()  # what each side says: one when the articles agree, none when abstaining
    unanswered_sources: tuple[str, ...] = ()  # by_source: the sources searched that do not answer

    @property
    def disputed(self) -> bool:
        """The articles (or speakers in them) give different versions of the answer."""
        return len(self.versions) > 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "short_answer": self.short_answer,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "abstained": self.abstained,
            "confidence": self.confidence,
            "timing": dict(self.timing),
            "mode": self.mode,
            "notes": list(self.notes),
            "versions": [v.to_dict() for v in self.versions],
            "unanswered_sources": list(self.unanswered_sources),
        }


@dataclass(frozen=True)
class Skipped:
    """A file or record that was not indexed, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class IngestReport:
    """What an index build or ``add`` did."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    duplicates: tuple[tuple[str, str], ...] = ()  # (duplicate doc id, kept doc id): exact copies
    near_duplicates: tuple[tuple[str, str, float], ...] = ()  # (doc id, similar doc id, similarity)
    chunks_embedded: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
