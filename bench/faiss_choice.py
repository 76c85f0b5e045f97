"""FAISS index choice: flat, HNSW and IVF-PQ at 10^5 and 10^6 vectors.

Vectors (``--vectors synthetic``, the default): the chunk vectors of the synthetic index of
``n`` chunks that the latency and open-time runs serve (``synth.py``: the 3,228 real SQuAD
v1.1 dev chunk embeddings, then noisy renormalised copies, noise 0.02 per dimension, cosine
~0.93 to the original); when that index holds an HNSW32 index (the earlier ``auto`` choice at
10^6) it is read from disk rather than built twice, with the build time measured when it was built. ``--vectors pool``
uses the 13.6k real chunk and sentence vectors as the base instead; ``--vectors mix`` makes
each new vector a mixture of two random real ones plus noise, ``normalise(v_i + 0.5 v_j + e)``,
which spreads the set out instead of making tight clusters of copies (at 10^6, the copies
recipe gives every real chunk ~310 near-identical copies, a worst case for graph indexes).
Queries: real SQuAD
questions (seed 13) embedded with the same model. Indexes are built by
``rag.vectors.build_index`` (the library's factory strings); the refined IVF-PQ variant
adds an exact re-ranking stage (``refine=True``: ``...,PQ48x8,RFlat``), and its unrefined
numbers are read from the same build by searching its base index.

For each index: build seconds, bytes (the written FAISS file), RSS growth of the process
during the build, single-query latency of ``rag.vectors.search`` (one OpenMP thread per
query; median, p95; ``k=50`` as the retriever asks for ``candidates=50``) and recall@10
against exact search (the share of the exact top 10 found in the approximate top 10).

    python bench/faiss_choice.py                      # 10^5 and 10^6
    python bench/faiss_choice.py --sizes 100000 --queries 300
    python bench/faiss_choice.py --vectors mix --types flat,ivfpq --pq-m 96 --nprobe 16,32
    python bench/faiss_choice.py --quick --embedder hash
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import synth  # noqa: E402


def _trim() -> None:
    """Give freed heap memory back to the OS so RSS deltas measure the next build only."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def index_bytes(index: Any) -> int:
    import faiss

    fd, name = tempfile.mkstemp(suffix=".faiss", dir=common.CACHE)
    os.close(fd)
    try:
        faiss.write_index(index, name)
        return os.path.getsize(name)
    finally:
        os.unlink(name)


def search_stats(index: Any, queries: np.ndarray, truth: np.ndarray, k: int, n_timed: int,
                 xb: np.ndarray) -> dict[str, Any]:
    """Single-query latency (``rag.vectors.search``, as the retriever calls it) over the first
    ``n_timed`` queries; recall@10 and score ratio@10 over all of them.

    The score ratio is the summed exact similarity of the 10 returned vectors over that of the
    exact top 10 (1.0: as good as exact). With near-duplicate copies in the data, a result can
    swap one copy for an almost equally similar one: recall counts that as a miss, the score
    ratio barely moves.
    """
    from rag import vectors as vec

    times = []
    found = np.full((len(queries), 10), -1, dtype=np.int64)
    for i in range(len(queries)):
        t = time.perf_counter()
        _, ids = vec.search(index, queries[i], k)
        if i < n_timed:
            times.append(time.perf_counter() - t)
        found[i, :min(10, len(ids))] = ids[:10]
    recall = float(np.mean([len(set(found[i]) & set(truth[i])) / 10 for i in range(len(queries))]))
    ratios = []
    for i in range(len(queries)):
        got = found[i][found[i] >= 0]
        best = float((xb[truth[i]] @ queries[i]).sum())
        ratios.append(float((xb[got] @ queries[i]).sum()) / best if best else 1.0)
    summary = common.latency_summary(times)
    return {"median_ms": summary["median_ms"], "p95_ms": summary["p95_ms"], "timed_queries": len(times),
            "recall_at_10": recall, "score_ratio_at_10": float(np.mean(ratios))}


def build_measured(fn: Any) -> tuple[Any, float, int]:
    _trim()
    before = common.rss_bytes()
    t = time.perf_counter()
    index = fn()
    seconds = time.perf_counter() - t
    _trim()
    return index, seconds, common.rss_bytes() - before


def run_size(n: int, pool: np.ndarray | None, seed_dir: Path, spec: str, queries: np.ndarray,
             args: argparse.Namespace) -> list[dict[str, Any]]:
    import faiss

    from rag import store
    from rag import vectors as vec

    rows: list[dict[str, Any]] = []
    prebuilt: dict[str, Any] = {}
    if pool is None:
        folder, info = synth.ensure_index(seed_dir, n, spec)
        gen = store.current_generation(folder)
        xb = np.ascontiguousarray(np.load(gen / "chunk_vectors.npy"), dtype=np.float32)
        prebuilt = {"type": info["index_type"], "path": gen / "vectors.faiss", "build_s": info["timings"]["faiss_s"]}
        n = len(xb)
    else:
        common.log(f"n={n:,}: generating vectors ({args.vectors})")
        grow = synth.mix_vectors if args.vectors == "mix" else synth.grow_vectors
        xb = grow(pool, n, noise=args.noise)
    ids = np.arange(n, dtype=np.int64)
    dim = xb.shape[1]

    t = time.perf_counter()
    exact = faiss.IndexFlatIP(dim)
    exact.add(xb)
    _, truth = exact.search(queries, 10)
    del exact
    common.log(f"n={n:,}: exact top 10 of {len(queries)} queries in {time.perf_counter() - t:.1f} s")

    def record(name: str, factory: str, setting: str, index: Any, build_s: float, nbytes: int, rss: int,
               n_timed: int) -> None:
        stats = search_stats(index, queries, truth, args.k, n_timed, xb)
        row = {"n": n, "index": name, "factory": factory, "setting": setting, "build_s": build_s,
               "index_bytes": nbytes, "rss_delta_bytes": rss, "bytes_per_vector": nbytes / n, **stats}
        rows.append(row)
        common.log(f"  {name:<22} {setting:<14} build {build_s:7.1f} s  {nbytes / 2**20:8.1f} MiB  "
                   f"median {stats['median_ms']:7.2f} ms  p95 {stats['p95_ms']:7.2f} ms  "
                   f"recall@10 {stats['recall_at_10']:.3f}  score ratio {stats['score_ratio_at_10']:.4f}")

    # Flat (exact): the library's default below Config.ann_threshold.
    if "flat" in args.types:
        index, secs, rss = build_measured(lambda: vec.build_index(xb, ids, "flat"))
        record("flat", vec.factory_string("flat", n, dim), "-", index, secs, index_bytes(index), rss,
               min(len(queries), args.flat_queries))
        del index

    for m in (args.hnsw_m if n < 1_000_000 else args.hnsw_m_large) if "hnsw" in args.types else ():
        if prebuilt.get("type") == "hnsw" and m == 32:  # the synthetic index's own HNSW32 (ids are vector ids)
            index, _, rss = build_measured(lambda: _with_row_ids(vec.read(str(prebuilt["path"])), n))
            secs = prebuilt["build_s"]
        else:
            index, secs, rss = build_measured(lambda m=m: vec.build_index(xb, ids, "hnsw", hnsw_m=m))
        nbytes = index_bytes(index)
        for ef in args.ef_search:
            vec.configure(index, ef_search=ef)
            record(f"HNSW{m}", vec.factory_string("hnsw", n, dim, hnsw_m=m), f"efSearch={ef}", index, secs,
                   nbytes, rss, len(queries))
        del index

    nlist = next((v for k, v in sorted(args.nlist.items()) if abs(k - n) <= 1), 0)
    for pq_m in (args.pq_m if n < 1_000_000 else args.pq_m_large) if "ivfpq" in args.types else ():
        index, secs, rss = build_measured(lambda pq_m=pq_m: vec.build_index(
            xb, ids, "ivfpq", nlist=nlist, pq_m=pq_m, refine=True))
        factory = vec.factory_string("ivfpq", n, dim, nlist=nlist, pq_m=pq_m, refine=True)
        refine = faiss.downcast_index(faiss.downcast_index(index).index)  # IDMap2 -> IndexRefineFlat
        base = faiss.downcast_index(refine.base_index)  # the IVF-PQ alone; its labels are row numbers = ids
        base_bytes = index_bytes(base)
        total_bytes = index_bytes(index)
        name = factory.split(",", 1)[1]
        for nprobe in args.nprobe:
            vec.configure(index, nprobe=nprobe)
            record(name.replace(",RFlat", ""), factory.replace(",RFlat", ""), f"nprobe={nprobe}", base, secs,
                   base_bytes, rss - (total_bytes - base_bytes), len(queries))
            record(name, factory, f"nprobe={nprobe}", index, secs, total_bytes, rss, len(queries))
        del index, refine, base
    del xb
    _trim()
    return rows


def _with_row_ids(index: Any, n: int) -> Any:
    """The index with its ids replaced by row numbers (a saved index maps rows to chunk vector ids)."""
    import faiss

    faiss.copy_array_to_vector(np.arange(n, dtype=np.int64), index.id_map)
    if hasattr(index, "construct_rev_map"):
        index.construct_rev_map()
    return index


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--squad", type=Path, default=common.DEFAULT_SQUAD)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--queries", type=int, default=500, help="SQuAD questions used as queries")
    ap.add_argument("--flat-queries", type=int, default=100, help="timed queries for exact search")
    ap.add_argument("--k", type=int, default=50, help="results per search (the retriever asks for 50)")
    ap.add_argument("--hnsw-m", default="16,32")
    ap.add_argument("--hnsw-m-large", default="32", help="HNSW M values at 10^6 and above (each build takes minutes)")
    ap.add_argument("--vectors", choices=("synthetic", "pool", "mix"), default="synthetic")
    ap.add_argument("--name", default="faiss_choice", help="result file name (bench/results/NAME.json)")
    ap.add_argument("--types", default="flat,hnsw,ivfpq", help="index families to build (comma-separated)")
    ap.add_argument("--ef-search", default="64,128,256")
    ap.add_argument("--pq-m", default="48,96")
    ap.add_argument("--pq-m-large", default="48,96", help="PQ sizes at 10^6 and above (each build takes minutes)")
    ap.add_argument("--nprobe", default="8,16,32,64")
    ap.add_argument("--nlist", default="",
                    help="n:nlist pairs (e.g. 1000000:1024); other sizes use the library default 4*sqrt(n)")
    ap.add_argument("--noise", type=float, default=0.02)
    ap.add_argument("--build-threads", type=int, default=0, help="OpenMP threads for builds (0: FAISS default)")
    ap.add_argument("--embedder", choices=("minilm", "hash"), default="minilm")
    ap.add_argument("--quick", action="store_true", help="smoke run: 12,000 vectors, 30 queries, fewer settings")
    ap.add_argument("--out", type=Path, default=common.RESULTS)
    ap.add_argument("--merge", action="store_true", help="keep rows of other sizes from an earlier result")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.queries, args.flat_queries = "12000", 30, 30
        args.hnsw_m, args.ef_search, args.pq_m, args.nprobe, args.nlist = "16", "64", "48", "8", ""
        args.vectors, args.build_threads, args.pq_m_large = "pool", 1, "48"
    args.types = set(args.types.split(","))
    if args.types - {"flat", "hnsw", "ivfpq"}:
        ap.error(f"--types: unknown {', '.join(sorted(args.types - {'flat', 'hnsw', 'ivfpq'}))}")
    args.hnsw_m = [int(x) for x in args.hnsw_m.split(",")]
    args.hnsw_m_large = [int(x) for x in args.hnsw_m_large.split(",")]
    args.ef_search = [int(x) for x in args.ef_search.split(",")]
    args.pq_m = [int(x) for x in args.pq_m.split(",")]
    args.pq_m_large = [int(x) for x in args.pq_m_large.split(",")]
    args.nprobe = [int(x) for x in args.nprobe.split(",")]
    args.nlist = {int(a): int(b) for a, b in (p.split(":") for p in args.nlist.split(",") if p)}
    sizes = [int(x) for x in args.sizes.split(",")]
    if args.build_threads:
        import faiss

        faiss.omp_set_num_threads(args.build_threads)

    spec = common.embedder_spec(args.embedder)
    embedder = common.make_embedder(args.embedder)
    seed_dir, _ = synth.squad_index(spec, args.squad, limit=200 if args.quick else 0, embedder=embedder)
    pool = synth.vector_pool(seed_dir) if args.vectors in ("pool", "mix") else None
    _, questions = common.load_squad(args.squad)
    queries = synth.question_vectors(embedder, spec, common.sample_questions(questions, args.queries))
    del embedder
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rows.extend(run_size(n, pool, seed_dir, spec, queries, args))
    path = common.write_result(args.name, {
        "embedder": spec, "vectors": args.vectors, "pool_vectors": len(pool) if pool is not None else None,
        "noise": args.noise, "queries": len(queries), "k": args.k,
        "faiss_threads": __import__("faiss").omp_get_max_threads(), "rows": rows}, args.out,
                               merge_on="n" if args.merge else None)
    for r in rows:
        r["MiB"] = r["index_bytes"] / 2**20
        r["rss_MiB"] = r["rss_delta_bytes"] / 2**20
    print(common.table(rows, ["n", "index", "setting", "build_s", "MiB", "rss_MiB", "median_ms", "p95_ms",
                              "recall_at_10", "score_ratio_at_10"], "{:.3f}"))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
