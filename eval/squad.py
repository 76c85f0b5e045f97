"""Open-corpus SQuAD: every dev paragraph is a document; ask a seeded sample of the questions.

What it does: turns a SQuAD v1.1/v2.0 dev file into documents (id ``"<article>-<paragraph>"``,
title = article title with underscores as spaces, text = the context), builds their index once
(reused when present and holding the same documents), samples N questions with
``random.Random(seed)``, and reports

* retrieval for the hybrid, dense and BM25 modes: hit@1, hit@5, mrr@10, where a retrieved
  chunk is relevant when it comes from the question's own paragraph (answerable questions);
  search latency percentiles;
* the official EM/F1 of the short answers (:func:`eval.metrics.squad_scores` on the dev file
  restricted to the sampled ids; an abstention is the "" prediction), with the HasAns/NoAns
  split and abstention scores on v2.0.

* with ``split`` (train, dev or test of ``eval/splits/squad.json``, SQuAD split by article title),
  only that split's questions, and also the reader given each question's own (gold) paragraph: EM/F1,
  and on v2.0 HasAns/NoAns with the reader's calibrated threshold. The open index still holds every
  paragraph of the file.

What it does not do: no training, no threshold fitting (``tools/calibrate_reader.py`` fits on dev).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from eval import metrics as M
from eval.corpus import open_index
from eval.provenance import file_sha256, versions
from rag import Config, ConfigError, IndexMismatchError, IndexNotFoundError, KnowledgeBase, Reader, ReaderPassage

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SPLITS = PROJECT_ROOT / "eval" / "splits" / "squad.json"
SPLIT_NAMES = ("train", "dev", "test")
SEARCH_MODES = ("hybrid", "dense", "bm25")
RETRIEVAL_K = 10


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    doc_id: str  # the question's own paragraph
    answers: tuple[str, ...]
    answerable: bool
    position: int  # order in the file


def load_dataset(path: str | Path) -> dict[str, Any]:
    """The parsed SQuAD file; ValueError when it does not look like one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read SQuAD file {path}: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{path} is not a SQuAD file (no top-level 'data' list)")
    return data


def squad_documents(dataset: dict[str, Any]) -> list[dict[str, str]]:
    """One record per paragraph: ``{"id": "<a>-<p>", "title": ..., "text": context}``."""
    return [{"id": f"{a}-{p}", "title": str(article.get("title", "")).replace("_", " "),
             "text": paragraph["context"]}
            for a, article in enumerate(dataset["data"]) for p, paragraph in enumerate(article["paragraphs"])]


def squad_questions(dataset: dict[str, Any]) -> list[SquadQuestion]:
    """Every question, in file order, with its paragraph's document id."""
    out = []
    for a, article in enumerate(dataset["data"]):
        for p, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                answers = tuple(x["text"] for x in qa["answers"])
                out.append(SquadQuestion(qa["id"], qa["question"], f"{a}-{p}", answers,
                                         bool(answers) and not qa.get("is_impossible", False), len(out)))
    return out


def default_data(version: str) -> Path:
    """The SQuAD dev file of ``version`` in ../shared/benchmarks/squad."""
    return PROJECT_ROOT.parent / "shared" / "benchmarks" / "squad" / f"dev-v{version}.reconstructed.json"


def split_titles(split: str, path: str | Path = SPLITS) -> set[str]:
    """The article titles of one part of the committed split (ValueError for an unknown part)."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"--split {split!r} is not valid; choose one of {', '.join(SPLIT_NAMES)}")
    try:
        parts = json.loads(Path(path).read_text(encoding="utf-8"))
        return set(parts[split])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"cannot read the split file {path}: {e}") from e


def split_questions(dataset: dict[str, Any], questions: Sequence[SquadQuestion], titles: set[str]) -> list[SquadQuestion]:
    """The questions whose article title is in ``titles``; an error if none is."""
    doc_title = {f"{a}-{p}": article.get("title", "") for a, article in enumerate(dataset["data"])
                 for p in range(len(article["paragraphs"]))}
    out = [q for q in questions if doc_title[q.doc_id] in titles]
    if not out:
        raise ValueError("no question of this file belongs to the split's articles")
    return out


def gold_paragraph_scores(dataset: dict[str, Any], questions: Sequence[SquadQuestion], reader: Reader,
                          progress: bool = False) -> dict[str, Any]:
    """The reader alone, given each question's own paragraph: official EM/F1 when it declines at its
    calibrated threshold (HasAns/NoAns on v2.0), and ``always_answer``: its best span every time (on
    v1.1, the reader's span quality alone)."""
    texts = {d["id"]: d["text"] for d in squad_documents(dataset)}
    declining, forced, latencies = {}, {}, []
    for q in tqdm(questions, desc="reader, gold paragraph", unit="q", disable=not progress, dynamic_ncols=True):
        t0 = time.perf_counter()
        reading = reader.read(q.question, [ReaderPassage(q.doc_id, texts[q.doc_id])], top_k=1)
        latencies.append((time.perf_counter() - t0) * 1000.0)
        forced[q.id] = reading.best.text if reading.best else ""
        declining[q.id] = forced[q.id] if reading.answerable else ""
    restricted = restrict(dataset, {q.id for q in questions})
    return {"answers": M.squad_scores(restricted, declining), "always_answer": M.squad_scores(restricted, forced),
            "threshold": reader.threshold, "read_p50_ms": M.percentile(latencies, 50)}


def sample_questions(questions: Sequence[SquadQuestion], n: int, seed: int) -> list[SquadQuestion]:
    """``n`` questions drawn with ``random.Random(seed)`` (all when n >= their number), in file order."""
    if n < 1:
        raise ValueError(f"--sample must be at least 1, got {n}")
    picked = random.Random(seed).sample(list(questions), min(n, len(questions)))
    return sorted(picked, key=lambda q: q.position)


def matching_questions(questions: Sequence[SquadQuestion], pattern: str) -> list[SquadQuestion]:
    """The questions ``pattern`` (a regular expression, case-insensitive) finds; an error if it is invalid
    or finds none."""
    try:
        found = re.compile(pattern, re.IGNORECASE)
    except re.error as e:
        raise ValueError(f"--match {pattern!r} is not a valid regular expression: {e}") from e
    out = [q for q in questions if found.search(q.question)]
    if not out:
        raise ValueError(f"--match {pattern!r} finds no question")
    return out


def restrict(dataset: dict[str, Any], ids: set[str]) -> dict[str, Any]:
    """The dataset with only the questions in ``ids`` (for the official scorer)."""
    data = []
    for article in dataset["data"]:
        paragraphs = [{**p, "qas": [qa for qa in p["qas"] if qa["id"] in ids]} for p in article["paragraphs"]]
        paragraphs = [p for p in paragraphs if p["qas"]]
        if paragraphs:
            data.append({**article, "paragraphs": paragraphs})
    return {**{k: v for k, v in dataset.items() if k != "data"}, "data": data}


def _index_matches(kb: KnowledgeBase, docs: list[dict[str, str]]) -> bool:
    titles = {d["id"]: d["title"] for d in docs}
    indexed = kb.documents()
    return (len(indexed) == len(docs)
            and all(titles.get(d.doc_id) == d.title for d in indexed))


def squad_index(dataset: dict[str, Any], index_dir: str | Path, overrides: dict[str, Any], *,
                progress: bool = False, notes: list[str] | None = None) -> tuple[KnowledgeBase, bool]:
    """The index of every paragraph in ``index_dir``: reused if it holds them and was built with
    the same build options, else (re)built.

    Returns ``(kb, reused)``.
    """
    notes = [] if notes is None else notes
    docs = squad_documents(dataset)
    config = Config.from_dict(overrides)
    try:
        # Every field of the wanted config: another embedder or build option means a rebuild.
        kb = open_index(index_dir, config.to_dict())
        if _index_matches(kb, docs):
            return kb, True
        notes.append(f"index {index_dir} holds other documents; rebuilding it")
    except IndexNotFoundError:
        pass
    except (IndexMismatchError, ConfigError) as e:
        notes.append(f"{e}; rebuilding it")
    tmp = Path(tempfile.mkdtemp(prefix="rag-squad-"))
    try:
        corpus = tmp / "squad.jsonl"
        corpus.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
        kb = KnowledgeBase.build([corpus], index_dir, config, progress=progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = kb.last_report
    if report.skipped or report.duplicates:
        notes.append(f"{len(report.skipped)} paragraph(s) skipped, {len(report.duplicates)} exact duplicate(s) "
                     f"not indexed: {[s.reason for s in report.skipped[:3]]} {list(report.duplicates[:3])}")
    return kb, False


def _retrieval(kb: KnowledgeBase, questions: Sequence[SquadQuestion], mode: str,
               progress: bool) -> tuple[dict[str, float], dict[str, int | None]]:
    """Mean hit@1, hit@5, mrr@10 over answerable questions, latency over all; rank of the own paragraph."""
    scores: dict[str, list[float]] = {"hit@1": [], "hit@5": [], "mrr@10": []}
    latencies, ranks = [], {}
    for q in tqdm(questions, desc=f"search {mode}", unit="q", disable=not progress, dynamic_ncols=True):
        t0 = time.perf_counter()
        hits = kb.search(q.question, k=RETRIEVAL_K, mode=mode)
        latencies.append((time.perf_counter() - t0) * 1000.0)
        relevant = [{0} if h.doc_id == q.doc_id else set() for h in hits]
        ranks[q.id] = next((i for i, r in enumerate(relevant, start=1) if r), None)
        if q.answerable:
            scores["hit@1"].append(M.hit_at_k(relevant, 1))
            scores["hit@5"].append(M.hit_at_k(relevant, 5))
            scores["mrr@10"].append(M.mrr_at_k(relevant, 10))
    out = {name: (sum(v) / len(v) if v else None) for name, v in scores.items()}
    out["search_latency_p50_ms"] = M.percentile(latencies, 50)
    out["search_latency_p95_ms"] = M.percentile(latencies, 95)
    return out, ranks


def evaluate_squad(kb: KnowledgeBase, dataset: dict[str, Any], questions: Sequence[SquadQuestion], *,
                   k: int = 5, mode: str = "hybrid", progress: bool = False) -> dict[str, Any]:
    """Retrieval in every search mode and official EM/F1 of ``kb.ask`` on ``questions``."""
    kb.ask(questions[0].question, k=k, search_mode=mode)  # load the models outside the timings
    retrieval, ranks = {}, {}
    for m in SEARCH_MODES:
        retrieval[m], ranks[m] = _retrieval(kb, questions, m, progress)
    rows, predictions, latencies = [], {}, []
    for q in tqdm(questions, desc=f"ask {mode}", unit="q", disable=not progress, dynamic_ncols=True):
        t0 = time.perf_counter()
        answer = kb.ask(q.question, k=k, search_mode=mode)
        latencies.append((time.perf_counter() - t0) * 1000.0)
        predictions[q.id] = "" if answer.abstained else answer.short_answer
        rows.append({"id": q.id, "doc_id": q.doc_id, "question": q.question, "answers": list(q.answers),
                     "answerable": q.answerable, "rank": {m: ranks[m][q.id] for m in SEARCH_MODES},
                     "prediction": predictions[q.id], "abstained": answer.abstained,
                     "disputed": not answer.abstained and len(answer.versions) > 1,
                     "confidence": float(answer.confidence),
                     "em": M.exact_match(predictions[q.id], q.answers), "f1": M.f1(predictions[q.id], q.answers),
                     "answer_recall": M.answer_recall("" if answer.abstained else answer.text, q.answers)})
    answers = M.squad_scores(restrict(dataset, {q.id for q in questions}), predictions)
    answerable = [r for r in rows if r["answerable"]]
    answers["answer_recall"] = sum(r["answer_recall"] for r in answerable) / len(answerable) if answerable else None
    answers["abstained"] = sum(r["abstained"] for r in rows)
    # One article states each answer here, so a reported disagreement is a false one.
    answers["false_conflict_rate"] = sum(r["disputed"] for r in answerable) / len(answerable) if answerable else None
    out = {"retrieval": retrieval, "answers": answers,
           "latency": {"ask_p50_ms": M.percentile(latencies, 50), "ask_p95_ms": M.percentile(latencies, 95),
                       **{f"search_{m}_p50_ms": retrieval[m]["search_latency_p50_ms"] for m in SEARCH_MODES}}}
    if any(not q.answerable for q in questions):
        out["abstention"] = M.abstention_scores([r["abstained"] for r in rows], [r["answerable"] for r in rows])
    out["rows"] = rows
    return out


def default_index(version: str) -> Path:
    return PROJECT_ROOT / "index" / f"squad-v{version}"


def run_squad(version: str, data: str | Path, *, sample: int, seed: int, index: str | Path | None = None,
              k: int = 5, mode: str = "hybrid", overrides: dict[str, Any] | None = None,
              progress: bool = False, match: str | None = None, split: str | None = None) -> dict[str, Any]:
    """Everything ``python -m eval squad`` does but printing and writing; ``match``: only the questions
    this regular expression finds (case-insensitive), e.g. one question family; ``split``: only the
    questions of that part of the committed split, plus the reader's gold-paragraph scores."""
    titles = split_titles(split) if split else None
    dataset = load_dataset(data)
    notes: list[str] = []
    file_version = str(dataset.get("version", "")).lstrip("v")
    if file_version and file_version != version:
        notes.append(f"--version {version} but the file says version {dataset.get('version')}")
    questions = squad_questions(dataset)
    pool = questions if titles is None else split_questions(dataset, questions, titles)
    pool = pool if match is None else matching_questions(pool, match)
    picked = sample_questions(pool, sample, seed)
    index_dir = Path(index) if index else default_index(version)
    kb, reused = squad_index(dataset, index_dir, overrides or {}, progress=progress, notes=notes)
    result = evaluate_squad(kb, dataset, picked, k=k, mode=mode, progress=progress)
    if split:
        cfg = kb.config
        reader = Reader(cfg.reader or None)  # its card's margin threshold (answer_threshold is a probability)
        result["gold_paragraph"] = gold_paragraph_scores(dataset, picked, reader, progress)
    stats = kb.stats()
    rows = result.pop("rows")
    return {**result,
            "dataset": {"version": version, "path": str(data), "sha256": file_sha256(data),
                        "paragraphs": len(squad_documents(dataset)), "questions": len(questions),
                        "sampled": len(picked), "sampled_answerable": sum(q.answerable for q in picked),
                        "seed": seed, "match": match, "split": split},
            "index": {"dir": str(index_dir), "reused": reused, "documents": stats["documents"],
                      "chunks": stats["chunks"]},
            "config": {**kb.config.to_dict(), "k": k, "retrieval_k": RETRIEVAL_K, "search_mode": mode},
            "versions": versions(), "warnings": notes, "rows": rows}
