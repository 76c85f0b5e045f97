"""Fit the answer verifier that decides abstention (``rag/abstain_model.json``) on SQuAD v2.0.

What it does: answers SQuAD v2.0 dev questions through the real pipeline (``kb.ask`` over the
open corpus of every dev paragraph) and records, for each answer, the verifier's features
(:func:`rag.abstain.verification_features`) as the answerer computed them; then fits a
logistic regression (standardised features, L2, balanced classes, each weight's sign fixed by
its feature's meaning) whose target is "the
answer is supported": positives are answerable questions whose own paragraph was among the
passages read and whose extracted answer overlaps a gold answer (F1 > 0); negatives are the
unanswerable questions and the answerable ones asked again with their own paragraph removed
from retrieval (the passages still discuss the question's entities but not the asked fact;
those whose gold answer still occurs in a retrieved passage are dropped). Answerable questions
answered wrongly or without their paragraph are left out: their label says nothing clean about
the evidence the verifier saw. Articles are split
by position (every fifth article held out, :func:`split_of`) so the held-out figures come
from paragraphs and questions never used for fitting.

    python tools/train_abstain.py collect --squad ../shared/benchmarks/squad/dev-v2.0.reconstructed.json \\
        --index index/squad-v2.0 --per-split 3000:1200 --out eval/results/abstain/squad2.jsonl
    python tools/train_abstain.py collect --gold eval/gold/demo.jsonl --corpus data/articles \\
        --index /tmp/idx_demo --out eval/results/abstain/demo.jsonl
    python tools/train_abstain.py fit eval/results/abstain/squad2.jsonl --out rag/abstain_model.json \\
        --check eval/results/abstain/demo.jsonl

What it does not do: choose the threshold (``python -m eval.calibrate`` on a gold set does).
It lives outside ``eval/`` because it reaches into ``rag.answer``/``rag.abstain`` on purpose:
it trains an internal part, while ``eval/`` uses the public API only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import rag.answer as answer_module
from eval import metrics as M
from eval.calibrate import best_threshold, tradeoff_curve
from rag.abstain import (
    FEATURES,
    LOWER_IS_SUPPORTED,
    MODEL_FORMAT,
    MODEL_VERSION,
    VerifierModel,
    verification_features,
)

HELD_OUT_EVERY = 5  # article index % 5 == 4 is held out


def split_of(doc_id: str) -> str:
    """"train" or "heldout" for a SQuAD paragraph id ``"<article>-<paragraph>"``."""
    return "heldout" if int(doc_id.split("-")[0]) % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else "train"


@contextmanager
def recording() -> Any:
    """Within the block every answer's verifier features are appended to the yielded list and
    the answerer never abstains (the recorded answer is the one it would verify)."""
    seen: list[dict[str, Any]] = []
    original = answer_module.verify

    def record(ev: Any, model: Any = None) -> float:
        seen.append({"features": verification_features(ev), "passage_docs": [p.doc_id for p in ev.passages],
                     "passage_texts": [p.text for p in ev.passages]})
        return 1.0

    answer_module.verify = record
    try:
        yield seen
    finally:
        answer_module.verify = original


def _ask_rows(kb: Any, items: Sequence[dict[str, Any]], progress: bool,
              exclude_own: bool = False) -> list[dict[str, Any]]:
    """Ask every item; with ``exclude_own`` the item's own paragraph is filtered out of retrieval."""
    from tqdm import tqdm

    all_ids = [d.doc_id for d in kb.documents()] if exclude_own else []
    rows = []
    with recording() as seen:
        for item in tqdm(items, unit="q", disable=not progress, dynamic_ncols=True):
            before = len(seen)
            filters = {"doc_ids": [d for d in all_ids if d != item["doc_id"]]} if exclude_own else None
            ans = kb.ask(item["question"], k=5, filters=filters)
            rec = seen[-1] if len(seen) > before else None
            pred = "" if rec is None else ans.short_answer
            folded = [M.normalize_answer(t) for t in rec["passage_texts"]] if rec else []
            rows.append({**item, "features": rec["features"] if rec else None,
                         "own_retrieved": bool(rec and item.get("doc_id") in rec["passage_docs"]),
                         "answer_in_passages": any(M.normalize_answer(a) and M.normalize_answer(a) in t
                                                   for a in item["answers"] for t in folded),
                         "prediction": pred,
                         "f1": M.f1(pred, item["answers"]) if item["answers"] else None,
                         "recall": M.answer_recall(pred, item["answers"]) if item["answers"] else None})
    return rows


def collect_squad(path: str, index: str, per_split: tuple[int, int], seed: int, progress: bool) -> list[dict[str, Any]]:
    from eval.squad import load_dataset, squad_documents, squad_index, squad_questions
    from rag import KnowledgeBase, RagError

    dataset = load_dataset(path)
    try:  # an index of these paragraphs is used as built (its own config), whatever today's defaults
        kb = KnowledgeBase.open(index)
        if len(kb.documents()) != len(squad_documents(dataset)):
            raise ValueError("other documents")
    except (RagError, ValueError):
        kb, _ = squad_index(dataset, index, {}, progress=progress)
    questions = squad_questions(dataset)
    rng = random.Random(seed)
    items = []
    for split, n in zip(("train", "heldout"), per_split):
        pool = [q for q in questions if split_of(q.doc_id) == split]
        for q in sorted(rng.sample(pool, min(n, len(pool))), key=lambda q: q.position):
            items.append({"id": q.id, "split": split, "question": q.question, "doc_id": q.doc_id,
                          "answerable": q.answerable, "answers": list(q.answers)})
    rows = _ask_rows(kb, items, progress)
    # The same answerable questions with their own paragraph removed from the corpus: the
    # retrieved articles still talk about the question's entities but (mostly) do not state the
    # asked fact. Those whose gold answer still occurs in a retrieved passage are dropped.
    removed = [{**item, "id": f"{item['id']}/removed", "kind": "removed", "answerable": False}
               for item in items if item["answerable"]]
    for row in _ask_rows(kb, removed, progress, exclude_own=True):
        if not row["answer_in_passages"]:
            rows.append(row)
    return rows


def collect_gold(gold: str, corpus: str, index: str | None, progress: bool) -> list[dict[str, Any]]:
    from eval.corpus import prepared_kb
    from eval.gold import load_gold

    items = [{"id": g.id, "split": "gold", "question": g.question, "doc_id": None, "answerable": g.answerable,
              "answers": list(g.answers)} for g in load_gold(gold)]
    with prepared_kb(corpus, index, {}, progress=progress) as kb:
        return _ask_rows(kb, items, progress)


# ---- fitting ------------------------------------------------------------------------------------
def training_label(row: dict[str, Any]) -> int | None:
    """1: answerable, its paragraph read and the answer overlapping a gold one (F1 > 0);
    0: unanswerable, or asked with its paragraph removed; None: left out (see the docstring)."""
    if row["features"] is None:
        return None
    if not row["answerable"] or row.get("kind") == "removed":
        return 0
    return 1 if row["own_retrieved"] and (row.get("f1") or 0.0) > 0.0 else None


def matrix(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    return np.array([[float(r["features"][f]) for f in FEATURES] for r in rows], dtype=np.float64)


def fit(rows: Sequence[dict[str, Any]], c: float = 1.0, meta: dict[str, Any] | None = None) -> VerifierModel:
    """A sign-constrained logistic regression on the labelled training rows, saved as plain numbers.

    Balanced class weights, L2 penalty ``1/c`` on standardised features, and each weight kept on
    its feature's side of zero (negative for :data:`rag.abstain.LOWER_IS_SUPPORTED`, positive for
    the rest): correlated coverage features otherwise trade signs in ways that do not transfer.
    An unconstrained fit had the same held-out SQuAD AUC (0.806 against 0.803) but raised the
    confidence of answers whose question terms the corpus never uses, and answered a question
    whose relation no passage states ("What is the population of ...?", 0.18 against 0.03).
    """
    from scipy.optimize import minimize

    used = [r for r in rows if training_label(r) is not None]
    x, y = matrix(used), np.array([training_label(r) for r in used], dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (x - mean) / scale
    pos = float(y.sum())
    weight = np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * (len(y) - pos)))
    lam = 1.0 / c

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        t = z @ w + b
        g = weight * (1.0 / (1.0 + np.exp(-t)) - y)
        value = float(np.sum(weight * (np.logaddexp(0.0, t) - y * t)) + 0.5 * lam * w @ w)
        return value, np.append(z.T @ g + lam * w, g.sum())

    bounds = [(None, 0.0) if f in LOWER_IS_SUPPORTED else (0.0, None) for f in FEATURES] + [(None, None)]
    result = minimize(loss, np.zeros(len(FEATURES) + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    if not result.success:
        raise RuntimeError(f"the fit did not converge: {result.message}")
    coef, intercept = result.x[:-1], float(result.x[-1])
    info = {"trained_on": {"n": len(used), "positives": int(pos), "negatives": int(len(y) - pos), "C": c,
                           "class_weight": "balanced", "signs": "constrained"}, **(meta or {})}
    return VerifierModel(FEATURES, tuple(mean.tolist()), tuple(scale.tolist()), tuple(float(v) for v in coef),
                         intercept, info)


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve (probability a positive outranks a negative; ties count half)."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    neg_sorted = np.sort(neg)
    wins = sum(np.searchsorted(neg_sorted, p, "left") + 0.5 * (np.searchsorted(neg_sorted, p, "right")
                                                               - np.searchsorted(neg_sorted, p, "left"))
               for p in pos)
    return float(wins / (len(pos) * len(neg)))


def confidences(model: VerifierModel, rows: Sequence[dict[str, Any]]) -> list[float]:
    return [model.probability(r["features"]) if r["features"] is not None else 0.0 for r in rows]


def abstention_at(model: VerifierModel, rows: Sequence[dict[str, Any]], threshold: float) -> dict[str, float]:
    """Abstention scores of every row (answerable or not, retrieved or not) at ``threshold``."""
    conf = confidences(model, rows)
    return M.abstention_scores([c < threshold for c in conf], [r["answerable"] for r in rows])


def report(model: VerifierModel, rows: Sequence[dict[str, Any]], name: str) -> dict[str, Any]:
    labelled = [r for r in rows if training_label(r) is not None]
    conf = confidences(model, labelled)
    curve = tradeoff_curve(confidences(model, rows), [r["answerable"] for r in rows])
    return {"set": name, "n": len(rows), "answerable": sum(r["answerable"] for r in rows),
            "auc_labelled": auc(conf, [training_label(r) for r in labelled]),
            "auc_answerable": auc(confidences(model, rows), [int(r["answerable"]) for r in rows]),
            "best": best_threshold(curve)}


def _read(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: str, rows: Sequence[dict[str, Any]]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/train_abstain.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("collect", help="answer questions and record the verifier's features")
    p.add_argument("--squad", help="SQuAD v2.0 dev file")
    p.add_argument("--gold", help="gold JSONL (with --corpus)")
    p.add_argument("--corpus")
    p.add_argument("--index", help="index folder (built when absent)")
    p.add_argument("--per-split", default="3000:1200", help="train:heldout questions sampled (SQuAD)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true")
    p = sub.add_parser("fit", help="fit the logistic regression and write the model JSON")
    p.add_argument("features", help="collected SQuAD features (JSONL)")
    p.add_argument("--out", required=True)
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--check", action="append", default=[], help="collected gold features to report on")
    args = parser.parse_args(argv)
    if args.command == "collect":
        if args.squad:
            train, held = (int(x) for x in args.per_split.split(":"))
            rows = collect_squad(args.squad, args.index or "index/squad-v2.0", (train, held), args.seed,
                                 not args.quiet)
        elif args.gold and args.corpus:
            rows = collect_gold(args.gold, args.corpus, args.index, not args.quiet)
        else:
            parser.error("collect needs --squad, or --gold with --corpus")
        _write(args.out, rows)
        print(f"wrote {len(rows)} rows to {args.out}")
        return 0
    rows = _read(args.features)
    train = [r for r in rows if r["split"] == "train"]
    command = "python tools/train_abstain.py " + " ".join(sys.argv[1:] if argv is None else argv)
    model = fit(train, args.C, {"source": {"data": "SQuAD v2.0 dev (reconstructed), open corpus of its paragraphs",
                                           "features": args.features, "command": command,
                                           "held_out": f"articles whose index % {HELD_OUT_EVERY} == "
                                                       f"{HELD_OUT_EVERY - 1}"}})
    reports = [report(model, train, "squad2-train"), report(model, [r for r in rows if r["split"] == "heldout"],
                                                             "squad2-heldout")]
    reports += [report(model, _read(path), path) for path in args.check]
    model = VerifierModel(model.features, model.mean, model.scale, model.coef, model.intercept,
                          {**model.meta, "reports": reports})
    Path(args.out).write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
    for name, w in sorted(zip(FEATURES, model.coef), key=lambda x: -abs(x[1])):
        print(f"  {name:12s} {w:+.3f}")
    for r in reports:
        b = r["best"] or {}
        print(f"{r['set']}: n={r['n']} auc(labelled) {r['auc_labelled']:.3f} auc(answerable) "
              f"{r['auc_answerable']:.3f}; best t={b.get('threshold')} recall {b.get('abstain_recall')} "
              f"false {b.get('false_abstention_rate')}")
    print(f"wrote {args.out} ({MODEL_FORMAT} v{MODEL_VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
