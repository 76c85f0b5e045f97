"""Does the reader re-rank retrieval's passages better than retrieval ranks them? Measured on the dev split.

For each answerable question of the SQuAD v1.1 **dev** split (eval/splits/squad.json), over the open
index of all v1.1 paragraphs: hit@1 of retrieval's order, and hit@1 when the first ``--passages``
passages are re-ordered by the best span score the reader finds in each (what ``kb.ask`` reads).
A hit is a passage from the question's own paragraph. The test split is never read.

    python tools/measure_rerank.py [--passages 5] [--limit 600]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.squad import (default_data, default_index, load_dataset, split_questions, split_titles,  # noqa: E402
                        squad_index, squad_questions)
from rag.answer import reader_for, retrieve_for_answer  # noqa: E402
from rag.reader import ReaderPassage  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0, help="first N questions only (0: all)")
    args = ap.parse_args()
    dataset = load_dataset(default_data("1.1"))
    questions = [q for q in split_questions(dataset, squad_questions(dataset), split_titles("dev")) if q.answerable]
    questions = questions[: args.limit] if args.limit else questions
    kb, _ = squad_index(dataset, default_index("1.1"), {})
    snapshot = kb.snapshot()
    reader = reader_for(kb.config.reader)
    base = reranked = in_top = 0
    for q in questions:
        question, hits = retrieve_for_answer(snapshot, q.question, args.passages)
        hits = hits[: args.passages]
        reading = reader.read(question, [ReaderPassage(h.doc_id, h.text, h.start, h.chunk_id) for h in hits],
                              top_k=50)
        best: dict[int, float] = {}
        for s in reading.spans:
            best[s.passage] = max(best.get(s.passage, float("-inf")), s.score)
        order = sorted(range(len(hits)), key=lambda i: -best.get(i, float("-inf")))
        base += hits[0].doc_id == q.doc_id
        reranked += bool(order) and hits[order[0]].doc_id == q.doc_id
        in_top += any(h.doc_id == q.doc_id for h in hits)
    n = len(questions)
    result = {"questions": n, "passages": args.passages, "hit@1_retrieval": base / n,
              "hit@1_reader_reranked": reranked / n, f"hit@{args.passages}": in_top / n}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
