"""Tests for eval.metrics: official SQuAD / MultiHop-RAG figures, ranx and ir-measures cross-checks,
and small hand-made cases for the evidence, citation, abstention and bootstrap helpers."""

from __future__ import annotations

import ast
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.metrics import (
    abstention_scores,
    answer_recall,
    bootstrap_ci,
    citation_precision,
    citation_recall,
    citation_valid,
    evidence_hits,
    evidence_to_qrels_run,
    exact_match,
    f1,
    hit_at_k,
    mrr_at_k,
    multihop_retrieval_scores,
    ndcg_at_k,
    normalize_answer,
    percentile,
    rank_run,
    recall_at_k,
    run_metrics,
    squad_scores,
)

METRICS_PY = Path(__file__).resolve().parents[1] / "eval" / "metrics.py"
K_VALUES = (1, 3, 5, 10, 20)


@pytest.fixture(scope="module")
def benchmarks() -> Path:
    """The shared benchmarks folder (../shared/benchmarks or $RAG_BENCHMARKS); missing = failure."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"
    root = Path(os.environ.get("RAG_BENCHMARKS", default))
    if not (root / "squad").is_dir() or not (root / "multihop-rag-sample").is_dir():
        pytest.fail(
            f"benchmarks folder not found at {root} (needs squad/ and multihop-rag-sample/); "
            "set RAG_BENCHMARKS to its path",
            pytrace=False,
        )
    return root


def _load(path: Path) -> object:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in scores.items()}


# ---------------------------------------------------------------------------- SQuAD


def test_squad_v11_official_figures(benchmarks: Path) -> None:
    squad = benchmarks / "squad"
    scores = squad_scores(
        _load(squad / "dev-v1.1.reconstructed.json"),
        _load(squad / "reference_predictions_v1.1_BERT-ensemble-Google.json"),
    )
    assert _rounded(scores) == {
        "exact": 86.2062,
        "f1": 92.1956,
        "total": 10570,
        "HasAns_exact": 86.2062,
        "HasAns_f1": 92.1956,
        "HasAns_total": 10570,
    }


def test_squad_v20_official_figures(benchmarks: Path) -> None:
    squad = benchmarks / "squad"
    scores = squad_scores(
        _load(squad / "dev-v2.0.reconstructed.json"),
        _load(squad / "reference_predictions_v2.0_BERT-single-Google.json"),
    )
    assert _rounded(scores) == {
        "exact": 78.7417,
        "f1": 81.7753,
        "total": 11873,
        "HasAns_exact": 74.1059,
        "HasAns_f1": 80.1818,
        "HasAns_total": 5928,
        "NoAns_exact": 83.3642,
        "NoAns_f1": 83.3642,
        "NoAns_total": 5945,
    }


def test_normalize_answer() -> None:
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words
    assert normalize_answer("U.S.A.") == "usa"
    assert normalize_answer(" a the an ") == ""
    # articles become a space (non-ASCII dashes are not in string.punctuation)
    assert normalize_answer("rock\u2014the\u2014roll") == "rock\u2014 \u2014roll"


def test_exact_match_and_f1() -> None:
    assert exact_match("the Eiffel Tower", ["Eiffel tower."]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower", "Louvre"]) == 0.0
    assert exact_match("Louvre", ["Eiffel Tower", "Louvre"]) == 1.0
    assert f1("Eiffel", ["Eiffel Tower"]) == pytest.approx(2 / 3)
    assert f1("red red blue", ["red blue blue"]) == pytest.approx(2 / 3)  # multiset overlap
    assert f1("green", ["red blue"]) == 0.0
    # unanswerable: no golds, or golds that normalise to "" -> gold is [""]
    assert exact_match("", []) == 1.0 and f1("", []) == 1.0
    assert exact_match("", ["the", "."]) == 1.0
    assert exact_match("Paris", []) == 0.0 and f1("Paris", []) == 0.0
    assert f1("", ["Paris"]) == 0.0


def test_answer_recall() -> None:
    assert answer_recall("It was built in 1889 in Paris.", ["1889"]) == 1.0
    assert answer_recall("The tower of Paris", ["Tower of Paris!"]) == 1.0
    assert answer_recall("In 18890", ["1889"]) == 0.0  # token boundaries
    assert answer_recall("Paris", ["London", "paris"]) == 1.0
    assert answer_recall("", []) == 1.0
    assert answer_recall("The.", ["  "]) == 1.0
    assert answer_recall("Paris", []) == 0.0


def test_squad_scores_requires_every_prediction() -> None:
    data = {"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [
        {"id": "1", "question": "?", "answers": [{"text": "c", "answer_start": 0}]},
        {"id": "2", "question": "?", "answers": []},
    ]}]}]}
    with pytest.raises(ValueError, match="no prediction"):
        squad_scores(data, {"1": "c"})
    assert squad_scores(data, {"1": "c", "2": "x"}) == {
        "exact": 50.0, "f1": 50.0, "total": 2,
        "HasAns_exact": 100.0, "HasAns_f1": 100.0, "HasAns_total": 1,
        "NoAns_exact": 0.0, "NoAns_f1": 0.0, "NoAns_total": 1,
    }


def test_squad_has_ans_split_follows_answers_list() -> None:
    # a gold that normalises to "" still makes the question HasAns (official script), but the
    # gold list used for scoring becomes [""], so an empty prediction is exact
    data = {"data": [{"title": "t", "paragraphs": [{"context": "the", "qas": [
        {"id": "1", "question": "?", "answers": [{"text": "The", "answer_start": 0}]},
    ]}]}]}
    assert squad_scores(data, {"1": ""}) == {
        "exact": 100.0, "f1": 100.0, "total": 1,
        "HasAns_exact": 100.0, "HasAns_f1": 100.0, "HasAns_total": 1,
    }


# ---------------------------------------------------------------------------- MultiHop-RAG


def test_multihop_sample_official_figures(benchmarks: Path) -> None:
    samples = _load(benchmarks / "multihop-rag-sample" / "sample_retrieval_output_llm-embedder_8queries.json")
    assert _rounded(multihop_retrieval_scores(samples)) == {
        "hits@10": 0.75,
        "hits@4": 0.625,
        "map@10": 0.2746,
        "mrr@10": 0.5491,
    }


def _mh(texts: list[str], facts: list[str], qtype: str = "inference_query") -> dict:
    return {
        "question_type": qtype,
        "retrieval_list": [{"text": t, "score": 0.0} for t in texts],
        "gold_list": [{"fact": f} for f in facts],
    }


def test_multihop_hand_cases() -> None:
    # both facts in rank 1 -> AP = (2/1)/2 = 1
    s1 = _mh(["x Fact A.\nFact B. y", "z"], ["Fact A.", "FactB."])
    # fact A at rank 2, repeated at rank 3 (no new fact: adds 0), fact B at rank 5
    s2 = _mh(["n", "..Fact A..", "Fact A", "n", "FactB", "n"], ["Fact A", "Fact B"])
    # a hit only at rank 11 is not counted
    s3 = _mh(["n"] * 10 + ["Fact A"], ["Fact A"])
    null = _mh(["Fact A"], [], qtype="null_query")  # skipped
    scores = multihop_retrieval_scores([s1, s2, s3, null])
    assert scores["hits@10"] == pytest.approx(2 / 3)
    assert scores["hits@4"] == pytest.approx(2 / 3)
    assert scores["mrr@10"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert scores["map@10"] == pytest.approx((1 + (1 / 2 + 1 / 5) / 2 + 0) / 3)
    with pytest.raises(ValueError):
        multihop_retrieval_scores([null])


# ---------------------------------------------------------------------------- id-based retrieval vs ranx / ir-measures


def _random_qrels_run(seed: int, n_queries: int = 50) -> tuple[dict, dict]:
    """Graded qrels (some zero judgments) and tie-free runs of varied length (some shorter than k)."""
    rng = np.random.default_rng(seed)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(n_queries):
        pool = [f"d{i}" for i in rng.permutation(40)]
        n_judged = int(rng.integers(1, 12))
        rels = [int(r) for r in rng.integers(0, 4, size=n_judged)]
        if max(rels) == 0:
            rels[0] = 1
        qrels[f"q{q}"] = dict(zip(pool[:n_judged], rels))
        n_ret = int(rng.integers(1, 30))
        retrieved = [f"d{i}" for i in rng.permutation(40)[:n_ret]]
        scores = rng.permutation(n_ret) + rng.random()  # distinct scores: no ties
        run[f"q{q}"] = {d: float(s) for d, s in zip(retrieved, scores)}
    return qrels, run


def _per_query(qrels: dict, run: dict, k_values=K_VALUES) -> dict[str, dict[str, float]]:
    return {q: run_metrics({q: qrels[q]}, {q: run[q]}, k_values) for q in qrels}


@pytest.mark.parametrize("seed", [0, 1])
def test_run_metrics_agree_with_ranx(seed: int) -> None:
    import ranx
    qrels, run = _random_qrels_run(seed)
    names = {"hit": "hit_rate", "recall": "recall", "mrr": "mrr", "ndcg": "ndcg"}
    ranx_metrics = [f"{r}@{k}" for k in K_VALUES for r in names.values()]
    ranx_run = ranx.Run(run)
    means = ranx.evaluate(ranx.Qrels(qrels), ranx_run, ranx_metrics)
    mine = run_metrics(qrels, run, K_VALUES)
    per_query = _per_query(qrels, run)
    for k in K_VALUES:
        for ours, theirs in names.items():
            assert mine[f"{ours}@{k}"] == pytest.approx(means[f"{theirs}@{k}"], abs=1e-9)
            for q in qrels:
                assert per_query[q][f"{ours}@{k}"] == pytest.approx(
                    ranx_run.scores[f"{theirs}@{k}"][q], abs=1e-9
                ), (q, ours, k)
    # the data must exercise the metrics, not agree trivially at 0 or 1
    assert 0.0 < mine["ndcg@10"] < mine["hit@10"] < 1.0


def test_run_metrics_agree_with_ir_measures() -> None:
    import ir_measures
    from ir_measures import RR, R, Success, nDCG

    qrels, run = _random_qrels_run(2)
    pairs = {"hit": Success, "recall": R, "mrr": RR, "ndcg": nDCG}
    theirs = ir_measures.calc_aggregate([m @ k for k in K_VALUES for m in pairs.values()], qrels, run)
    mine = run_metrics(qrels, run, K_VALUES)
    for k in K_VALUES:
        for name, measure in pairs.items():
            assert mine[f"{name}@{k}"] == pytest.approx(theirs[measure @ k], abs=1e-9)


def test_ties_broken_like_trec_eval() -> None:
    import ir_measures
    from ir_measures import R, Success, nDCG

    qrels = {"q": {"a": 1, "m": 2, "z": 0}}
    run = {"q": {"a": 1.0, "z": 1.0, "m": 0.5, "b": 0.5}}
    assert rank_run(run["q"]) == ["z", "a", "m", "b"]
    measures = [m @ k for k in (1, 2, 3) for m in (Success, R, nDCG)]
    theirs = ir_measures.pytrec_eval.calc_aggregate(measures, qrels, run)
    mine = run_metrics(qrels, run, (1, 2, 3))
    for k in (1, 2, 3):
        assert mine[f"hit@{k}"] == pytest.approx(theirs[Success @ k])
        assert mine[f"recall@{k}"] == pytest.approx(theirs[R @ k])
        assert mine[f"ndcg@{k}"] == pytest.approx(theirs[nDCG @ k])


def test_run_metrics_hand_case() -> None:
    qrels = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"x": 1}, "q3": {"y": 1}}
    run = {"q1": {"c": 0.9, "b": 0.8, "a": 0.1}, "q2": {"x": 1.0}, "extra": {"x": 1.0}}
    m = run_metrics(qrels, run, (1, 2))
    # q3 has no run: scores 0; "extra" is not in qrels: ignored
    assert m["hit@1"] == pytest.approx(1 / 3)
    assert m["hit@2"] == pytest.approx(2 / 3)
    assert m["recall@2"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert m["mrr@2"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    idcg_q1 = 2 + 1 / math.log2(3)
    assert m["ndcg@2"] == pytest.approx(((1 / math.log2(3)) / idcg_q1 + 1 + 0) / 3)
    with pytest.raises(ValueError):
        run_metrics(qrels, run, (0,))
    with pytest.raises(ValueError):
        run_metrics({}, run, (1,))


# ---------------------------------------------------------------------------- evidence-level retrieval


def test_evidence_hits_folds_whitespace() -> None:
    texts = ["Intro.\n\nThe  quick brown\tfox jumped.", "nothing here", "brown fox jumped. And the lazy dog"]
    quotes = ["quick brown fox", "the lazy\ndog", "   ", "cat"]
    assert evidence_hits(texts, quotes) == [{0}, set(), {1}]


def test_evidence_metrics_hand_case() -> None:
    # 3 quotes; rank 2 has quote 0, rank 3 repeats it (overlapping chunk), rank 4 has quotes 1 and 2
    hits = [set(), {0}, {0}, {1, 2}, set()]
    assert hit_at_k(hits, 1) == 0.0 and hit_at_k(hits, 2) == 1.0
    assert mrr_at_k(hits, 1) == 0.0 and mrr_at_k(hits, 5) == 0.5
    assert recall_at_k(hits, 3, 3) == pytest.approx(1 / 3)
    assert recall_at_k(hits, 3, 4) == 1.0
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(hits, 3, 5) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / idcg3)
    assert ndcg_at_k(hits, 3, 1) == 0.0
    assert recall_at_k(hits, 0, 5) == 0.0 and ndcg_at_k(hits, 0, 5) == 0.0
    with pytest.raises(ValueError):
        hit_at_k(hits, 0)


def test_evidence_ndcg_never_exceeds_one_with_duplicate_chunks() -> None:
    hits = [{0}, {0}, {0}]  # the same chunk retrieved three times (MultiHop sample does this)
    assert ndcg_at_k(hits, 1, 3) == 1.0
    assert recall_at_k(hits, 1, 3) == 1.0


def test_evidence_metrics_reduce_to_run_metrics() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        n_quotes = int(rng.integers(1, 5))
        n_ranks = int(rng.integers(1, 12))
        one_quote_per_text = bool(rng.integers(0, 2))
        hits: list[set[int]] = []
        for _ in range(n_ranks):
            if rng.random() < 0.6:
                hits.append(set())
            elif one_quote_per_text:
                hits.append({int(rng.integers(0, n_quotes))})
            else:
                hits.append({int(j) for j in rng.integers(0, n_quotes, size=int(rng.integers(1, 3)))})
        qrels, run = evidence_to_qrels_run(hits, n_quotes)
        ids = run_metrics({"q": qrels}, {"q": run}, K_VALUES)
        for k in K_VALUES:
            assert hit_at_k(hits, k) == ids[f"hit@{k}"]
            assert mrr_at_k(hits, k) == pytest.approx(ids[f"mrr@{k}"])
            assert ndcg_at_k(hits, n_quotes, k) == pytest.approx(ids[f"ndcg@{k}"])
            if one_quote_per_text:
                assert recall_at_k(hits, n_quotes, k) == pytest.approx(ids[f"recall@{k}"])
            else:
                assert recall_at_k(hits, n_quotes, k) >= ids[f"recall@{k}"] - 1e-12


# ---------------------------------------------------------------------------- citations, abstention


def test_citation_valid() -> None:
    doc = "Alpha beta gamma."
    assert citation_valid(doc, "beta", 6, 10)
    assert not citation_valid(doc, "beta", 5, 9)
    assert not citation_valid(doc, "", 3, 3)
    assert not citation_valid(doc, "gamma.!", 11, 18)
    assert not citation_valid(doc, "beta", -11, -7)


def test_citation_precision_and_recall() -> None:
    quotes = ["beta  gamma", "delta"]
    cited = ["alpha beta\ngamma", "epsilon", "delta and beta gamma"]
    assert citation_precision(cited, quotes) == pytest.approx(2 / 3)
    assert citation_recall(cited, quotes) == 1.0
    assert citation_recall(cited[:2], quotes) == 0.5
    assert citation_precision([], quotes) == 0.0
    assert citation_recall([], quotes) == 0.0
    assert citation_precision([], []) == 1.0
    assert citation_precision(["x"], []) == 0.0
    assert citation_recall(["x"], []) == 1.0


def test_abstention_scores() -> None:
    abstained = [True, True, False, False, True, False]
    answerable = [False, True, True, False, False, True]
    assert abstention_scores(abstained, answerable) == pytest.approx(
        {"abstain_precision": 2 / 3, "abstain_recall": 2 / 3, "false_abstention_rate": 1 / 3}
    )
    assert abstention_scores([False], [True]) == {
        "abstain_precision": 0.0, "abstain_recall": 0.0, "false_abstention_rate": 0.0,
    }
    with pytest.raises(ValueError):
        abstention_scores([True], [True, False])


# ---------------------------------------------------------------------------- latency, bootstrap


def test_percentile_matches_numpy() -> None:
    values = [120.0, 80.0, 95.5, 300.0, 101.0]
    for q in (0, 25, 50, 90, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([1.0, 2.0], 50) == 1.5
    with pytest.raises(ValueError):
        percentile([], 50)


def test_bootstrap_ci() -> None:
    rng = np.random.default_rng(11)
    small = rng.normal(5.0, 2.0, size=30).tolist()
    large = rng.normal(5.0, 2.0, size=1000).tolist()
    low, high = bootstrap_ci(small, seed=1)
    assert (low, high) == bootstrap_ci(small, seed=1)
    assert (low, high) != bootstrap_ci(small, seed=2)
    assert low < float(np.mean(small)) < high
    low_l, high_l = bootstrap_ci(large, seed=1)
    assert low_l < float(np.mean(large)) < high_l
    assert high_l - low_l < (high - low) / 3
    assert bootstrap_ci([0.7] * 5) == pytest.approx((0.7, 0.7))
    narrow = bootstrap_ci(small, alpha=0.5, seed=1)
    assert low < narrow[0] < narrow[1] < high
    with pytest.raises(ValueError):
        bootstrap_ci([])


# ---------------------------------------------------------------------------- module hygiene


def test_metrics_module_imports_only_stdlib_and_numpy() -> None:
    tree = ast.parse(METRICS_PY.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert roots - set(sys.stdlib_module_names) - {"numpy"} == set()
