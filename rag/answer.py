"""Answers: retrieve passages, read them with the trained reader, pool, cite, or abstain.

The answer stage around :mod:`rag.reader`:

1. retrieval hands over its best passages (chunks); the reader reads the first ``reader_passages`` of
   them in one batch and scores answer spans, each against its window's no-answer score;
2. spans that say the same thing (the same text once lower-cased, unpunctuated and without articles,
   or one inside the other) are pooled into one candidate, which keeps every article that states it;
3. the best candidate answers when its best span's margin clears the reader's calibrated threshold
   (from the model card, chosen on the SQuAD dev split), or, for a reader folder that holds a verifier
   (:mod:`rag.verify`; the bundled reader has none), when the verifier's probability that it is right
   clears the verifier's threshold; else the articles do not answer and the closest passages are
   listed; a rival amount from other articles, scored nearly as high, is reported beside the answer;
4. each citation is the sentence (or sentences) holding the span, at exact offsets into the article.

What it does not do: no question-type rules, no word lists; what an answer looks like is learned by
the reader. The confidence shown is the decision's
probability moved on the logit scale so that its threshold is 0.5: answers sit above 0.5 and
abstentions at or below it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from . import attribution, verify
from .lexical import tokenize
from .reader import Reader, ReaderPassage, ReaderSpan
from .retrieve import prepare_query
from .types import Answer, Citation, Document, Hit, Version
from .versions import answer_key, group_versions, same_topic

# Spans read per question before pooling; rivals and extra citations come from these.
SPANS_READ = 20
# A second article's span supports the answer, and a rival figure is reported, when its score is
# within this many logits of the best one (a logit is the reader's unit; two sentences stating the
# same fact usually score within one or two of each other).
SUPPORT_MARGIN = 3.0
MAX_CITED_ARTICLES = 3


@dataclass(frozen=True)
class Candidate:
    """One answer, pooled over the spans that say it (best first)."""

    text: str
    key: str
    score: float  # the best span's score
    spans: tuple[ReaderSpan, ...]

    @property
    def docs(self) -> frozenset[str]:
        return frozenset(s.doc_id for s in self.spans)


@lru_cache(maxsize=4)
def reader_for(path: str) -> Reader:
    """One reader per model folder ("" is the bundled model); it loads on its first question."""
    return Reader(path or None)


def _contains(longer: str, shorter: str) -> bool:
    """``shorter`` says part of what ``longer`` says: its words inside it, and it is a figure or more than
    one word (a lone word such as "people" inside "109 people" would pool every article saying "people")."""
    substantive = any(ch.isdigit() for ch in shorter) or " " in shorter
    return bool(shorter) and substantive and f" {shorter} " in f" {longer} "


def pool(spans: Sequence[ReaderSpan]) -> list[Candidate]:
    """Spans grouped by what they say (best first); a span whose words contain, or lie inside, a
    better candidate's joins it ("2,500" and "some 2,500 troops"; see :func:`_contains`)."""
    groups: list[tuple[str, str, list[ReaderSpan]]] = []
    for span in sorted(spans, key=lambda s: -s.score):
        key = answer_key(span.text)
        if not key:
            continue
        for k, _, members in groups:
            if key == k or _contains(key, k) or _contains(k, key):
                members.append(span)
                break
        else:
            groups.append((key, span.text, [span]))
    return [Candidate(text, key, members[0].score, tuple(members)) for key, text, members in groups]


def supporting(cand: Candidate, limit: int = MAX_CITED_ARTICLES) -> list[ReaderSpan]:
    """The spans to cite: the best one, then the best of each other article close to it in score."""
    out, docs = [cand.spans[0]], {cand.spans[0].doc_id}
    for s in cand.spans[1:]:
        if len(out) >= limit:
            break
        if s.doc_id not in docs and s.score >= cand.score - SUPPORT_MARGIN:
            out.append(s)
            docs.add(s.doc_id)
    return out


def sentence_bounds(sentences: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The ``[start, end)`` of the sentences that hold the span ``[start, end)``; the span itself
    when no sentence does. Pure."""
    inside = [(a, b) for a, b in sentences if a < end and b > start]
    if not inside:
        return start, end
    return min(a for a, _ in inside), max(b for _, b in inside)


def span_sentences(snapshot: Any, span: ReaderSpan) -> tuple[int, int]:
    """The document offsets ``[start, end)`` of the sentence(s) of its chunk that hold ``span``."""
    row = snapshot.retriever.chunk_row(span.key)
    sentences = snapshot.data.chunks[row].sentences if row is not None else ()
    return sentence_bounds(sentences, span.start, span.end)


def span_sentence_text(snapshot: Any, span: ReaderSpan) -> tuple[str, int]:
    """The text of the sentence(s) holding ``span`` (:func:`span_sentences`) and its document offset."""
    a, b = span_sentences(snapshot, span)
    return snapshot.data.documents[span.doc_id].text[a:b], a


def verifier_features(snapshot: Any, question: str, hits: Sequence[Hit], cands: Sequence[Candidate],
                      span: ReaderSpan | None = None) -> dict[str, float]:
    """What :mod:`rag.verify` sees about the best candidate ``cands[0]`` as ``span`` (default: its best
    span) states it, read from ``hits``."""
    best = cands[0]
    span = span or best.spans[0]
    bm25 = snapshot.data.bm25
    terms = sorted(set(tokenize(question)))
    idf = {t: bm25.idf(t) for t in terms if bm25 is not None and t in bm25.vocab}
    n = bm25.size if bm25 is not None else len(snapshot.data.chunks)
    support = len({s.passage for s in best.spans if s.score >= best.score - SUPPORT_MARGIN})
    return verify.features(margin=span.score, rival=cands[1].score if len(cands) > 1 else None, support=support,
                           idf=idf, max_idf=math.log(1.0 + (n + 0.5) / 0.5), question=question,
                           sentence=span_sentence_text(snapshot, span)[0], passage=hits[span.passage].text,
                           answer=best.text)


def _citations(snapshot: Any, spans: Sequence[ReaderSpan], first_marker: int) -> list[Citation]:
    data, out = snapshot.data, []
    for i, span in enumerate(spans):
        a, b = span_sentences(snapshot, span)
        doc = data.documents[span.doc_id]
        out.append(Citation(marker=first_marker + i, doc_id=span.doc_id, title=doc.title, chunk_id=span.key,
                            quote=doc.text[a:b], start=a, end=b))
    return out


def _markers(cites: Sequence[Citation]) -> str:
    return "".join(f"[{c.marker}]" for c in cites)


def abstention_text(hits: Sequence[Hit]) -> str:
    names = [f"{h.title or h.doc_id}" for h in hits[:3]]
    closest = "; ".join(dict.fromkeys(names))
    end = "" if closest.endswith(("…", ".")) else "."
    return "The articles do not answer this question." + (f" The closest passages found are from: {closest}{end}"
                                                         if closest else "")


def retrieve_for_answer(snapshot: Any, question: str, k: int, filters: Any = None,
                        search_mode: str | None = None) -> tuple[str, list[Hit]]:
    """The canonical question and the passages an answer reads (at least 8, the first ``k`` shown)."""
    question = prepare_query(question, snapshot.retriever.config.max_query_chars)
    return question, snapshot.retriever.search(question, k=max(k, 8), filters=filters, mode=search_mode)


def read_hits(snapshot: Any, question: str, hits: Sequence[Hit]) -> tuple[list[Candidate], float]:
    """The pooled candidates (best first) that the reader finds in the first passages, and the reader's
    margin threshold (its card's)."""
    reader = reader_for(snapshot.retriever.config.reader)
    passages = [ReaderPassage(h.doc_id, h.text, h.start, h.chunk_id)
                for h in hits[:snapshot.retriever.config.reader_passages]]
    reading = reader.read(question, passages, top_k=SPANS_READ)
    return pool(reading.spans), reader.threshold


def judge(snapshot: Any, question: str, hits: Sequence[Hit], cands: Sequence[Candidate],
          margin_threshold: float) -> tuple[bool, float, str]:
    """Whether to answer with ``cands[0]``, the confidence shown and a note saying why.

    The decision is the best span's alone: by default its margin over "no answer" against the reader's
    calibrated ``margin_threshold``, squashed to sigmoid(margin - threshold) so that 0.5 is the boundary;
    with a verifier shipped beside the reader (:mod:`rag.verify`), its probability that the answer is
    right against the verifier's threshold. ``Config.answer_threshold`` (a probability) overrides either
    boundary. The confidence shown is the decision's probability moved on the logit scale so that the
    threshold is 0.5; for an answer, each other article cited for it adds its own evidence as a noisy-OR
    (so agreement raises it)."""
    verifier = reader_for(snapshot.retriever.config.reader).verifier

    def probability(span: ReaderSpan) -> float:
        if verifier is None:
            return verify.sigmoid(span.score - margin_threshold)
        return verifier.probability(verifier_features(snapshot, question, hits, cands, span))

    best = cands[0]
    p = probability(best.spans[0])
    threshold = snapshot.retriever.config.answer_threshold
    if threshold is None:
        threshold = 0.5 if verifier is None else verifier.threshold

    def shown(prob: float) -> float:
        prob = min(max(prob, 1e-9), 1 - 1e-9)
        return verify.sigmoid(verify.logit(prob) - verify.logit(threshold))

    answers, conf = p > threshold, shown(p)
    if answers:
        for span in supporting(best)[1:]:
            conf = 1.0 - (1.0 - conf) * (1.0 - shown(probability(span)))
    op = ">" if answers else "<="
    if verifier is None and snapshot.retriever.config.answer_threshold is None:
        return answers, conf, f"reader: best span margin {best.score:.2f} {op} threshold {margin_threshold:.2f}"
    who = "verifier" if verifier is not None else "reader"
    return answers, conf, f"{who}: p(right) {p:.2f} {op} threshold {threshold:.3g} (best span margin {best.score:.2f})"


def answer_question(snapshot: Any, question: str, k: int = 5, filters: Any = None,
                    search_mode: str | None = None) -> Answer:
    """The extractive answer to ``question`` from one index ``snapshot`` (see the module docstring)."""
    t0 = time.perf_counter()
    question, hits = retrieve_for_answer(snapshot, question, k, filters, search_mode)
    t1 = time.perf_counter()
    answer = extractive_answer(snapshot, question, hits, k=k)
    t2 = time.perf_counter()
    timing = {"retrieve_ms": (t1 - t0) * 1000, "answer_ms": (t2 - t1) * 1000, "total_ms": (t2 - t0) * 1000}
    return Answer(**{**answer.__dict__, "timing": timing})


def source_label(doc: Document) -> str:
    """Who published ``doc``: its outlet, else its title, else its id."""
    return doc.source or doc.title or doc.doc_id


def _speaker_of(snapshot: Any, span: ReaderSpan) -> tuple[str, int, int]:
    """The sentence holding ``span`` and the span's offsets in it, as :func:`attribution.speakers` reads them."""
    text, a = span_sentence_text(snapshot, span)
    return text, span.start - a, span.end - a


def sentence_vector(snapshot: Any, span: ReaderSpan) -> np.ndarray | None:
    """The index's (unit) vector of the first sentence holding ``span``, if the index keeps one."""
    data = snapshot.data
    row = snapshot.retriever.chunk_row(span.key)
    if row is None or row >= len(data.chunk_sents) or not len(data.sentence_vectors):
        return None
    lo, hi = data.chunk_sents[row]
    for r in range(lo, hi):
        _, start, end = data.sentences[r]
        if start < span.end and end > span.start:
            return np.asarray(data.sentence_vectors[r], dtype=np.float32)
    return None


def _sentence_and_answer(snapshot: Any, cand: Candidate) -> tuple[str, str]:
    return span_sentence_text(snapshot, cand.spans[0])[0], cand.text


def different_speakers(snapshot: Any, a: Candidate, b: Candidate) -> bool:
    """Whether, in an article stating both, ``a`` and ``b`` are attributed to two named speakers."""
    for doc_id in sorted(a.docs & b.docs):
        sa = next(s for s in a.spans if s.doc_id == doc_id)
        sb = next(s for s in b.spans if s.doc_id == doc_id)
        who = attribution.speakers([_speaker_of(snapshot, sa), _speaker_of(snapshot, sb)])
        if not all(who) or who[0].lower() == who[1].lower():
            return False
    return True


def cited_spans(members: Sequence[Candidate]) -> list[ReaderSpan]:
    """A version's spans to cite: its best candidate's (:func:`supporting`), then the best span of each
    agreeing candidate from an article not yet cited, up to ``MAX_CITED_ARTICLES`` articles."""
    out = supporting(members[0])
    docs = {s.doc_id for s in out}
    for cand in members[1:]:
        span = cand.spans[0]
        if len(out) < MAX_CITED_ARTICLES and span.doc_id not in docs:
            out.append(span)
            docs.add(span.doc_id)
    return out


def make_versions(snapshot: Any, groups: Sequence[Sequence[Candidate]], first_marker: int = 1,
                  ) -> tuple[list[Version], list[Citation]]:
    """One :class:`Version` per group of agreeing candidates (best first), with its citations numbered
    from ``first_marker``; who says each is the speaker its first sentence names, else its outlets."""
    spans = [cited_spans(members) for members in groups]
    who = attribution.speakers([_speaker_of(snapshot, s[0]) for s in spans])
    out, cites = [], []
    for members, group_spans, speaker in zip(groups, spans, who, strict=True):
        these = _citations(snapshot, group_spans, first_marker + len(cites))
        docs = [snapshot.data.documents[c.doc_id] for c in these]
        sources = tuple(dict.fromkeys(source_label(d) for d in docs))
        # no speaker named: the outlets, when every cited article names one (else who says it is unknown)
        outlets = " and ".join(dict.fromkeys(d.source for d in docs)) if all(d.source for d in docs) else ""
        out.append(Version(value=members[0].text, attribution=speaker or outlets, sources=sources,
                           doc_ids=tuple(dict.fromkeys(c.doc_id for c in these)),
                           markers=tuple(c.marker for c in these)))
        cites += these
    return out, cites


def version_text(version: Version) -> str:
    """``109 according to the Pentagon [1]``: a version as the answer's text gives it."""
    who = f" according to {version.attribution}" if version.attribution else ""
    return f"{version.value}{who} {''.join(f'[{m}]' for m in version.markers)}"


def extractive_answer(snapshot: Any, question: str, hits: Sequence[Hit], k: int = 5) -> Answer:
    """The extractive answer over already-retrieved ``hits`` from one index ``snapshot`` (first ``k`` shown)."""
    shown = tuple(hits[:k])
    cands, threshold = read_hits(snapshot, question, hits) if hits else ([], 0.0)
    best = cands[0] if cands else None
    answers, shown_confidence, why = judge(snapshot, question, hits, cands, threshold) if best else \
        (False, 0.0, "reader: no answer span in the passages")
    if best is None or not answers:
        return Answer(question=question, text=abstention_text(shown), short_answer="", citations=(),
                      passages=shown, abstained=True, confidence=shown_confidence, notes=(why,))
    semantic = getattr(snapshot.retriever.embedder, "semantic", True)

    def related(a: Candidate, b: Candidate) -> bool:
        va, vb = sentence_vector(snapshot, a.spans[0]), sentence_vector(snapshot, b.spans[0])
        cosine = float(va @ vb) if semantic and va is not None and vb is not None else None
        return same_topic(_sentence_and_answer(snapshot, a), _sentence_and_answer(snapshot, b), cosine)

    groups = group_versions(cands, threshold, lambda a, b: different_speakers(snapshot, a, b), related)
    versions, cites = make_versions(snapshot, [[cands[i] for i in g] for g in groups])
    notes: list[str] = []
    if len(versions) > 1:
        text = "The sources disagree: " + "; ".join(version_text(v) for v in versions) + "."
        notes.append("conflicting versions: " + " vs ".join(
            f"{v.value} ({v.attribution or 'unattributed'}: {', '.join(v.doc_ids)})" for v in versions))
    else:
        text = f"{best.text} {_markers(cites)}"
    return Answer(question=question, text=text, short_answer=best.text, citations=tuple(cites), passages=shown,
                  abstained=False, confidence=shown_confidence, notes=tuple(notes), versions=tuple(versions))
