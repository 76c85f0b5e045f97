"""Grid over the sentence-score mix: retrieval on the demo gold set and on SQuAD v1.1 in one run.

For each ``sentence_dense_weight`` (the cosine share of a sentence's score) and ``sentence_weight``
(the best sentence's share of a chunk's final score), both indexes are reopened with those
search-time options and searched with the same code; the table gives hit@1 / hit@5 / MRR@10 for
each set. A hit is a chunk holding a gold evidence quote (demo, as ``python -m eval run``) or a
chunk of the question's own paragraph (SQuAD, the fixed sample of ``python -m eval squad``).

    python tools/sentence_mix.py --weights 0.5,0.55,0.6,0.65,0.7 --sentence-weights 0.5

Both indexes must exist (``rag index data/articles --index index/default``; ``python -m eval
squad --version 1.1 ... --index index/squad-v1.1``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.squad import sample_questions, squad_questions  # noqa: E402
from rag import KnowledgeBase  # noqa: E402


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def ranks(kb: KnowledgeBase, items: Sequence[tuple[str, Any]], hit: Callable[[Any, Any], bool]) -> str:
    """hit@1 / hit@5 / MRR@10 of ``items`` (question, target) over ``kb``."""
    h1 = h5 = mrr = 0.0
    for question, target in items:
        hits = kb.search(question, k=10)
        r = next((i for i, h in enumerate(hits) if hit(target, h)), None)
        h1 += r == 0
        h5 += r is not None and r < 5
        mrr += 1.0 / (r + 1) if r is not None else 0.0
    n = len(items)
    return f"{h1 / n:.3f} / {h5 / n:.3f} / {mrr / n:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gold", default=str(ROOT / "eval" / "gold" / "demo.jsonl"))
    p.add_argument("--demo-index", default=str(ROOT / "index" / "default"))
    p.add_argument("--squad", default=str(ROOT.parent / "shared" / "benchmarks" / "squad"
                                          / "dev-v1.1.reconstructed.json"))
    p.add_argument("--squad-index", default=str(ROOT / "index" / "squad-v1.1"))
    p.add_argument("--sample", type=int, default=1000)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--weights", default="0.5,0.6")
    p.add_argument("--sentence-weights", default="0.5")
    args = p.parse_args(argv)
    gold = [json.loads(line) for line in Path(args.gold).read_text(encoding="utf-8").splitlines() if line.strip()]
    demo_items = [(g["question"], [_fold(e["quote"]) for e in g["evidence"]]) for g in gold if g["answerable"]]
    dataset = json.loads(Path(args.squad).read_text(encoding="utf-8"))
    squad_items = [(q.question, q.doc_id) for q in sample_questions(squad_questions(dataset), args.sample, args.seed)]
    base = KnowledgeBase.open(args.demo_index)
    print("sentence_dense_weight  sentence_weight  demo hit@1 / hit@5 / MRR@10  SQuAD hit@1 / hit@5 / MRR@10")
    for w in (float(x) for x in args.weights.split(",")):
        for sw in (float(x) for x in args.sentence_weights.split(",")):
            options = {"sentence_dense_weight": w, "sentence_weight": sw}
            demo = KnowledgeBase.open(args.demo_index, embedder=base.embedder, **options)
            squad = KnowledgeBase.open(args.squad_index, embedder=base.embedder, **options)
            d = ranks(demo, demo_items, lambda quotes, h: any(q in _fold(h.text) for q in quotes))
            s = ranks(squad, squad_items, lambda doc_id, h: h.doc_id == doc_id)
            print(f"{w:21.2f}  {sw:15.2f}  {d:28s}  {s}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
