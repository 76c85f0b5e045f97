"""Query latency of search (hybrid, dense, bm25) and ask at 10^3 to 10^6 chunks.

Indexes: synthetic indexes grown from the real SQuAD v1.1 dev index (see ``synth.py``:
real texts, chunks, sentences and all-MiniLM-L6-v2 vectors, then copies with 10% of words
dropped and noisy vectors), saved with ``rag.store.save`` and opened with
``KnowledgeBase.open(..., verify=False)``, so the FAISS index is what ``index_type="auto"``
picks (flat below 200,000 chunks, HNSW32 above). Queries: SQuAD v1.1 dev questions, a
fixed sample (seed 13); the first ``--warmup`` are run untimed. All sizes are served by one
subprocess that opens every size and runs each query on every size in turn, so that
all sizes see the same background load (the machine is shared); serving memory per size is
measured by ``open_time.py``, one process per size.

Besides end-to-end times, the hybrid searches are split into the retriever's stages
(query embedding, FAISS, BM25, sentence scoring, diversification) by timing wrappers.

    python bench/latency.py                                  # 10^3, 10^4, 10^5, 10^6
    python bench/latency.py --sizes 1000,10000 --queries 300
    python bench/latency.py --quick --embedder hash
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import synth  # noqa: E402

RETRIEVER_STAGES = ("embed_query", "dense_candidates", "bm25_candidates", "sentence_scores", "_diversify")


def _wrap_stages(retriever: Any, totals: dict[str, float]) -> None:
    """Time the retriever's stages on this instance (instance attributes shadow the methods)."""
    for name in RETRIEVER_STAGES:
        original = getattr(retriever, name)

        def timed_stage(*a: Any, _f: Any = original, _n: str = name, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _f(*a, **kw)
            finally:
                totals[_n] += time.perf_counter() - t0

        setattr(retriever, name, timed_stage)


def _unwrap_stages(retriever: Any) -> None:
    for name in RETRIEVER_STAGES:
        delattr(retriever, name)


def serve(folders: list[Path], spec: str, questions: list[str], warmup: int, modes: list[str], n_ask: int,
          k: int) -> list[dict[str, Any]]:
    """In the child process: open every index, then time each query on every index in turn.

    Interleaving (query 1 on every size, then query 2, ...) puts every size under the same
    background load, so the sizes compare fairly on a shared machine.
    """
    from rag import KnowledgeBase

    t = time.perf_counter()
    embedder = common.make_embedder("hash" if spec == "hash" else "minilm")
    model_load_s = time.perf_counter() - t
    kbs, out = [], []
    for folder in folders:
        t = time.perf_counter()
        kbs.append(KnowledgeBase.open(folder, embedder=embedder, verify=False))
        out.append({"open_s": time.perf_counter() - t, "model_load_s": model_load_s, "stats": kbs[-1].stats(),
                    "rss_after_open_total_bytes": common.rss_bytes()})
        common.log(f"  opened {folder.name} in {out[-1]['open_s']:.1f} s")
    warm, timed = questions[:warmup], questions[warmup:]
    for q in warm:
        for kb in kbs:
            for mode in modes:
                kb.search(q, k=k, mode=mode)
            kb.ask(q, k=k)
    times: list[dict[str, list[float]]] = [defaultdict(list) for _ in kbs]
    totals: list[dict[str, float]] = [defaultdict(float) for _ in kbs]
    for i, q in enumerate(timed):
        t = time.perf_counter()
        embedder.embed([q])
        embed_s = time.perf_counter() - t
        for j, kb in enumerate(kbs):
            times[j]["embed_query"].append(embed_s)
            for mode in modes:
                retriever = kb._snapshot.retriever
                if mode == "hybrid":
                    _wrap_stages(retriever, totals[j])
                # Every timed call embeds its query: the retriever keeps the last few query vectors
                # (an answer embeds its question twice), which would hand later modes a free vector.
                retriever._query_vectors.clear()
                t = time.perf_counter()
                kb.search(q, k=k, mode=mode)
                times[j][mode].append(time.perf_counter() - t)
                if mode == "hybrid":
                    _unwrap_stages(retriever)
            if i < n_ask:
                kb._snapshot.retriever._query_vectors.clear()
                t = time.perf_counter()
                kb.ask(q, k=k)
                times[j]["ask"].append(time.perf_counter() - t)
        if (i + 1) % 50 == 0:
            common.log(f"  {i + 1}/{len(timed)} queries")
    for j in range(len(kbs)):
        out[j]["modes"] = {m: common.latency_summary(times[j][m]) for m in [*modes, "ask"] if times[j][m]}
        out[j]["embed_query"] = common.latency_summary(times[j]["embed_query"])
        n_hybrid = len(times[j]["hybrid"]) or 1
        out[j]["hybrid_stages_mean_ms"] = {n: totals[j][n] * 1000 / n_hybrid for n in RETRIEVER_STAGES}
        out[j]["peak_rss_all_sizes_bytes"] = common.peak_rss_bytes()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--squad", type=Path, default=common.DEFAULT_SQUAD)
    ap.add_argument("--sizes", default="1000,10000,100000,1000000", help="chunks per index")
    ap.add_argument("--queries", type=int, default=200, help="timed queries per size")
    ap.add_argument("--queries-large", type=int, default=200, help="timed queries when a size is >= 10^6")
    ap.add_argument("--ask-queries", type=int, default=100, help="timed ask() calls per size (0: as many as --queries)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--modes", default="hybrid,dense,bm25")
    ap.add_argument("--embedder", choices=("minilm", "hash"), default="minilm")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached synthetic indexes")
    ap.add_argument("--quick", action="store_true", help="smoke run: 300 and 1,000 chunks, 10 queries")
    ap.add_argument("--out", type=Path, default=common.RESULTS)
    ap.add_argument("--merge", action="store_true", help="keep rows of other sizes from an earlier result")
    ap.add_argument("--child", metavar="JOB", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    spec = common.embedder_spec(args.embedder)
    if args.child:
        job = json.loads(Path(args.child).read_text())
        result = serve([Path(f) for f in job["folders"]], spec, job["questions"], job["warmup"], job["modes"],
                       job["n_ask"], job["k"])
        Path(args.child).write_text(json.dumps(result))
        return 0
    if args.quick:
        args.sizes, args.queries, args.queries_large, args.warmup = "300,1000", 10, 10, 2
    sizes = [int(x) for x in args.sizes.split(",")]
    modes = args.modes.split(",")

    seed_dir, _ = synth.squad_index(spec, args.squad, limit=200 if args.quick else 0)
    _, all_questions = common.load_squad(args.squad)
    built = [synth.ensure_index(seed_dir, n, spec, force=args.rebuild) for n in sizes]
    n_q = args.queries if max(sizes) < 1_000_000 else args.queries_large
    questions = [q.text for q in common.sample_questions(all_questions, n_q + args.warmup)]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"folders": [str(f) for f, _ in built], "questions": questions, "warmup": args.warmup,
                   "modes": modes, "k": args.k, "n_ask": min(n_q, args.ask_queries or n_q)}, fh)
    sizes_text = ", ".join(f"{info['chunks']:,}" for _, info in built)
    common.log(f"serving {sizes_text} chunks, interleaved: {n_q} queries per mode and size")
    subprocess.run([sys.executable, __file__, "--embedder", args.embedder, "--child", fh.name], check=True)
    results = json.loads(Path(fh.name).read_text())
    Path(fh.name).unlink()
    rows = []
    for n, (_, info), result in zip(sizes, built, results):
        rows.append({"n_requested": n, "chunks": info["chunks"], "sentences": info["sentences"],
                     "documents": info["documents"], "index_type": info["index_type"], **result})
        summary = ", ".join(f"{m} {v['median_ms']:.1f}/{v['p95_ms']:.1f}" for m, v in result["modes"].items())
        common.log(f"  {info['chunks']:,} chunks, median/p95 ms: {summary}")
    path = common.write_result("latency", {"embedder": spec, "k": args.k, "warmup": args.warmup, "rows": rows},
                               args.out,
                               merge_on="n_requested" if args.merge else None)
    table_rows = []
    for r in rows:
        for mode, v in r["modes"].items():
            table_rows.append({"chunks": r["chunks"], "faiss": r["index_type"], "mode": mode, "queries": v["n"],
                               "median_ms": v["median_ms"], "p95_ms": v["p95_ms"]})
        table_rows.append({"chunks": r["chunks"], "faiss": r["index_type"], "mode": "(embed query only)",
                           "queries": r["embed_query"]["n"], "median_ms": r["embed_query"]["median_ms"],
                           "p95_ms": r["embed_query"]["p95_ms"]})
    print(common.table(table_rows, ["chunks", "faiss", "mode", "queries", "median_ms", "p95_ms"], "{:.1f}"))
    print("\nHybrid search, mean ms per stage:")
    print(common.table([{"chunks": r["chunks"], **r.get("hybrid_stages_mean_ms", {})} for r in rows],
                       ["chunks", *RETRIEVER_STAGES], "{:.2f}"))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
