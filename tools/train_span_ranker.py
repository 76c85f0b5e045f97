"""Fit the span ranker (``rag/span_model.json``) that picks the answer among candidate spans.

What it does: for SQuAD v1.1 dev questions, runs the real answer pipeline up to the candidates
(retrieval over the open corpus of every dev paragraph, sentence scoring,
:func:`rag.answer.candidate_occurrences`) and records every occurrence's features with its
label (the span equals a gold answer after SQuAD normalisation); then fits a linear model with
a listwise softmax loss (per question, the log of the probability mass its gold occurrences take
among all its occurrences; L2 on standardised features), and reports EM of the top candidate,
ranked by the fitted model and by the hand-built score, on the training questions and on the
held-out ones.

Articles are split by position (every fifth article held out, as in ``tools/train_abstain.py``),
and the questions of the fixed evaluation sample (``python -m eval squad``: 1,000 questions,
seed 13) are never trained on, so the held-out figures come from questions and articles the fit
never saw.

    python tools/train_span_ranker.py collect --squad ../shared/benchmarks/squad/dev-v1.1.reconstructed.json \\
        --index index/squad-v1.1 --train 3000 --out eval/results/span/squad1.jsonl
    python tools/train_span_ranker.py fit eval/results/span/squad1.jsonl --out rag/span_model.json

It reaches into ``rag.answer`` on purpose (it trains an internal part), so it lives outside ``eval/``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval import metrics as M
from rag import answer as A
from rag.linear import LinearModel
from rag.span_rank import FEATURES, MODEL_FORMAT, MODEL_VERSION, SpanRanker, feature_matrix
from train_abstain import split_of  # the same article split as the verifier's (run as a script from tools/)

EVAL_SAMPLE, EVAL_SEED = 1000, 13  # the questions `python -m eval squad` reports on


def occurrences_of(kb: Any, question: str) -> list[A.Occurrence]:
    """The candidate occurrences the extractive answerer would score for ``question``."""
    snapshot = kb.snapshot()
    analyzer = A.default_analyzer()
    question, hits = A.retrieve_for_answer(snapshot, question, 5)
    frame = A.question_frame(question, A._tokens_of(analyzer, [question])[0])
    sentences = A.score_sentences(snapshot, question, hits)[:8]
    if not sentences:
        return []
    return A.candidate_occurrences(question, frame.qtype, sentences, analyzer, snapshot.data.bm25, frame)


def collect(path: str, index: str, n_train: int, n_heldout: int, seed: int, progress: bool) -> list[dict[str, Any]]:
    from tqdm import tqdm

    from eval.squad import load_dataset, sample_questions, squad_questions
    from rag import KnowledgeBase

    dataset = load_dataset(path)
    kb = KnowledgeBase.open(index)
    questions = squad_questions(dataset)
    evaluated = {q.id for q in sample_questions(questions, EVAL_SAMPLE, EVAL_SEED)}
    rng = random.Random(seed)
    train = [q for q in questions if split_of(q.doc_id) == "train" and q.id not in evaluated]
    heldout = [q for q in questions if split_of(q.doc_id) == "heldout"]
    items = [("train", q) for q in rng.sample(train, min(n_train, len(train)))]
    items += [("heldout", q) for q in rng.sample(heldout, min(n_heldout, len(heldout)))]
    rows = []
    for split, q in tqdm(items, unit="q", disable=not progress, dynamic_ncols=True):
        occs = occurrences_of(kb, q.question)
        rows.append({"id": q.id, "split": split, "in_eval_sample": q.id in evaluated, "question": q.question,
                     "answers": list(q.answers), "keys": [o.key for o in occs], "texts": [o.text for o in occs],
                     "heuristic": [o.heuristic for o in occs], "support": [list(o.support) for o in occs],
                     "features": [list(o.features) for o in occs],
                     "em": [int(M.exact_match(o.text, q.answers)) for o in occs]})
    return rows


def _occurrences(row: dict[str, Any]) -> list[A.Occurrence]:
    return [A.Occurrence(k, t, h, tuple(f), tuple(s)) for k, t, h, f, s in
            zip(row["keys"], row["texts"], row["heuristic"], row["features"], row["support"])]


def fit(rows: Sequence[dict[str, Any]], c: float = 1.0) -> LinearModel:
    """Listwise softmax fit: maximise, per question, the softmax mass of its gold occurrences."""
    from scipy.optimize import minimize

    groups = [(feature_matrix(r["features"]), np.asarray(r["em"], dtype=bool)) for r in rows
              if r["features"] and any(r["em"])]
    x_all = np.vstack([x for x, _ in groups])
    mean, scale = x_all.mean(axis=0), x_all.std(axis=0)
    scale[scale < 1e-9] = 1.0
    zs = [((x - mean) / scale, y) for x, y in groups]
    lam = 1.0 / c

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = 0.5 * lam * float(w @ w), lam * w
        for z, y in zs:
            s = z @ w
            s = s - s.max()
            e = np.exp(s)
            p_all = e / e.sum()
            p_pos = np.where(y, e, 0.0) / e[y].sum()
            value += float(np.log(e.sum()) - np.log(e[y].sum()))
            grad = grad + z.T @ (p_all - p_pos)
        return value, grad

    result = minimize(loss, np.zeros(len(FEATURES)), jac=True, method="L-BFGS-B")
    if not result.success:
        raise RuntimeError(f"the fit did not converge: {result.message}")
    meta = {"trained_on": {"questions": len(groups), "occurrences": int(len(x_all)), "C": c,
                           "loss": "listwise softmax over a question's occurrences", "data": "SQuAD v1.1 dev, "
                           "training articles, evaluation sample excluded"}}
    return LinearModel(FEATURES, tuple(mean.tolist()), tuple(scale.tolist()), tuple(float(v) for v in result.x),
                       0.0, meta)


def top_em(rows: Sequence[dict[str, Any]], ranker: SpanRanker | None) -> dict[str, float]:
    """EM and F1 of the best pooled candidate (ranker or hand-built score) over ``rows``."""
    ems, f1s = [], []
    for r in rows:
        cands = A.rank_occurrences(_occurrences(r), ranker)
        pred = cands[0].text if cands else ""
        ems.append(M.exact_match(pred, r["answers"]))
        f1s.append(M.f1(pred, r["answers"]))
    n = max(len(rows), 1)
    return {"n": len(rows), "em": 100.0 * sum(ems) / n, "f1": 100.0 * sum(f1s) / n}


def read_rows(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("collect", help="record candidate occurrences of SQuAD v1.1 questions")
    p.add_argument("--squad", required=True)
    p.add_argument("--index", required=True, help="an index of every SQuAD v1.1 dev paragraph")
    p.add_argument("--train", type=int, default=3000)
    p.add_argument("--heldout", type=int, default=1000)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true")
    p = sub.add_parser("fit", help="fit the ranker and report EM before and after")
    p.add_argument("rows")
    p.add_argument("--c", type=float, default=1.0)
    p.add_argument("--out", help="write the model JSON here")
    args = parser.parse_args(argv)
    if args.command == "collect":
        rows = collect(args.squad, args.index, args.train, args.heldout, args.seed, not args.quiet)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {len(rows)} questions to {args.out}")
        return 0
    rows = read_rows(args.rows)
    train = [r for r in rows if r["split"] == "train"]
    model = fit(train, args.c)
    ranker = SpanRanker(model)
    report = {}
    for name, subset in (("train", train), ("heldout", [r for r in rows if r["split"] == "heldout"])):
        report[name] = {"hand-built": top_em(subset, None), "ranker": top_em(subset, ranker)}
        for how, m in report[name].items():
            print(f"{name:8s} {how:10s} n={m['n']:5d} EM {m['em']:.1f} F1 {m['f1']:.1f}")
    if args.out:
        model = LinearModel(model.features, model.mean, model.scale, model.coef, model.intercept,
                            {**dict(model.meta), "report": report})
        Path(args.out).write_text(json.dumps(model.to_dict(MODEL_FORMAT, MODEL_VERSION), indent=1) + "\n",
                                  encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
