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
class GoldItem:
    """One gold question."""

    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    answerable: bool
    type: str
    line: int

    @property
    def quotes(self) -> list[str]:
        """The normalised evidence quotes."""
        return [e.normalized for e in self.evidence]


def folded_documents(texts: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """doc_id -> text folded the way :mod:`eval.check_gold` matches quotes."""
    pairs = texts.items() if isinstance(texts, Mapping) else texts
    return {doc_id: check_gold.fold_document(text) for doc_id, text in pairs}


def load_gold(path: str | Path, documents: Mapping[str, str] | None = None) -> list[GoldItem]:
    """Read and validate the gold file at ``path``.

    ``documents`` (doc_id -> document text, e.g. from the index) adds the evidence checks:
    each ``doc_id`` must be a document and each quote must occur in it. Raises
    :class:`GoldError` listing every problem with its line number and field.
    """
    path = Path(path)
    if not path.is_file():
        raise GoldError(path, [f"gold: {path} is not a file"])
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise GoldError(path, [f"gold: not valid UTF-8: {exc}"]) from exc
    docs = folded_documents(documents) if documents is not None else None
    records, errors = check_gold.validate_lines(lines, docs)
    if errors:
        raise GoldError(path, errors)
    return [
        GoldItem(
            id=rec["id"], question=rec["question"], answers=tuple(rec["answers"]),
            evidence=tuple(Evidence(ev["doc_id"], ev["quote"], check_gold.normalize_quote(ev["quote"]))
                           for ev in rec["evidence"]),
            answerable=rec["answerable"], type=rec["type"], line=n,
        )
        for n, rec in records
    ]
