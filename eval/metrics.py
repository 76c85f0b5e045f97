"""Evaluation metrics for the news question-answering (RAG) system.

What it does: pure, deterministic functions over plain values (strings, lists, dicts):

* answers: the official SQuAD EM/F1 (``evaluate-v2.0.py`` semantics) and a containment
  "answer recall";
* retrieval by id: hit@k, recall@k, MRR@k and nDCG@k over ``qrels``/``run`` dicts, with the
  trec_eval / ranx conventions (checked against ranx and ir-measures in the tests);
* retrieval by evidence: the same four metrics when relevance means "the retrieved text
  contains a gold quote", reducible to the id-based ones (:func:`evidence_to_qrels_run`);
* the official MultiHop-RAG retrieval metric (Hits@10, Hits@4, its non-standard MAP@10, MRR@10);
* citation validity/precision/recall, abstention precision/recall, latency percentiles and a
  seeded percentile-bootstrap confidence interval for a mean.

What it does not do: no I/O, no model calls, no printing, no imports from ``rag``; it does not
run retrieval or generation, implement SQuAD's ``--na-prob-file`` thresholding, or judge
answers semantically. Bad input raises ``ValueError`` naming the bad value.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "normalize_answer",
    "exact_match",
    "f1",
    "answer_recall",
    "squad_scores",
    "fold_whitespace",
    "evidence_hits",
    "hit_at_k",
    "recall_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "evidence_to_qrels_run",
    "rank_run",
    "query_metrics",
    "run_metrics",
    "multihop_retrieval_scores",
    "citation_valid",
    "citation_precision",
    "citation_recall",
    "abstention_scores",
    "match_versions",
    "same_speaker",
    "percentile",
    "bootstrap_ci",
]

# ---------------------------------------------------------------------------- SQuAD answers

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lowercase, drop ASCII punctuation, replace articles by spaces, collapse whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _gold_list(golds: Sequence[str]) -> list[str]:
    """Golds that normalise to non-empty text; ``[""]`` if none remain (unanswerable)."""
    kept = [g for g in golds if normalize_answer(g)]
    return kept or [""]


def _f1_single(pred: str, gold: str) -> float:
    pred_toks = normalize_answer(pred).split()
    gold_toks = normalize_answer(gold).split()
    if not pred_toks or not gold_toks:
        return float(pred_toks == gold_toks)
    common = sum((Counter(pred_toks) & Counter(gold_toks)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_toks)
    recall = common / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def exact_match(pred: str, golds: Sequence[str]) -> float:
    """Official SQuAD EM: 1.0 if ``pred`` normalises equal to some gold answer, else 0.0."""
    norm_pred = normalize_answer(pred)
    return max(float(norm_pred == normalize_answer(g)) for g in _gold_list(golds))


def f1(pred: str, golds: Sequence[str]) -> float:
    """Official SQuAD token F1 (bag-of-tokens), maximised over the gold answers."""
    return max(_f1_single(pred, g) for g in _gold_list(golds))


def answer_recall(pred: str, golds: Sequence[str]) -> float:
    """1.0 if some normalised gold occurs in the normalised prediction on token boundaries.

    For an unanswerable question (no gold normalises to non-empty text) it is 1.0 iff the
    prediction normalises to "" (the system abstained).
    """
    norm_pred = normalize_answer(pred)
    kept = [normalize_answer(g) for g in golds if normalize_answer(g)]
    if not kept:
        return float(norm_pred == "")
    padded = f" {norm_pred} "
    return float(any(f" {g} " in padded for g in kept))


def squad_scores(dataset_json: Mapping[str, Any], predictions: Mapping[str, str]) -> dict[str, float]:
    """Official SQuAD v1.1/v2.0 dev scores, values x100, keys as ``evaluate-v2.0.py``.

    ``dataset_json`` is the parsed dataset file (``{"data": [...]}``), ``predictions`` maps
    question id to answer text ("" = no answer). Every question needs a prediction. The
    HasAns_* / NoAns_* keys appear only when such questions exist; a question is "NoAns" when
    its ``answers`` list is empty, as in the official script.
    """
    exact_scores: dict[str, float] = {}
    f1_scores: dict[str, float] = {}
    has_ans: dict[str, bool] = {}
    missing: list[str] = []
    for article in dataset_json["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qid = qa["id"]
                if qid not in predictions:
                    missing.append(qid)
                    continue
                golds = [a["text"] for a in qa["answers"]]
                has_ans[qid] = bool(qa["answers"])
                exact_scores[qid] = exact_match(predictions[qid], golds)
                f1_scores[qid] = f1(predictions[qid], golds)
    if missing:
        raise ValueError(f"{len(missing)} question ids have no prediction, e.g. {missing[:3]}")
    if not exact_scores:
        raise ValueError("dataset has no questions")

    def block(qids: list[str], prefix: str) -> dict[str, float]:
        n = len(qids)
        return {
            f"{prefix}exact": 100.0 * sum(exact_scores[q] for q in qids) / n,
            f"{prefix}f1": 100.0 * sum(f1_scores[q] for q in qids) / n,
            f"{prefix}total": n,
        }

    scores = block(list(exact_scores), "")
    has = [q for q, h in has_ans.items() if h]
    no = [q for q, h in has_ans.items() if not h]
    if has:
        scores.update(block(has, "HasAns_"))
    if no:
        scores.update(block(no, "NoAns_"))
    return scores


# ---------------------------------------------------------------------------- retrieval by evidence


def fold_whitespace(s: str) -> str:
    """Collapse every whitespace run to one space and strip the ends."""
    return " ".join(s.split())


def evidence_hits(retrieved_texts: Sequence[str], quotes: Sequence[str]) -> list[set[int]]:
    """For each rank, the indices of the quotes its text contains (whitespace folded).

    Quotes that fold to "" are never matched (an empty string is in every text).
    """
    folded = [(i, fold_whitespace(q)) for i, q in enumerate(quotes)]
    folded = [(i, q) for i, q in folded if q]
    out: list[set[int]] = []
    for text in retrieved_texts:
        t = fold_whitespace(text)
        out.append({i for i, q in folded if q in t})
    return out


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")


def _novel(hits: Sequence[set[int]], k: int) -> list[set[int]]:
    """Per rank up to k: the quote indices not already contained at an earlier rank."""
    seen: set[int] = set()
    out: list[set[int]] = []
    for h in hits[:k]:
        out.append(set(h) - seen)
        seen |= h
    return out


def hit_at_k(hits: Sequence[set[int]], k: int) -> float:
    """1.0 if any of the top k retrieved texts contains a gold quote, else 0.0."""
    _check_k(k)
    return float(any(h for h in hits[:k]))


def recall_at_k(hits: Sequence[set[int]], n_quotes: int, k: int) -> float:
    """Share of the ``n_quotes`` gold quotes contained in at least one of the top k texts.

    0.0 when ``n_quotes`` is 0 (as ranx does for a query without relevant documents).
    """
    _check_k(k)
    if n_quotes < 0:
        raise ValueError(f"n_quotes must be >= 0, got {n_quotes}")
    if n_quotes == 0:
        return 0.0
    found: set[int] = set().union(*hits[:k]) if hits[:k] else set()
    return len(found) / n_quotes


def mrr_at_k(hits: Sequence[set[int]], k: int) -> float:
    """Reciprocal rank of the first of the top k texts that contains a gold quote, else 0.0."""
    _check_k(k)
    for rank, h in enumerate(hits[:k], start=1):
        if h:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(hits: Sequence[set[int]], n_quotes: int, k: int) -> float:
    """Binary nDCG@k where each gold quote counts as one relevant document.

    A retrieved text has gain 1 iff it contains a quote that no earlier text contained (a
    duplicate or overlapping chunk repeating evidence already shown earns nothing, so the
    score never exceeds 1). DCG = sum gain_i / log2(i + 1) over ranks i = 1..k; the ideal
    DCG has min(n_quotes, k) gains of 1 at the top. 0.0 when ``n_quotes`` is 0.
    """
    _check_k(k)
    if n_quotes < 0:
        raise ValueError(f"n_quotes must be >= 0, got {n_quotes}")
    if n_quotes == 0:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 1) for i, new in enumerate(_novel(hits, k), start=1) if new)
    idcg = sum(1.0 / math.log2(i + 1) for i in range(1, min(n_quotes, k) + 1))
    return dcg / idcg


def evidence_to_qrels_run(
    hits: Sequence[set[int]], n_quotes: int
) -> tuple[dict[str, int], dict[str, float]]:
    """One query's evidence hits as id-based ``(qrels, run)`` for :func:`run_metrics`.

    Quote j becomes relevant document ``"q{j}"``; the text at rank i is identified with its
    lowest-index novel quote, or with a fresh non-relevant id ``"r{i}"``. Under this reduction
    hit@k, MRR@k and nDCG@k equal the evidence-level functions exactly; recall@k also does
    unless one text newly covers several quotes at once (the evidence-level recall credits them
    all, an id-based run can credit only one document per rank).
    """
    qrels = {f"q{j}": 1 for j in range(n_quotes)}
    run: dict[str, float] = {}
    for i, new in enumerate(_novel(hits, len(hits)), start=1):
        doc = f"q{min(new)}" if new else f"r{i}"
        run[doc] = float(len(hits) - i + 1)
    return qrels, run


# ---------------------------------------------------------------------------- retrieval by id


def rank_run(scores: Mapping[str, float]) -> list[str]:
    """Document ids by descending score; ties broken by descending id, as trec_eval does."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def query_metrics(
    qrels: Mapping[str, int], scores: Mapping[str, float], k_values: Sequence[int]
) -> dict[str, float]:
    """hit@k, recall@k, mrr@k and ndcg@k of one query (trec_eval / ranx conventions).

    Relevant means relevance >= 1. nDCG uses the graded relevance as gain (Järvelin &
    Kekäläinen, trec_eval ``ndcg_cut``, ranx ``ndcg``): DCG@k = sum rel_i / log2(i + 1), and the
    ideal DCG@k sorts all judged relevances descending and cuts at k. A query with no relevant
    document scores 0.0 on every metric.
    """
    ranking = rank_run(scores)
    rels = [qrels.get(d, 0) for d in ranking]
    n_rel = sum(1 for r in qrels.values() if r >= 1)
    ideal = sorted((r for r in qrels.values() if r >= 1), reverse=True)
    out: dict[str, float] = {}
    for k in k_values:
        _check_k(k)
        top = [r if r >= 1 else 0 for r in rels[:k]]
        first = next((i for i, r in enumerate(top, start=1) if r), None)
        if n_rel == 0:
            out.update({f"hit@{k}": 0.0, f"recall@{k}": 0.0, f"mrr@{k}": 0.0, f"ndcg@{k}": 0.0})
            continue
        dcg = sum(r / math.log2(i + 1) for i, r in enumerate(top, start=1))
        idcg = sum(r / math.log2(i + 1) for i, r in enumerate(ideal[:k], start=1))
        out[f"hit@{k}"] = float(first is not None)
        out[f"recall@{k}"] = sum(1 for r in top if r) / n_rel
        out[f"mrr@{k}"] = 1.0 / first if first is not None else 0.0
        out[f"ndcg@{k}"] = dcg / idcg
    return out


def run_metrics(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    k_values: Sequence[int] = (1, 3, 5, 10),
) -> dict[str, float]:
    """Mean hit@k, recall@k, mrr@k and ndcg@k over the queries of ``qrels``.

    ``qrels`` maps query id -> {doc id: relevance}; ``run`` maps query id -> {doc id: score}.
    A query missing from ``run`` scores 0 (like ``trec_eval -c``); run queries absent from
    ``qrels`` are ignored. See :func:`query_metrics` for the per-query definitions.
    """
    if not qrels:
        raise ValueError("qrels is empty: nothing to evaluate")
    if not k_values:
        raise ValueError("k_values is empty")
    totals: dict[str, float] = {}
    for qid, judged in qrels.items():
        for name, value in query_metrics(judged, run.get(qid, {}), k_values).items():
            totals[name] = totals.get(name, 0.0) + value
    return {name: total / len(qrels) for name, total in totals.items()}


# ---------------------------------------------------------------------------- MultiHop-RAG


def _squash(s: str) -> str:
    return s.replace(" ", "").replace("\n", "")


def multihop_retrieval_scores(samples: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Official MultiHop-RAG retrieval scores (``retrieval_evaluate.py``).

    Each sample has ``question_type``, ``retrieval_list`` ([{"text": ...}], ranked) and
    ``gold_list`` ([{"fact": ...}]); ``null_query`` samples are skipped. Spaces and "\\n" are
    deleted from facts and texts; a text at rank r <= 10 is a hit if it contains any fact.
    MAP@10 is the paper's non-standard one: AP = sum over hit ranks of (facts newly found at
    r) / r, divided by min(#facts, 10).
    """
    hits10 = hits4 = 0
    ap_sum = rr_sum = 0.0
    n = 0
    for sample in samples:
        if sample["question_type"] == "null_query":
            continue
        gold = [_squash(g["fact"]) for g in sample["gold_list"]]
        if not gold:
            raise ValueError(f"non-null query without gold facts: {sample.get('query')!r}")
        retrieved = [_squash(r["text"]) for r in sample["retrieval_list"]][:10]
        found: set[str] = set()
        ap = 0.0
        first: int | None = None
        for rank, text in enumerate(retrieved, start=1):
            if not any(g in text for g in gold):
                continue
            first = first or rank
            new = {g for g in gold if g in text and g not in found}
            found |= new
            ap += len(new) / rank
        n += 1
        hits10 += first is not None
        hits4 += first is not None and first <= 4
        ap_sum += ap / min(len(gold), 10)
        rr_sum += 1.0 / first if first else 0.0
    if n == 0:
        raise ValueError("no non-null queries to evaluate")
    return {"hits@10": hits10 / n, "hits@4": hits4 / n, "map@10": ap_sum / n, "mrr@10": rr_sum / n}


# ---------------------------------------------------------------------------- citations


def citation_valid(doc_text: str, quote: str, start: int, end: int) -> bool:
    """True iff ``0 <= start < end <= len(doc_text)`` and ``doc_text[start:end] == quote``."""
    return 0 <= start < end <= len(doc_text) and doc_text[start:end] == quote


def _folded_quotes(quotes: Sequence[str]) -> list[str]:
    return [q for q in (fold_whitespace(q) for q in quotes) if q]


def citation_precision(cited_texts: Sequence[str], quotes: Sequence[str]) -> float:
    """Share of cited passages containing at least one gold quote (whitespace folded).

    With no citations: 1.0 if there are no gold quotes either (nothing was needed), else 0.0.
    """
    gold = _folded_quotes(quotes)
    if not cited_texts:
        return 0.0 if gold else 1.0
    cited = [fold_whitespace(t) for t in cited_texts]
    return sum(1 for t in cited if any(q in t for q in gold)) / len(cited)


def citation_recall(cited_texts: Sequence[str], quotes: Sequence[str]) -> float:
    """Share of gold quotes contained in some cited passage (whitespace folded); 1.0 if none."""
    gold = _folded_quotes(quotes)
    if not gold:
        return 1.0
    cited = [fold_whitespace(t) for t in cited_texts]
    return sum(1 for q in gold if any(q in t for t in cited)) / len(gold)


# ---------------------------------------------------------------------------- abstention


def _says(value: str, answers: Sequence[str]) -> bool:
    v = normalize_answer(value)
    return bool(v) and any((a := normalize_answer(g)) and (a in v or v in a) for g in answers)


def match_versions(predicted: Sequence[tuple[str, Sequence[str]]],
                   gold: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[int] | None:
    """Each gold version matched to its own predicted version, or ``None`` when that is impossible.

    ``predicted`` holds (value, cited doc ids) per version the answer gives; ``gold`` holds (acceptable
    answers, doc ids stating it) per side of the disagreement. A predicted version matches a gold one
    when its value contains, or lies inside, one of the gold answers (SQuAD-normalised) and one of its
    citations is in a document stating that side. Returns, per gold version, the index of its
    predicted version (distinct for distinct gold versions).
    """
    fits = [[i for i, (value, docs) in enumerate(predicted) if _says(value, answers) and set(docs) & set(gold_docs)]
            for answers, gold_docs in gold]

    def assign(g: int, used: frozenset[int]) -> list[int] | None:
        if g == len(fits):
            return []
        for i in fits[g]:
            if i not in used and (rest := assign(g + 1, used | {i})) is not None:
                return [i, *rest]
        return None

    return assign(0, frozenset())


def same_speaker(predicted: str, gold: str) -> bool:
    """A predicted attribution names the gold speaker (SQuAD-normalised containment either way)."""
    p, g = normalize_answer(predicted), normalize_answer(gold)
    return bool(p) and bool(g) and (p in g or g in p)


def abstention_scores(abstained: Sequence[bool], answerable: Sequence[bool]) -> dict[str, float]:
    """Abstention quality, treating "abstain on an unanswerable question" as the positive class.

    abstain_precision = share of abstentions that were on unanswerable questions;
    abstain_recall = share of unanswerable questions abstained on;
    false_abstention_rate = share of answerable questions abstained on.
    A ratio with an empty denominator is 0.0.
    """
    if len(abstained) != len(answerable):
        raise ValueError(f"length mismatch: {len(abstained)} abstained vs {len(answerable)} answerable")
    pairs = list(zip(abstained, answerable))
    n_abst = sum(1 for a, _ in pairs if a)
    n_unans = sum(1 for _, ans in pairs if not ans)
    n_ans = len(pairs) - n_unans
    correct = sum(1 for a, ans in pairs if a and not ans)
    wrong = sum(1 for a, ans in pairs if a and ans)
    return {
        "abstain_precision": correct / n_abst if n_abst else 0.0,
        "abstain_recall": correct / n_unans if n_unans else 0.0,
        "false_abstention_rate": wrong / n_ans if n_ans else 0.0,
    }


# ---------------------------------------------------------------------------- latency, uncertainty


def percentile(values: Sequence[float], q: float) -> float:
    """q-th percentile (0-100) with linear interpolation, as ``numpy.percentile``."""
    if len(values) == 0:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def bootstrap_ci(
    values: Sequence[float], n_resamples: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap (1 - alpha) confidence interval of the mean; same seed, same result."""
    if len(values) == 0:
        raise ValueError("bootstrap_ci of an empty sequence")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(n_resamples, data.size))
    means = data[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
