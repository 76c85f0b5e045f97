"""Search latency and quality on a real index, with sentence scoring vectorised (the sentence-term
matrix stored with the index) against the tokenizing path it replaced, in the same run.

The index is the SQuAD v1.1 dev open corpus (every paragraph a document, ids as in
``python -m eval squad``), opened from ``--index`` or built there. Queries: the same seed-13
sample as ``python -m eval squad``; the first ``--warmup`` are untimed. The two paths alternate query by
query, so both see the same background load. Both must return the same ranking; the script
stops with an error if they do not.

    python bench/sentence_scoring.py --index index/squad-v1.1
    python bench/sentence_scoring.py --quick --embedder hash
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def _search(kb: Any, question: str, mode: str, matrix: Any) -> tuple[list[Any], float]:
    retriever = kb._snapshot.retriever  # noqa: SLF001 - the benchmark swaps the stored matrix
    retriever.data.bm25.sentence_terms = matrix
    with retriever._query_lock:  # noqa: SLF001 - each call embeds its query, as a new question would
        retriever._query_vectors.clear()  # noqa: SLF001
    t = time.perf_counter()
    hits = kb.search(question, k=10, mode=mode)
    return hits, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=common.ROOT / "index" / "squad-v1.1")
    ap.add_argument("--squad", type=Path, default=common.DEFAULT_SQUAD)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--modes", default="hybrid,dense,bm25")
    ap.add_argument("--embedder", choices=("minilm", "hash"), default="minilm")
    ap.add_argument("--quick", action="store_true", help="tiny corpus built on the fly (smoke test)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    sys.path.insert(0, str(common.ROOT))
    from eval import squad

    dataset = squad.load_dataset(args.squad)
    if args.quick:  # the first article only, in a temporary folder
        args.queries, args.warmup = 30, 3
        dataset = {**dataset, "data": dataset["data"][:1]}
        args.index = Path(tempfile.mkdtemp(prefix="bench-sentence-")) / "index"
    kb, _ = squad.squad_index(dataset, args.index, {"embedder": common.embedder_spec(args.embedder)})
    questions = squad.squad_questions(dataset)
    data = kb._snapshot.retriever.data  # noqa: SLF001
    matrix = data.bm25.sentence_terms
    if matrix is None:
        raise SystemExit(f"the index in {args.index} has no sentence-term matrix; rebuild it with this version")
    sample = squad.sample_questions(questions, args.queries, seed=13)
    rows = []
    for mode in args.modes.split(","):
        times: dict[str, list[float]] = {"tokenizing": [], "vectorised": []}
        hits_at: dict[str, list[float]] = {"hit@1": [], "hit@5": [], "mrr@10": []}
        for i, q in enumerate(sample):
            order = ("tokenizing", "vectorised") if i % 2 else ("vectorised", "tokenizing")
            got = {}
            for path in order:
                got[path], secs = _search(kb, q.question, mode, None if path == "tokenizing" else matrix)
                if i >= args.warmup:
                    times[path].append(secs)
            if [h.chunk_id for h in got["tokenizing"]] != [h.chunk_id for h in got["vectorised"]]:
                raise SystemExit(f"the two paths ranked {q.question!r} differently")
            rank = next((j + 1 for j, h in enumerate(got["vectorised"]) if h.doc_id == q.doc_id), None)
            hits_at["hit@1"].append(float(rank == 1))
            hits_at["hit@5"].append(float(rank is not None and rank <= 5))
            hits_at["mrr@10"].append(1.0 / rank if rank else 0.0)
        data.bm25.sentence_terms = matrix
        row = {"mode": mode, **{k: sum(v) / len(v) for k, v in hits_at.items()}}
        for path, secs in times.items():
            s = common.latency_summary(secs)
            row[f"{path}_median_ms"], row[f"{path}_p95_ms"] = s["median_ms"], s["p95_ms"]
        row["speedup"] = row["tokenizing_median_ms"] / row["vectorised_median_ms"]
        rows.append(row)
        common.log(f"{mode}: {row}")
    print(common.table(rows, ["mode", "hit@1", "hit@5", "mrr@10", "tokenizing_median_ms", "tokenizing_p95_ms",
                              "vectorised_median_ms", "vectorised_p95_ms", "speedup"], floats="{:.3f}"))
    path = common.write_result("sentence_scoring", {
        "index": str(args.index), "chunks": len(data.chunks), "sentences": len(data.sentences),
        "queries": len(sample), "warmup": args.warmup, "rows": rows}, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
