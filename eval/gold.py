"""Gold question sets: read a JSON Lines file into :class:`GoldItem` objects, or fail clearly.

What it does: parses and validates the gold format with :mod:`eval.check_gold` (the same
rules as the standalone checker), first on its own (format only) and, once an index is
open, against the indexed documents (every evidence quote must occur in its document).
A problem raises :class:`GoldError` whose message names the file, line and field.

What it does not do: no retrieval, no scoring, no I/O beyond reading the gold file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval import check_gold

TYPES = check_gold.TYPES
MAX_LISTED_ERRORS = 20


class GoldError(ValueError):
    """A gold file that cannot be used; ``errors`` lists every problem ("line N: field F: ...")."""

    def __init__(self, path: str | Path, errors: list[str]) -> None:
        self.path = str(path)
        self.errors = list(errors)
        shown = "\n  ".join(self.errors[:MAX_LISTED_ERRORS])
        more = f"\n  ... and {len(self.errors) - MAX_LISTED_ERRORS} more" if len(errors) > MAX_LISTED_ERRORS else ""
        super().__init__(f"gold file {self.path}: {len(self.errors)} error(s):\n  {shown}{more}")


@dataclass(frozen=True)
class Evidence:
    doc_id: str
    quote: str  # as written in the gold file
    normalized: str  # normalised like stored text, whitespace folded: what retrieval is matched on


@dataclass(frozen=True)
class GoldVersion:
    """One side of a conflict question: its acceptable phrasings, the documents stating it, who says it."""

    answers: tuple[str, ...]
    doc_ids: tuple[str, ...]
    by: str = ""


@dataclass(frozen=True)
class GoldItem:
    """One gold question."""

    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    answerable: bool
    type: str
    line: int
    versions: tuple[GoldVersion, ...] = ()  # conflict questions: every side the answer must give

    @property
    def quotes(self) -> list[str]:
        """The normalised evidence quotes."""
        return [e.normalized for e in self.evidence]


def folded_documents(texts: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """doc_id -> text folded the way :mod:`eval.check_gold` matches quotes."""
    pairs = texts.items() if isinstance(texts, Mapping) else texts
    return {doc_id: check_gold.fold_document(text) for doc_id, text in pairs}


def raw_texts(documents: Iterable[Any]) -> dict[str, str]:
    """doc_id -> the article as written (its file, when it can still be read) and its metadata fields,
    folded like quotes are matched: where a gold quote may be when cleaning moved it out of the text."""
    out = {}
    for d in documents:
        parts = [d.title, d.author, d.date, d.source, d.url]
        try:
            parts.append(Path(d.path).read_text(encoding="utf-8", errors="replace") if d.path else "")
        except OSError:
            pass
        out[d.doc_id] = check_gold.fold_document("\n".join(p for p in parts if p))
    return out


def load_gold(path: str | Path, documents: Mapping[str, str] | None = None, *,
              raw: Mapping[str, str] | None = None, warnings: list[str] | None = None) -> list[GoldItem]:
    """Read and validate the gold file at ``path``.

    ``documents`` (doc_id -> document text, e.g. from the index) adds the evidence checks:
    each ``doc_id`` must be a document and each quote must occur in it. A quote found only in
    ``raw`` (doc_id -> the raw article and its metadata, see :func:`raw_texts`) is a warning, appended
    to ``warnings``: the question keeps its answer metrics and its evidence metrics skip that quote.
    Raises :class:`GoldError` listing every problem with its line number and field.
    """
    path = Path(path)
    if not path.is_file():
        raise GoldError(path, [f"gold: {path} is not a file"])
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise GoldError(path, [f"gold: not valid UTF-8: {exc}"]) from exc
    docs = folded_documents(documents) if documents is not None else None
    found_raw = dict(raw) if raw is not None and docs is not None else None
    records, errors = check_gold.validate_lines(lines, docs, warnings, raw=found_raw)
    if errors:
        raise GoldError(path, errors)

    def usable(ev: dict) -> bool:
        return docs is None or check_gold.normalize_quote(ev["quote"]) in docs[ev["doc_id"]]

    return [
        GoldItem(
            id=rec["id"], question=rec["question"], answers=tuple(rec["answers"]),
            evidence=tuple(Evidence(ev["doc_id"], ev["quote"], check_gold.normalize_quote(ev["quote"]))
                           for ev in rec["evidence"] if usable(ev)),
            answerable=rec["answerable"], type=rec["type"], line=n,
            versions=tuple(GoldVersion(tuple(v["answers"]), tuple(v["doc_ids"]), v.get("by", ""))
                           for v in rec.get("versions", ())),
        )
        for n, rec in records
    ]
