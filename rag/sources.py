"""Per-source answers: what each outlet says about a question, and which say nothing.

``kb.ask(question, by_source=True)`` lands here. Retrieval first finds which sources (outlets, or an
article's title when it names none; :func:`rag.answer.source_label`) have passages near the question;
then each of them, up to ``MAX_SOURCES`` in order of their best passage, is answered on its own, from
its own articles only, by the same extractive stage as a plain question (:mod:`rag.answer`: the same
reader, threshold and citations). The result is one :class:`~rag.types.Answer`: a version per
answering source (or per speaker, when one source gives two versions), citations numbered across
sources, and ``unanswered_sources``: the sources searched that do not answer, then those without a
passage near the question.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .answer import abstention_text, extractive_answer, retrieve_for_answer, source_label, version_text
from .retrieve import Filters
from .types import Answer, Citation, Hit, Version

SCAN_HITS = 50  # passages retrieved to find the sources that may answer
MAX_SOURCES = 12  # sources answered one by one


def _renumber(answer: Answer, first: int) -> tuple[list[Citation], list[Version]]:
    """``answer``'s citations and versions with markers shifted to start at ``first``."""
    shift = {c.marker: first + i for i, c in enumerate(answer.citations)}
    cites = [replace(c, marker=shift[c.marker]) for c in answer.citations]
    versions = [replace(v, markers=tuple(shift[m] for m in v.markers)) for v in answer.versions]
    return cites, versions


def _source_filters(base: Filters | None, doc_ids: Sequence[str]) -> Filters:
    """``base`` narrowed to the documents ``doc_ids`` (one source's articles)."""
    base = base or Filters()
    wanted = tuple(d for d in doc_ids if not base.doc_ids or d in base.doc_ids)
    return replace(base, doc_ids=wanted or ("\x00",))  # an id no document has: nothing passes


def answer_by_source(snapshot: Any, question: str, k: int = 5, filters: Any = None,
                     search_mode: str | None = None) -> Answer:
    """One answer per source that answers ``question`` (see the module docstring)."""
    t0 = time.perf_counter()
    base = Filters.coerce(filters)
    question, hits = retrieve_for_answer(snapshot, question, max(k, SCAN_HITS), base, search_mode)
    documents = snapshot.data.documents
    by_label: dict[str, list[str]] = {}
    for doc in documents.values():
        if base is None or base.allows(doc):  # the sources the question is asked of
            by_label.setdefault(source_label(doc), []).append(doc.doc_id)
    near = list(dict.fromkeys(source_label(documents[h.doc_id]) for h in hits))
    searched = near[:MAX_SOURCES]
    cites: list[Citation] = []
    versions: list[Version] = []
    lines: list[str] = []
    passages: list[Hit] = []
    silent: list[str] = []
    confidence = 0.0
    for label in searched:
        own = snapshot.retriever.search(question, k=max(k, 8), filters=_source_filters(base, by_label[label]),
                                        mode=search_mode)
        answer = extractive_answer(snapshot, question, own, k=k)
        if answer.abstained:
            silent.append(label)
            continue
        these, said = _renumber(answer, len(cites) + 1)
        cites += these
        said = [replace(v, sources=(label,)) for v in said]
        versions += said
        # "AFP: thousands [1]", not "AFP: thousands according to AFP [1]"
        lines.append(f"{label}: " + "; ".join(version_text(replace(v, attribution="") if v.attribution == label else v)
                                             for v in said) + ".")
        passages += [h for h in own[:k] if h.chunk_id in {c.chunk_id for c in these}]
        confidence = max(confidence, answer.confidence)
    silent += [label for label in sorted(by_label) if label not in searched]
    t1 = time.perf_counter()
    timing = {"total_ms": (t1 - t0) * 1000}
    if not versions:
        return Answer(question=question, text=abstention_text(hits[:k]), short_answer="", citations=(),
                      passages=tuple(hits[:k]), abstained=True, confidence=confidence, timing=timing,
                      notes=(f"by source: no source answers ({len(searched)} searched)",),
                      unanswered_sources=tuple(silent))
    unanswered = f" Not answered by: {', '.join(silent)}." if silent else ""
    distinct = list(dict.fromkeys(v.value for v in versions))
    return Answer(question=question, text=" ".join(lines) + unanswered, short_answer=" / ".join(distinct),
                  citations=tuple(cites), passages=tuple(passages), abstained=False, confidence=confidence,
                  timing=timing, notes=(f"by source: {len(lines)} of {len(searched)} searched sources answer",),
                  versions=tuple(versions), unanswered_sources=tuple(silent))
