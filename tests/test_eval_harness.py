"""Fast tests of the evaluation harness (eval/): a tiny hand-made corpus and gold set, the hash embedder.

Covered: the result JSON's shape (exact metric names, by_type, ci, provenance, rows), gold
validation errors naming line and field, determinism, ``rag eval run`` through rag.cli.main,
``compare`` writing its Markdown, JSON and PNG files, the SQuAD loader and scoring path,
citation checking and abstention calibration on hand-made values, and the import boundary.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from eval.__main__ import main as eval_main
from eval.calibrate import best_threshold, curve_of_result, forced_abstentions, tradeoff_curve
from eval.compare import CONFIGURATIONS, TABLE_COLUMNS
from eval.gold import GoldError, load_gold
from eval.harness import METRIC_NAMES, aggregate, by_type, evaluate, evaluate_question, repair_counts, run_eval
from eval.squad import (
    SPLITS,
    evaluate_squad,
    split_questions,
    split_titles,
    matching_questions,
    restrict,
    run_squad,
    sample_questions,
    squad_documents,
    squad_questions,
)
from rag import Answer, Citation, Config, Hit, KnowledgeBase
from rag.cli import main as rag_main

ROOT = Path(__file__).resolve().parents[1]
HASH = {"embedder": "hash"}
EXPECTED_METRICS = [
    "hit@1", "hit@5", "recall@5", "mrr@10", "ndcg@10", "em", "f1", "answer_recall", "conflict_recall",
    "conflict_attribution", "false_conflict_rate", "citation_valid",
    "citation_precision", "citation_recall", "abstain_precision", "abstain_recall", "false_abstention_rate",
    "latency_p50_ms", "latency_p95_ms", "search_latency_p50_ms", "search_latency_p95_ms",
]
LATENCY = {"latency_p50_ms", "latency_p95_ms", "search_latency_p50_ms", "search_latency_p95_ms"}

ARTICLES = {
    "alpha": "Harbor Bridge Reopens\n\nThe Harbor Bridge in Eastport reopened on Monday after eighteen months "
             "of repairs. The city council approved a budget of 42 million dollars for the work. Mayor Linda "
             "Park cut the ribbon at the opening ceremony.",
    "beta": "Drought Hits Valley Farms\n\nFarmers in the Green Valley reported that wheat yields fell by 30 "
            "percent this year. The regional water authority blamed the lack of rain since March. Officials "
            "said irrigation canals had dried up in several districts.",
    "gamma": "New Library Opens in Westfield\n\nWestfield opened a new public library with 120,000 books on "
             "Saturday. The building was designed by architect Omar Haddad. Children crowded the reading rooms "
             "on the first day.",
}


def _q(qid: str, question: str, answers: list[str], evidence: list[tuple[str, str]], qtype: str) -> dict:
    return {"id": qid, "question": question, "answers": answers,
            "evidence": [{"doc_id": d, "quote": q} for d, q in evidence], "answerable": bool(answers),
            "type": qtype}


GOLD = [
    _q("t-1", "Who cut the ribbon at the Harbor Bridge opening ceremony?", ["Linda Park", "Mayor Linda Park"],
       [("alpha", "Mayor Linda Park cut the ribbon at the opening ceremony.")], "factoid"),
    _q("t-2", "By how much did wheat yields fall in the Green Valley?", ["30 percent"],
       [("beta", "wheat yields fell by 30 percent this year")], "numeric"),
    _q("t-3", "Who designed the new Westfield library?", ["Omar Haddad"],
       [("gamma", "The building was designed by architect Omar Haddad.")], "factoid"),
    _q("t-4", "How many books does the new Westfield library hold?", ["120,000", "120,000 books"],
       [("gamma", "opened a new public library with 120,000 books on Saturday")], "numeric"),
    _q("t-5", "When did the Harbor Bridge in Eastport reopen?", ["Monday", "on Monday"],
       [("alpha", "reopened on Monday after eighteen months of repairs")], "date"),
    _q("t-6", "What is the population of the town of Eastport?", [], [], "unanswerable"),
]


def _write_gold(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def gold(tmp_path: Path) -> Path:
    return _write_gold(tmp_path / "gold.jsonl", GOLD)


@pytest.fixture
def result(corpus: Path, gold: Path) -> dict:
    return run_eval(gold, corpus, overrides=HASH)


# ---------------------------------------------------------------------------- result shape


def test_result_has_exactly_the_metric_names(result: dict) -> None:
    assert list(result["metrics"]) == EXPECTED_METRICS
    assert list(METRIC_NAMES) == EXPECTED_METRICS
    # no conflict question in this gold set: its two metrics are undefined, every other one a number
    undefined = {name for name, v in result["metrics"].items() if v is None}
    assert undefined == {"conflict_recall", "conflict_attribution"}, result["metrics"]
    assert all(isinstance(v, float) for v in result["metrics"].values() if v is not None), result["metrics"]
    for name, value in result["metrics"].items():
        if name not in LATENCY and value is not None:
            assert 0.0 <= value <= 1.0, (name, value)


def test_result_sections(result: dict, corpus: Path, gold: Path) -> None:
    assert set(result["by_type"]) == {"factoid", "numeric", "date", "unanswerable"}
    # Only metrics defined for a type are listed: no retrieval or false abstentions for unanswerable ones.
    assert "hit@5" not in result["by_type"]["unanswerable"]
    assert "false_abstention_rate" not in result["by_type"]["unanswerable"]
    assert "abstain_recall" in result["by_type"]["unanswerable"]
    assert set(result["by_type"]["factoid"]) <= set(EXPECTED_METRICS)
    assert set(result["ci"]) == {"hit@5", "mrr@10", "answer_recall", "f1", "em"}
    for name, (lo, hi) in result["ci"].items():
        assert lo <= result["metrics"][name] <= hi, name
    cfg = result["config"]
    assert cfg["embedder"] == "hash" and cfg["k"] == 5 and cfg["search_mode"] == "hybrid"
    assert cfg["answer_mode"] == "extractive" and "answer_threshold" in cfg and "fusion" in cfg
    assert len(result["corpus_sha256"]) == 64 and len(result["gold_sha256"]) == 64
    assert set(result["versions"]) == {"python", "rag", "numpy", "faiss", "torch", "sentence-transformers", "transformers"}
    assert [r["id"] for r in result["rows"]] == [g["id"] for g in GOLD]
    row = result["rows"][0]
    for key in ("id", "type", "retrieved_chunk_ids", "retrieved_doc_ids", "hit@1", "hit@5", "short_answer",
                "answer", "abstained", "confidence", "citations", "metrics"):
        assert key in row, key
    assert len(row["retrieved_chunk_ids"]) == len(row["retrieved_doc_ids"]) > 0
    assert result["rows"][-1]["hit@5"] is None  # unanswerable: no retrieval metrics


def test_retrieval_finds_the_evidence(result: dict) -> None:
    # Three distinct short articles: the hash embedder plus BM25 must find each quote in the top 5.
    assert result["metrics"]["hit@5"] == 1.0
    assert result["metrics"]["citation_valid"] == 1.0


def test_corpus_hash_changes_with_the_corpus(corpus: Path, gold: Path, result: dict) -> None:
    from eval.provenance import corpus_sha256

    assert corpus_sha256(corpus) == result["corpus_sha256"]
    (corpus / "beta.txt").write_text(ARTICLES["beta"] + " More.", encoding="utf-8")
    assert corpus_sha256(corpus) != result["corpus_sha256"]


# ---------------------------------------------------------------------------- gold errors

BAD_LINES = [
    ("{not json", "line 2: record: invalid JSON"),
    (json.dumps({k: v for k, v in GOLD[0].items() if k != "question"}), "line 2: field question: missing"),
    (json.dumps({**GOLD[0], "id": "x", "answers": "Linda Park"}), "line 2: field answers: expected list"),
    (json.dumps({**GOLD[0], "id": "x", "type": "trivia"}), "line 2: field type: 'trivia' not one of"),
    (json.dumps({**GOLD[0], "id": "x", "answerable": "yes"}), "line 2: field answerable: expected bool"),
    (json.dumps({**GOLD[0], "id": "x", "evidence": [{"doc_id": "alpha"}]}), "line 2: field evidence[0].quote: missing"),
    (json.dumps(GOLD[0]), "line 2: field id: duplicate id 't-1'"),
]


@pytest.mark.parametrize("bad, message", BAD_LINES)
def test_malformed_gold_line_names_line_and_field(tmp_path: Path, corpus: Path, bad: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOLD[0]) + "\n" + bad + "\n" + json.dumps(GOLD[1]) + "\n", encoding="utf-8")
    with pytest.raises(GoldError) as info:
        load_gold(path)
    assert message in str(info.value)
    # The format is checked before any index is built: this must not need a corpus or model.
    with pytest.raises(GoldError, match="line 2"):
        run_eval(path, corpus, index=tmp_path / "never-built", overrides=HASH)
    assert not (tmp_path / "never-built").exists()


def test_evidence_is_checked_against_the_indexed_documents(tmp_path: Path, corpus: Path) -> None:
    bad = [GOLD[0], {**GOLD[1], "evidence": [{"doc_id": "beta", "quote": "wheat yields rose sharply"}]},
           {**GOLD[2], "evidence": [{"doc_id": "delta", "quote": "designed by architect Omar Haddad"}]}]
    path = _write_gold(tmp_path / "bad.jsonl", bad)
    load_gold(path)  # the format is fine
    with pytest.raises(GoldError) as info:
        run_eval(path, corpus, overrides=HASH)
    text = str(info.value)
    assert "line 2: field evidence[0].quote: not found verbatim in beta" in text
    assert "line 3: field evidence[0].doc_id: 'delta' is not a document" in text


def test_a_quote_cleaning_moved_out_of_the_text_is_a_warning_not_an_abort(tmp_path: Path, corpus: Path) -> None:
    # The byline is page furniture: cleaning moves it into the author field, so a gold set written from
    # the raw article quotes text that the cleaned document no longer has.
    (corpus / "delta.txt").write_text("18.01.2021 Author: Vera Lind\n\nThe Quarnel Tower in Dunmere was closed "
                                      "on Friday for repairs to its lift, the city said.\n", encoding="utf-8")
    records = [*GOLD, _q("t-7", "Who wrote the article about the Quarnel Tower?", ["Vera Lind"],
                         [("delta", "Author: Vera Lind")], "factoid")]
    res = run_eval(_write_gold(tmp_path / "raw.jsonl", records), corpus, overrides=HASH)
    assert any("line 7" in w and "cleaned text" in w and "evidence metrics skip it" in w for w in res["warnings"])
    row = next(r for r in res["rows"] if r["id"] == "t-7")
    assert "em" in row["metrics"] and "hit@1" not in row["metrics"] and row["hit@1"] is False
    assert res["metrics"]["hit@5"] is not None and res["n_questions"] == 7
    # A quote found nowhere, not even in the raw article, is still an error naming its line.
    records[-1] = _q("t-7", "Who wrote it?", ["Vera Lind"], [("delta", "Author: Nobody Else")], "factoid")
    with pytest.raises(GoldError, match="line 7: field evidence\\[0\\].quote: not found verbatim in delta"):
        run_eval(_write_gold(tmp_path / "raw2.jsonl", records), corpus, overrides=HASH)


def test_cli_reports_gold_errors_with_exit_2(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({**GOLD[0], "answers": 3}) + "\n", encoding="utf-8")
    code = eval_main(["run", "--gold", str(path), "--corpus", str(corpus), "--set", "embedder=hash", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: gold file" in err and "line 1: field answers: expected list, got int" in err


def test_cli_rejects_unknown_option(corpus: Path, gold: Path, capsys: pytest.CaptureFixture) -> None:
    code = eval_main(["run", "--gold", str(gold), "--corpus", str(corpus), "--set", "no_such_option=1"])
    assert code == 2
    assert "no_such_option" in capsys.readouterr().err


# ---------------------------------------------------------------------------- determinism, CLI


def _without_latency(res: dict) -> dict:
    rows = [{k: v for k, v in r.items() if k not in ("latency_ms", "search_latency_ms")} for r in res["rows"]]
    metrics = {k: v for k, v in res["metrics"].items() if k not in LATENCY}
    types = {t: {k: v for k, v in m.items() if k not in LATENCY} for t, m in res["by_type"].items()}
    return {"metrics": metrics, "by_type": types, "ci": res["ci"], "rows": rows, "config": res["config"],
            "corpus_sha256": res["corpus_sha256"], "gold_sha256": res["gold_sha256"]}


def test_same_inputs_same_numbers(corpus: Path, gold: Path, result: dict) -> None:
    again = run_eval(gold, corpus, overrides=HASH)  # a second, independently built index
    assert _without_latency(again) == _without_latency(result)


def test_rag_eval_run_through_the_rag_cli(tmp_path: Path, corpus: Path, gold: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "results" / "run.json"
    index = tmp_path / "index"
    argv = ["eval", "run", "--gold", str(gold), "--corpus", str(corpus), "--index", str(index),
            "--set", "embedder=hash", "--mode", "bm25", "--k", "3", "--out", str(out), "--quiet"]
    assert rag_main(argv) == 0
    printed = capsys.readouterr().out
    assert "hit@5" in printed and "false_abstention_rate" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert list(data["metrics"]) == EXPECTED_METRICS
    assert data["config"]["search_mode"] == "bm25" and data["config"]["k"] == 3
    # The index now exists: a second run opens it (search-time options may change) instead of rebuilding.
    assert rag_main(argv[:-3] + ["--set", "fusion=rrf", "--mode", "hybrid", "--out", str(out), "--quiet"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["config"]["fusion"] == "rrf" and data["warnings"] == []


def test_opening_an_index_of_another_corpus_warns(tmp_path: Path, corpus: Path, gold: Path) -> None:
    index = tmp_path / "index"
    KnowledgeBase.build([corpus], index, Config(embedder="hash"))
    (corpus / "delta.txt").write_text("Delta News\n\nA fourth article about something else entirely.",
                                      encoding="utf-8")
    res = run_eval(gold, corpus, index=index, overrides=HASH)
    assert any("does not match corpus" in w and "delta" in w for w in res["warnings"]), res["warnings"]


# ---------------------------------------------------------------------------- compare


def test_compare_writes_markdown_json_and_plots(tmp_path: Path, corpus: Path, gold: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    out_dir = tmp_path / "compare"
    code = eval_main(["compare", "--gold", str(gold), "--corpus", str(corpus), "--set", "embedder=hash",
                      "--set", "candidates=10", "--out-dir", str(out_dir), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "abstention: " in printed
    md = (out_dir / "compare.md").read_text(encoding="utf-8")
    for name in CONFIGURATIONS:
        assert f"| {name} |" in md, name
    for png in ("metrics.png", "abstention_tradeoff.png"):
        assert (out_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    summary = json.loads((out_dir / "compare.json").read_text(encoding="utf-8"))
    assert list(summary["configurations"]) == list(CONFIGURATIONS)
    cfgs = summary["configurations"]
    assert cfgs["dense"]["config"]["search_mode"] == "dense" and cfgs["bm25"]["config"]["search_mode"] == "bm25"
    assert cfgs["hybrid-no-sentences"]["config"]["sentence_scoring"] is False
    assert cfgs["hybrid-rrf"]["config"]["fusion"] == "rrf" and cfgs["hybrid"]["config"]["fusion"] == "weighted"
    assert cfgs["hybrid-read-8"]["config"]["reader_passages"] == 8
    assert cfgs["hybrid"]["config"]["reader_passages"] == 5
    assert all(c["config"]["candidates"] == 10 for c in cfgs.values())  # the user's options are kept
    curve = json.loads((out_dir / "abstention_curve.json").read_text(encoding="utf-8"))
    assert len(curve["curve"]) == 101 and curve["curve"][0]["threshold"] == 0.0
    assert curve["curve"][0]["false_abstention_rate"] == 0.0  # nothing is below confidence 0
    assert set(TABLE_COLUMNS) <= set(EXPECTED_METRICS)
    assert summary["errors"] == {} and summary["calibration"]["max_false_abstention"] == 0.05




# ---------------------------------------------------------------------------- calibration


def test_tradeoff_curve_and_best_threshold() -> None:
    confidences = [0.9, 0.8, 0.7, 0.6, 0.2, 0.1, 0.4]
    answerable = [True, True, True, True, False, False, False]
    curve = tradeoff_curve(confidences, answerable, thresholds=[0.0, 0.15, 0.3, 0.5, 0.65, 1.0])
    assert [p["abstain_recall"] for p in curve] == pytest.approx([0, 1 / 3, 2 / 3, 1, 1, 1])
    assert [p["false_abstention_rate"] for p in curve] == pytest.approx([0, 0, 0, 0, 0.25, 1])
    best = best_threshold(curve, max_false_abstention=0.05)
    assert best["threshold"] == 0.5 and best["range"] == [0.5, 0.5]
    assert best_threshold(curve, max_false_abstention=0.3)["threshold"] == 0.5
    # Abstain when confidence < t: a confidence equal to the threshold answers.
    assert tradeoff_curve([0.5, 0.2], [True, False], thresholds=[0.5])[0]["false_abstention_rate"] == 0.0
    assert best_threshold([{"threshold": 0.1, "abstain_recall": 1.0, "false_abstention_rate": 0.5,
                            "abstain_precision": 1.0}]) is None


def test_a_rules_abstention_holds_at_every_threshold(tmp_path: Path) -> None:
    rows = [{"confidence": 0.9, "answerable": True, "abstained": False},
            {"confidence": 0.7, "answerable": False, "abstained": True},   # a rule abstained above t=0.3
            {"confidence": 0.1, "answerable": False, "abstained": True},   # under the threshold
            {"confidence": 0.8, "answerable": False, "abstained": False}]
    forced = forced_abstentions(rows, 0.3)
    assert forced == [False, True, False, False]
    curve = tradeoff_curve([r["confidence"] for r in rows], [r["answerable"] for r in rows], [0.0, 0.5], forced)
    assert [p["abstain_recall"] for p in curve] == pytest.approx([1 / 3, 2 / 3])
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"rows": rows, "config": {"abstain_threshold": 0.3}}), encoding="utf-8")
    assert curve_of_result(path)[2] == forced
    with pytest.raises(ValueError, match="config"):
        path.write_text(json.dumps({"rows": rows}), encoding="utf-8")
        curve_of_result(path)


# ---------------------------------------------------------------------------- per-question scoring


class _StubKB:
    """Just enough of a KnowledgeBase for evaluate_question: fixed hits and a fixed answer."""

    def __init__(self, doc_text: str, hits: list[Hit], answer: Answer) -> None:
        self._doc = SimpleNamespace(doc_id="alpha", text=doc_text)
        self._hits, self._answer = hits, answer
        self.config = SimpleNamespace(mode="hybrid", to_dict=lambda: {"mode": "hybrid"})

    def document(self, doc_id: str):  # noqa: ANN201
        if doc_id != "alpha":
            raise KeyError(doc_id)
        return self._doc

    def search(self, query: str, k: int = 5, filters=None, mode=None):  # noqa: ANN001, ANN201
        return self._hits[:k]

    def ask(self, question: str, **kwargs):  # noqa: ANN003, ANN201
        return self._answer


def _hit(text: str, rank: int) -> Hit:
    return Hit(chunk_id=f"c{rank}", doc_id="alpha", title="", text=text, start=0, end=len(text), score=1.0 / rank,
               rank=rank)


def test_citations_and_answers_are_scored_per_question() -> None:
    first = "Mayor Linda Park cut the ribbon at the opening ceremony."
    second = "The bridge cost 42 million dollars."
    text = f"{first} {second}"
    good = Citation(1, "alpha", "", "c1", first, 0, len(first))
    at = text.index(second)
    shifted = Citation(2, "alpha", "", "c1", second, at + 1, at + 1 + len(second))  # offsets one off
    missing = Citation(3, "nowhere", "", "c9", "Mayor Linda Park", 0, 16)  # no such document
    answer = Answer(question="q", text="Linda Park [1][2][3]", short_answer="Linda Park",
                    citations=(good, shifted, missing), passages=(), abstained=False, confidence=0.8)
    hits = [_hit("Unrelated text.", 1), _hit(f"Before. {first}\n After.", 2)]
    kb = _StubKB(text, hits, answer)
    item = load_gold_item(GOLD[0])
    row = evaluate_question(kb, item)
    assert [c["valid"] for c in row["citations"]] == [True, False, False]
    m = row["metrics"]
    assert m["citation_valid"] == pytest.approx(1 / 3)
    assert m["hit@1"] == 0.0 and m["hit@5"] == 1.0 and m["mrr@10"] == 0.5
    assert m["em"] == 1.0 and m["f1"] == 1.0 and m["answer_recall"] == 1.0
    assert m["citation_precision"] == pytest.approx(1 / 3) and m["citation_recall"] == 1.0

    # An abstention may still show the closest passages: it predicts "" all the same.
    abstained = Answer(question="q", text=f"Not found. Closest passage: {first}", short_answer="Linda Park",
                       citations=(),
                       passages=(), abstained=True, confidence=0.1)
    row = evaluate_question(_StubKB(text, hits, abstained), item)
    assert row["metrics"]["em"] == 0.0 and row["metrics"]["answer_recall"] == 0.0  # an abstention predicts ""
    assert "citation_precision" not in row["metrics"]


def load_gold_item(record: dict):  # noqa: ANN201 - eval.gold.GoldItem
    from eval.gold import Evidence, GoldItem

    return GoldItem(record["id"], record["question"], tuple(record["answers"]),
                    tuple(Evidence(e["doc_id"], e["quote"], e["quote"]) for e in record["evidence"]),
                    record["answerable"], record["type"], 1)


def _row(answerable: bool, abstained: bool, qtype: str, valid: list[bool], **metrics: float) -> dict:
    return {"answerable": answerable, "abstained": abstained, "type": qtype,
            "citations": [{"valid": v} for v in valid], "metrics": metrics, "latency_ms": 10.0,
            "search_latency_ms": 5.0}


def test_aggregate_populations() -> None:
    base = {"hit@1": 1.0, "hit@5": 1.0, "recall@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0, "em": 1.0, "f1": 1.0,
            "answer_recall": 1.0}
    rows = [
        _row(True, False, "factoid", [True, True], **base, citation_precision=1.0, citation_recall=1.0),
        _row(True, True, "factoid", [], **{**base, "em": 0.0, "f1": 0.0, "answer_recall": 0.0}),
        _row(False, True, "unanswerable", []),
        _row(False, False, "unanswerable", [False]),
    ]
    m = aggregate(rows)
    assert list(m) == EXPECTED_METRICS
    assert m["em"] == 0.5  # over answerable questions only
    assert m["citation_valid"] == pytest.approx(2 / 3)  # over every citation
    assert m["citation_precision"] == 1.0  # over answered answerable questions
    assert m["abstain_precision"] == 0.5 and m["abstain_recall"] == 0.5 and m["false_abstention_rate"] == 0.5
    types = by_type(rows)
    assert "em" not in types["unanswerable"] and types["unanswerable"]["abstain_recall"] == 0.5
    assert "abstain_recall" not in types["factoid"]
    only_answerable = aggregate(rows[:2])
    assert only_answerable["abstain_recall"] is None and only_answerable["abstain_precision"] == 0.0


def test_repair_counts_count_answers_not_notes() -> None:
    rows = [{"notes": ["repair:claim_dropped", "repair:claim_dropped", "repair:fallback_extractive"]},
            {"notes": ["conflicting figures: 109 vs 110", "repair:claim_dropped"]},
            {"notes": []}]
    assert repair_counts(rows) == {"claim_dropped": 2, "fallback_extractive": 1}
    assert repair_counts(rows[2:]) == {}


def test_evaluate_rejects_an_empty_gold_set(corpus: Path, tmp_path: Path) -> None:
    kb = KnowledgeBase.build([corpus], tmp_path / "i", Config(embedder="hash"))
    with pytest.raises(ValueError, match="no gold questions"):
        evaluate(kb, [])


# ---------------------------------------------------------------------------- SQuAD


def _squad(version: str) -> dict:
    v2 = version == "2.0"

    def qa(qid: str, question: str, answers: list[str]) -> dict:
        rec = {"id": qid, "question": question, "answers": [{"text": a, "answer_start": 0} for a in answers]}
        if v2:
            rec["is_impossible"] = not answers
        return rec

    data = [
        {"title": "Harbor_Bridge", "paragraphs": [
            {"context": ARTICLES["alpha"].split("\n\n")[1],
             "qas": [qa("a1", "Who cut the ribbon at the Harbor Bridge opening ceremony?", ["Linda Park"]),
                     qa("a2", "How much did the council approve for the Harbor Bridge repairs?",
                        ["42 million dollars"])]},
            {"context": ARTICLES["beta"].split("\n\n")[1],
             "qas": [qa("b1", "By how much did wheat yields fall in the Green Valley?", ["30 percent"])]},
        ]},
        {"title": "Westfield_Library", "paragraphs": [
            {"context": ARTICLES["gamma"].split("\n\n")[1],
             "qas": [qa("c1", "Who designed the new Westfield library?", ["Omar Haddad", "architect Omar Haddad"]),
                     qa("c2", "What colour is the Westfield library roof?", [] if v2 else ["red"])]},
        ]},
    ]
    return {"version": "v2.0" if v2 else "1.1", "data": data}


def test_the_committed_split_is_disjoint_by_article_and_covers_both_versions() -> None:
    parts = json.loads(SPLITS.read_text(encoding="utf-8"))
    assert set(parts) == {"train", "dev", "test"} and len(parts["test"]) >= 10
    titles = [t for part in parts.values() for t in part]
    assert len(titles) == len(set(titles)) == 48  # every v1.1 article, each in one part only
    assert split_titles("test") == set(parts["test"])
    with pytest.raises(ValueError, match="choose one of train, dev, test"):
        split_titles("validation")


def test_split_questions_keeps_the_split_articles_only(tmp_path: Path) -> None:
    dataset = _squad("1.1")
    questions = squad_questions(dataset)
    assert [q.id for q in split_questions(dataset, questions, {"Westfield_Library"})] == ["c1", "c2"]
    with pytest.raises(ValueError, match="no question"):
        split_questions(dataset, questions, {"Somewhere_Else"})
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["Harbor_Bridge"], "dev": [], "test": ["Westfield_Library"]}))
    assert split_titles("train", split) == {"Harbor_Bridge"}


def test_squad_loader_builds_documents_and_questions(tmp_path: Path) -> None:
    dataset = _squad("1.1")
    docs = squad_documents(dataset)
    assert [d["id"] for d in docs] == ["0-0", "0-1", "1-0"]
    assert [d["title"] for d in docs] == ["Harbor Bridge", "Harbor Bridge", "Westfield Library"]
    assert docs[2]["text"] == ARTICLES["gamma"].split("\n\n")[1]
    questions = squad_questions(dataset)
    assert [(q.id, q.doc_id) for q in questions] == [("a1", "0-0"), ("a2", "0-0"), ("b1", "0-1"), ("c1", "1-0"),
                                                      ("c2", "1-0")]
    assert questions[3].answers == ("Omar Haddad", "architect Omar Haddad") and questions[3].answerable
    picked = sample_questions(questions, 3, seed=13)
    assert picked == sample_questions(questions, 3, seed=13) and len(picked) == 3
    assert [q.position for q in picked] == sorted(q.position for q in picked)
    assert sample_questions(questions, 99, seed=1) == questions
    small = restrict(dataset, {"a2", "c1"})
    assert [qa["id"] for a in small["data"] for p in a["paragraphs"] for qa in p["qas"]] == ["a2", "c1"]
    assert not squad_questions(_squad("2.0"))[4].answerable


def test_squad_end_to_end_v2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "dev-v2.0.json"
    data.write_text(json.dumps(_squad("2.0")), encoding="utf-8")
    index = tmp_path / "squad-index"
    res = run_squad("2.0", data, sample=5, seed=13, index=index, overrides=HASH)
    assert res["index"] == {"dir": str(index), "reused": False, "documents": 3, "chunks": 3}
    assert set(res["retrieval"]) == {"hybrid", "dense", "bm25"}
    for mode, scores in res["retrieval"].items():
        assert 0.0 <= scores["hit@1"] <= scores["hit@5"] <= 1.0, mode
        assert scores["search_latency_p50_ms"] > 0
    assert res["retrieval"]["bm25"]["hit@5"] == 1.0  # three paragraphs: the own one is always in the top 5
    answers = res["answers"]
    assert answers["total"] == 5 and answers["HasAns_total"] == 4 and answers["NoAns_total"] == 1
    rows = {r["id"]: r for r in res["rows"]}
    expected_em = 100.0 * sum(r["em"] for r in rows.values()) / 5
    assert answers["exact"] == pytest.approx(expected_em)
    assert answers["NoAns_exact"] == (100.0 if rows["c2"]["abstained"] else 0.0)
    assert set(res["abstention"]) == {"abstain_precision", "abstain_recall", "false_abstention_rate"}
    assert res["dataset"]["sampled"] == 5 and res["dataset"]["paragraphs"] == 3

    out = tmp_path / "squad.json"
    code = eval_main(["squad", "--version", "2.0", "--data", str(data), "--sample", "5", "--seed", "13",
                      "--index", str(index), "--set", "embedder=hash", "--out", str(out), "--quiet"])
    assert code == 0
    again = json.loads(out.read_text(encoding="utf-8"))
    assert again["index"]["reused"] is True  # same paragraphs: the cached index is reused
    assert again["answers"] == answers
    assert "hybrid" in capsys.readouterr().out
    # A search-time option keeps the cached index; a build-time one rebuilds it.
    res = run_squad("2.0", data, sample=5, seed=13, index=index, overrides={**HASH, "answer_threshold": 0.9})
    assert res["index"]["reused"] is True and res["config"]["answer_threshold"] == 0.9
    res = run_squad("2.0", data, sample=5, seed=13, index=index, overrides={**HASH, "chunk_tokens": 64})
    assert res["index"]["reused"] is False and any("rebuilding" in w for w in res["warnings"])
    assert res["config"]["chunk_tokens"] == 64


def test_squad_scoring_with_fixed_retrieval_and_answers() -> None:
    dataset = _squad("2.0")
    questions = squad_questions(dataset)
    # Retrieval puts paragraph 0-1 first for every question; answers are fixed per question.
    hits = [Hit(chunk_id=f"{d}#0", doc_id=d, title="", text="t", start=0, end=1, score=1.0, rank=i)
            for i, d in enumerate(["0-1", "1-0", "0-0"], start=1)]
    answers = {
        "Who cut the ribbon at the Harbor Bridge opening ceremony?": ("Linda Park", False),
        "How much did the council approve for the Harbor Bridge repairs?": ("42 million", False),
        "By how much did wheat yields fall in the Green Valley?": ("30 percent", True),  # abstained: scores ""
        "Who designed the new Westfield library?": ("Omar Haddad", False),
        "What colour is the Westfield library roof?": ("red", True),  # unanswerable, abstained: correct
    }

    class Stub:
        def search(self, query: str, k: int = 5, filters=None, mode=None):  # noqa: ANN001, ANN201
            return hits[:k]

        def ask(self, question: str, **kwargs):  # noqa: ANN003, ANN201
            short, abstained = answers[question]
            return Answer(question=question, text=short, short_answer=short, citations=(), passages=(),
                          abstained=abstained, confidence=0.5)

    res = evaluate_squad(Stub(), dataset, questions)
    hybrid = res["retrieval"]["hybrid"]  # over the 4 answerable questions: ranks 3, 3, 1, 2
    assert hybrid["hit@1"] == 0.25 and hybrid["hit@5"] == 1.0
    assert hybrid["mrr@10"] == pytest.approx((1 / 3 + 1 / 3 + 1 + 1 / 2) / 4)
    a = res["answers"]
    assert a["HasAns_exact"] == 50.0 and a["NoAns_exact"] == 100.0 and a["exact"] == 60.0
    assert a["HasAns_f1"] == pytest.approx(100 * (1 + 0.8 + 0 + 1) / 4)
    assert res["abstention"] == {"abstain_precision": 0.5, "abstain_recall": 1.0, "false_abstention_rate": 0.25}


def test_squad_match_keeps_one_question_family_and_rejects_a_bad_pattern(tmp_path: Path) -> None:
    questions = squad_questions(_squad("1.1"))
    assert [q.id for q in matching_questions(questions, r"^who\b")] == ["a1", "c1"]
    assert [q.id for q in matching_questions(questions, r"HOW MUCH")] == ["a2", "b1"]  # case-insensitive
    with pytest.raises(ValueError, match="not a valid regular expression"):
        matching_questions(questions, "(")
    with pytest.raises(ValueError, match="finds no question"):
        matching_questions(questions, r"\bwhy\b")
    data = tmp_path / "dev-v1.1.json"
    data.write_text(json.dumps(_squad("1.1")), encoding="utf-8")
    res = run_squad("1.1", data, sample=99, seed=3, index=tmp_path / "i", overrides=HASH, match=r"^who\b")
    assert res["answers"]["total"] == 2 and res["dataset"]["match"] == r"^who\b"
    assert [r["id"] for r in res["rows"]] == ["a1", "c1"]


def test_squad_v1_counts_every_sampled_question(tmp_path: Path) -> None:
    data = tmp_path / "dev-v1.1.json"
    data.write_text(json.dumps(_squad("1.1")), encoding="utf-8")
    res = run_squad("1.1", data, sample=2, seed=3, index=tmp_path / "i", overrides=HASH)
    assert res["answers"]["total"] == 2 and "NoAns_total" not in res["answers"]
    assert "abstention" not in res and res["warnings"] == []


# ---------------------------------------------------------------------------- boundaries


def test_eval_imports_only_the_public_rag_api() -> None:
    own = [p for p in (ROOT / "eval").glob("*.py") if p.name != "check_gold.py"]  # the standalone checker
    assert len(own) >= 8
    for path in own:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rag"):
                assert node.module == "rag", f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not [a.name for a in node.names if a.name.startswith("rag.")], path.name


def test_thresholds_file_names_real_metrics() -> None:
    data = json.loads((ROOT / "eval" / "thresholds.json").read_text(encoding="utf-8"))
    assert set(data["floors"]) == {"hit@5", "hit@1", "mrr@10", "answer_recall", "citation_valid",
                                   "citation_precision", "abstain_recall", "conflict_recall"}
    assert set(data["ceilings"]) == {"false_abstention_rate", "false_conflict_rate"}
    for name, value in {**data["floors"], **data["ceilings"]}.items():
        assert name in EXPECTED_METRICS and 0.0 <= value <= 1.0, name
