"""The evaluation harness: ask every gold question, score retrieval, answers, citations, abstention.

What it does: for each :class:`~eval.gold.GoldItem` it runs ``kb.search`` (top 10, for the
@10 retrieval metrics) and ``kb.ask`` once, records one row per question, and aggregates
the rows with the pure functions of :mod:`eval.metrics`:

* retrieval (answerable questions only): a retrieved chunk is relevant when its text
  contains a gold evidence quote (whitespace folded): hit@1, hit@5, recall@5, mrr@10, ndcg@10;
* answers (answerable questions only): SQuAD EM/F1 of the short answer and the containment
  answer recall of the answer text; an abstention is the empty prediction;
* citations: ``citation_valid`` over every citation (the document text at ``[start:end]``
  equals the quote); citation precision/recall over answered answerable questions;
* disagreements: conflict recall and attribution on conflict questions with gold versions, the
  false-conflict rate on the other answerable questions (:func:`version_scores`);
* abstention over all questions; ask and search latency percentiles;
* the same per question type, and seeded bootstrap 95% intervals for the headline metrics.

Same index, gold and options give the same numbers, except the latencies.
:func:`run_eval` adds opening or building the index (:mod:`eval.corpus`) and provenance.
What it does not do: no printing and no files written (see :mod:`eval.__main__`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from eval import metrics as M
from eval.corpus import prepared_kb
from eval.gold import TYPES, GoldItem, load_gold, raw_texts
from eval.provenance import corpus_sha256, file_sha256, versions
from rag import KnowledgeBase

RETRIEVAL_K = 10
RETRIEVAL_METRICS = ("hit@1", "hit@5", "recall@5", "mrr@10", "ndcg@10")
ANSWER_METRICS = ("em", "f1", "answer_recall", "conflict_recall", "conflict_attribution", "false_conflict_rate")
METRIC_NAMES = (*RETRIEVAL_METRICS, *ANSWER_METRICS, "citation_valid", "citation_precision", "citation_recall",
                "abstain_precision", "abstain_recall", "false_abstention_rate", "latency_p50_ms", "latency_p95_ms",
                "search_latency_p50_ms", "search_latency_p95_ms")
CI_METRICS = ("hit@5", "mrr@10", "answer_recall", "f1", "em")
LATENCY_FIELDS = ("latency_ms", "search_latency_ms")


def retrieval_scores(texts: Sequence[str], quotes: Sequence[str]) -> dict[str, float]:
    """The five retrieval metrics of one ranked list of passage texts against gold quotes."""
    hits = M.evidence_hits(texts, quotes)
    n = len([q for q in quotes if M.fold_whitespace(q)])
    return {"hit@1": M.hit_at_k(hits, 1), "hit@5": M.hit_at_k(hits, 5), "recall@5": M.recall_at_k(hits, n, 5),
            "mrr@10": M.mrr_at_k(hits, 10), "ndcg@10": M.ndcg_at_k(hits, n, 10)}


def _citation_row(kb: KnowledgeBase, c: Any) -> dict[str, Any]:
    try:
        valid = M.citation_valid(kb.document(c.doc_id).text, c.quote, c.start, c.end)
    except KeyError:
        valid = False
    return {"marker": c.marker, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "start": c.start, "end": c.end,
            "quote": c.quote, "valid": valid}


def version_scores(answer: Any, item: GoldItem) -> dict[str, float]:
    """Disagreement metrics of one answerable question: for a conflict question with gold versions,
    ``conflict_recall`` (1 when every side is given, each by its own version citing a document that
    states it) and ``conflict_attribution`` (of the sides whose speaker the gold names, the share whose
    matched version names it too); for any other answerable question, ``false_conflict_rate`` (1 when
    the answer reports versions although the sources agree)."""
    if item.type != "conflict":
        return {"false_conflict_rate": float(not answer.abstained and len(answer.versions) > 1)}
    if not item.versions:
        return {}
    predicted = [] if answer.abstained else [(v.value, v.doc_ids) for v in answer.versions]
    matched = M.match_versions(predicted, [(g.answers, g.doc_ids) for g in item.versions])
    out = {"conflict_recall": float(matched is not None)}
    named = [(g, i) for g, i in zip(item.versions, matched or [], strict=False) if g.by]
    if matched is not None and named:
        out["conflict_attribution"] = sum(M.same_speaker(answer.versions[i].attribution, g.by)
                                          for g, i in named) / len(named)
    return out


def evaluate_question(kb: KnowledgeBase, item: GoldItem, *, k: int = 5, mode: str | None = None,
                      answer_mode: str = "extractive", llm: Any = None) -> dict[str, Any]:
    """One row: what was retrieved and answered for ``item``, and its per-question metrics."""
    t0 = time.perf_counter()
    hits = kb.search(item.question, k=RETRIEVAL_K, mode=mode)
    search_ms = (time.perf_counter() - t0) * 1000.0
    t0 = time.perf_counter()
    answer = kb.ask(item.question, k=k, mode=answer_mode, llm=llm, search_mode=mode)
    ask_ms = (time.perf_counter() - t0) * 1000.0

    citations = [_citation_row(kb, c) for c in answer.citations]
    # Confidence is rounded so that rows are identical across processes (last-bit float noise).
    prediction = "" if answer.abstained else answer.short_answer
    per_q: dict[str, float] = {}
    if citations:
        per_q["citation_valid"] = sum(c["valid"] for c in citations) / len(citations)
    if item.answerable:
        if item.quotes:  # no quotes left when the gold's were found only in the raw article (a warning)
            per_q.update(retrieval_scores([h.text for h in hits], item.quotes))
        per_q["em"] = M.exact_match(prediction, item.answers)
        per_q["f1"] = M.f1(prediction, item.answers)
        per_q["answer_recall"] = M.answer_recall("" if answer.abstained else answer.text, item.answers)
        per_q.update(version_scores(answer, item))
        if not answer.abstained and item.quotes:
            cited = [c["quote"] for c in citations]
            per_q["citation_precision"] = M.citation_precision(cited, item.quotes)
            per_q["citation_recall"] = M.citation_recall(cited, item.quotes)
    return {
        "id": item.id, "type": item.type, "answerable": item.answerable, "question": item.question,
        "retrieved_chunk_ids": [h.chunk_id for h in hits], "retrieved_doc_ids": [h.doc_id for h in hits],
        "hit@1": bool(per_q.get("hit@1")) if item.answerable else None,
        "hit@5": bool(per_q.get("hit@5")) if item.answerable else None,
        "short_answer": answer.short_answer, "answer": answer.text, "abstained": answer.abstained,
        "confidence": round(float(answer.confidence), 9), "citations": citations, "notes": list(answer.notes),
        "versions": [v.to_dict() for v in answer.versions],
        "metrics": per_q, "latency_ms": ask_ms, "search_latency_ms": search_ms,
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Every metric of :data:`METRIC_NAMES` over ``rows``; ``None`` where its population is empty."""
    answerable = [r for r in rows if r["answerable"]]
    answered = [r for r in answerable if not r["abstained"]]
    out: dict[str, float | None] = {}
    for name in RETRIEVAL_METRICS + ANSWER_METRICS:
        out[name] = _mean([r["metrics"][name] for r in answerable if name in r["metrics"]])
    out["citation_valid"] = _mean([float(c["valid"]) for r in rows for c in r["citations"]])
    out["citation_precision"] = _mean([r["metrics"]["citation_precision"] for r in answered
                                       if "citation_precision" in r["metrics"]])
    out["citation_recall"] = _mean([r["metrics"]["citation_recall"] for r in answered if "citation_recall" in r["metrics"]])
    abst = M.abstention_scores([r["abstained"] for r in rows], [r["answerable"] for r in rows]) if rows else {}
    n_unanswerable = len(rows) - len(answerable)
    out["abstain_precision"] = abst["abstain_precision"] if any(r["abstained"] for r in rows) else None
    out["abstain_recall"] = abst["abstain_recall"] if n_unanswerable else None
    out["false_abstention_rate"] = abst["false_abstention_rate"] if answerable else None
    for prefix, field in (("latency", "latency_ms"), ("search_latency", "search_latency_ms")):
        values = [r[field] for r in rows]
        out[f"{prefix}_p50_ms"] = M.percentile(values, 50) if values else None
        out[f"{prefix}_p95_ms"] = M.percentile(values, 95) if values else None
    return out


def repair_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many answers each LLM-mode repair (``repair:<kind>`` notes of :mod:`rag.generate`) fired on."""
    counts: dict[str, int] = {}
    for r in rows:
        for kind in dict.fromkeys(n.split(":", 1)[1] for n in r["notes"] if n.startswith("repair:")):
            counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def by_type(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per question type (gold-format order), the metrics that are defined for it."""
    types = [t for t in TYPES if any(r["type"] == t for r in rows)]
    return {t: {name: v for name, v in aggregate([r for r in rows if r["type"] == t]).items() if v is not None}
            for t in types}


def confidence_intervals(rows: Sequence[dict[str, Any]], seed: int = 0) -> dict[str, list[float]]:
    """Seeded bootstrap 95% intervals of the headline metrics (answerable questions)."""
    answerable = [r for r in rows if r["answerable"]]
    if not answerable:
        return {}
    return {name: list(M.bootstrap_ci([r["metrics"][name] for r in answerable if name in r["metrics"]], seed=seed))
            for name in CI_METRICS}


def evaluate(kb: KnowledgeBase, items: Sequence[GoldItem], *, k: int = 5, mode: str | None = None,
             answer_mode: str = "extractive", llm: Any = None, progress: bool = False,
             desc: str = "eval") -> dict[str, Any]:
    """Run every gold question through ``kb``; return ``metrics``, ``by_type``, ``ci``, ``config``, ``rows``.

    Example::

        items = load_gold("eval/gold/demo.jsonl", {d.doc_id: d.text for d in kb.documents()})
        result = evaluate(kb, items, k=5)
        print(result["metrics"]["hit@5"])
    """
    if not items:
        raise ValueError("no gold questions to evaluate")
    # Load the models now, so the first timed question does not pay for it.
    kb.ask(items[0].question, k=k, mode=answer_mode, llm=llm, search_mode=mode)
    rows = [evaluate_question(kb, item, k=k, mode=mode, answer_mode=answer_mode, llm=llm)
            for item in tqdm(items, desc=desc, unit="q", disable=not progress, dynamic_ncols=True)]
    config = {**kb.config.to_dict(), "k": k, "retrieval_k": RETRIEVAL_K, "search_mode": mode or kb.config.mode,
              "answer_mode": answer_mode}
    return {"metrics": aggregate(rows), "by_type": by_type(rows), "ci": confidence_intervals(rows),
            "repairs": repair_counts(rows),
            "config": config, "n_questions": len(rows), "n_answerable": sum(r["answerable"] for r in rows),
            "rows": rows}


def run_eval(gold: str | Path, corpus: str | Path, *, index: str | Path | None = None, k: int = 5,
             mode: str | None = None, answer_mode: str = "extractive", overrides: dict[str, Any] | None = None,
             llm: Any = None, progress: bool = False) -> dict[str, Any]:
    """Everything ``python -m eval run`` does but printing: open or build the index, evaluate, add provenance.

    The gold file's format is checked before the index is built, its evidence against the
    indexed documents after (both raise :class:`~eval.gold.GoldError`).
    """
    load_gold(gold)
    notes: list[str] = []
    with prepared_kb(corpus, index, overrides or {}, progress=progress, notes=notes) as kb:
        docs = kb.documents()
        items = load_gold(gold, {d.doc_id: d.text for d in docs}, raw=raw_texts(docs), warnings=notes)
        result = evaluate(kb, items, k=k, mode=mode, answer_mode=answer_mode, llm=llm, progress=progress)
    rows = result.pop("rows")
    return {**result, "gold": str(gold), "corpus": str(corpus), "corpus_sha256": corpus_sha256(corpus),
            "gold_sha256": file_sha256(gold), "versions": versions(), "warnings": notes, "rows": rows}
