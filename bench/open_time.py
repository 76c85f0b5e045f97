"""Time to open an index and answer the first question; BM25 loaded vs rebuilt; memory.

For each size, a fresh subprocess (so that nothing is cached in the process; the OS page
cache is warm, as the index was just written or read):

1. loads the embedding model (timed apart: it does not depend on the index);
2. ``KnowledgeBase.open(folder)`` with checksum verification (the default: sizes and quick
   fingerprints), split into its parts by timing wrappers (the checks, documents from SQLite, FAISS
   read, BM25 load, id lookups, the retriever's rows per document; the rest is chunk ids and the
   memory-mapped tables and vectors);
3. answers the first question (``kb.ask``: query embedding, search, the reader's first load)
   and then a second one (warm);
4. loads ``bm25.npz`` again and rebuilds the BM25 index from the stored chunk texts
   (``BM25Index.build`` over title + text, as the build does), when the size is at most
   ``--rebuild-max`` (a rebuild at 10^6 takes minutes);
5. reports RSS after the model, after open, after the first answer, and the peak.

The indexes are the synthetic ones of ``synth.py`` (built in their own subprocess when
missing; that subprocess's peak RSS is the build memory).

    python bench/open_time.py                                   # 10^3 .. 10^6
    python bench/open_time.py --sizes 1000,10000,100000
    python bench/open_time.py --quick --embedder hash
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import synth  # noqa: E402

OPEN_PARTS = (  # (label, module, attribute)
    ("verify sizes + quick fingerprints", "rag.store", "verify_files"),
    ("FAISS read", "rag.vectors", "read"),
    ("documents from SQLite", "rag.tables", "_read_documents"),
    ("id lookups (vector ids, id -> row)", "rag.store", "IndexData.refresh_lookups"),
    ("retriever setup (chunk rows per document)", "rag.tables", "doc_rows"),
)


def _patch(totals: dict[str, float]) -> None:
    import importlib

    from rag.lexical import BM25Index

    def wrap(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                totals[label] += time.perf_counter() - t
        return timed

    for label, module_name, attr in OPEN_PARTS:
        owner: Any = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for p in path:
            owner = getattr(owner, p)
        setattr(owner, name, wrap(label, getattr(owner, name)))
    load = BM25Index.__dict__["load"]
    BM25Index.load = classmethod(wrap("BM25 load (bm25.npz + vocab)", load.__func__))


def child(folder: Path, spec: str, questions: list[str], rebuild: bool) -> dict[str, Any]:
    from rag import KnowledgeBase, store
    from rag.lexical import BM25Index
    from rag.update import embed_text

    out: dict[str, Any] = {}
    t = time.perf_counter()
    embedder = common.make_embedder(spec)
    out["model_load_s"] = time.perf_counter() - t
    out["rss_after_model_bytes"] = common.rss_bytes()
    totals: dict[str, float] = defaultdict(float)
    _patch(totals)
    t = time.perf_counter()
    kb = KnowledgeBase.open(folder, embedder=embedder)
    out["open_s"] = time.perf_counter() - t
    parts = dict(totals)
    parts["chunk ids, tables and vectors mmap (rest of store.load)"] = out["open_s"] - sum(parts.values())
    out["open_parts_s"] = parts
    out["rss_after_open_bytes"] = common.rss_bytes()
    t = time.perf_counter()
    first = kb.ask(questions[0])
    out["first_ask_s"] = time.perf_counter() - t
    out["first_answer"] = first.text[:200]
    t = time.perf_counter()
    kb.ask(questions[1])
    out["second_ask_s"] = time.perf_counter() - t
    t = time.perf_counter()
    kb.search(questions[2])
    out["warm_search_s"] = time.perf_counter() - t
    out["rss_after_first_answer_bytes"] = common.rss_bytes()
    out["open_plus_first_answer_s"] = out["open_s"] + out["first_ask_s"]
    out["stats"] = kb.stats()
    out["serve_peak_rss_bytes"] = common.peak_rss_bytes()  # before the BM25 reload and rebuild below

    t = time.perf_counter()
    store.verify_index(folder)  # what `rag verify` reads: every byte against its sha256
    out["full_verify_s"] = time.perf_counter() - t
    gen = store.current_generation(folder)
    t = time.perf_counter()
    loaded = BM25Index.load(gen)
    out["bm25_load_s"] = time.perf_counter() - t
    out["bm25_nnz"] = int(loaded.weights.nnz)
    out["bm25_memory_bytes"] = int(loaded.weights.data.nbytes + loaded.weights.indices.nbytes
                                   + loaded.weights.indptr.nbytes)
    if rebuild:
        data = kb._snapshot.data
        texts = [embed_text(data.documents[c.doc_id], c.text, data.config.embed_title) for c in data.chunks]
        t = time.perf_counter()
        rebuilt = BM25Index.build(texts)
        out["bm25_rebuild_s"] = time.perf_counter() - t
        out["bm25_rebuild_same"] = bool(rebuilt.vocab == loaded.vocab and
                                        abs(rebuilt.weights - loaded.weights).max() < 1e-5)
        del rebuilt, texts
    out["peak_rss_bytes"] = common.peak_rss_bytes()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--squad", type=Path, default=common.DEFAULT_SQUAD)
    ap.add_argument("--sizes", default="1000,10000,100000,1000000", help="chunks per index")
    ap.add_argument("--rebuild-max", type=int, default=100_000, help="largest size whose BM25 is also rebuilt")
    ap.add_argument("--embedder", choices=("minilm", "hash"), default="minilm")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached synthetic indexes")
    ap.add_argument("--quick", action="store_true", help="smoke run: 300 and 1,000 chunks")
    ap.add_argument("--out", type=Path, default=common.RESULTS)
    ap.add_argument("--merge", action="store_true", help="keep rows of other sizes from an earlier result")
    ap.add_argument("--child", nargs=2, metavar=("FOLDER", "JOB"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    spec = common.embedder_spec(args.embedder)
    if args.child:
        job = json.loads(Path(args.child[1]).read_text())
        result = child(Path(args.child[0]), spec, job["questions"], job["rebuild"])
        Path(args.child[1]).write_text(json.dumps(result))
        return 0
    if args.quick:
        args.sizes = "300,1000"
    sizes = [int(x) for x in args.sizes.split(",")]
    seed_dir, _ = synth.squad_index(spec, args.squad, limit=200 if args.quick else 0)
    _, all_questions = common.load_squad(args.squad)
    questions = [q.text for q in common.sample_questions(all_questions, 3)]
    rows = []
    for n in sizes:
        folder, info = synth.ensure_index(seed_dir, n, spec, force=args.rebuild)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump({"questions": questions, "rebuild": n <= args.rebuild_max}, fh)
        common.log(f"opening {info['chunks']:,} chunks ({info['index_type']})")
        subprocess.run([sys.executable, __file__, "--embedder", args.embedder, "--child", str(folder), fh.name],
                       check=True)
        result = json.loads(Path(fh.name).read_text())
        Path(fh.name).unlink()
        rows.append({"n_requested": n, "chunks": info["chunks"], "sentences": info["sentences"],
                     "documents": info["documents"], "index_type": info["index_type"],
                     "index_files_bytes": info.get("files_bytes", {}),
                     "index_bytes": sum(info.get("files_bytes", {}).values()),
                     "build": {"peak_rss_bytes": info.get("peak_rss_bytes"), "timings_s": info.get("timings")},
                     **result})
        common.log(f"  open {result['open_s']:.2f} s, first answer {result['first_ask_s']:.2f} s, "
                   f"bm25 load {result['bm25_load_s']:.3f} s, rebuild {result.get('bm25_rebuild_s', float('nan')):.2f} s")
    path = common.write_result("open_time", {"embedder": spec, "rows": rows}, args.out,
                               merge_on="n_requested" if args.merge else None)
    print(common.table([{
        "chunks": r["chunks"], "faiss": r["index_type"], "model_s": r["model_load_s"], "open_s": r["open_s"],
        "first_ask_s": r["first_ask_s"], "second_ask_s": r["second_ask_s"],
        "bm25_load_s": r["bm25_load_s"], "bm25_rebuild_s": r.get("bm25_rebuild_s", float("nan")),
        "full_verify_s": r.get("full_verify_s", float("nan"))} for r in rows],
        ["chunks", "faiss", "model_s", "open_s", "first_ask_s", "second_ask_s", "bm25_load_s", "bm25_rebuild_s",
         "full_verify_s"],
        "{:.3f}"))
    print("\nOpen, by part (s):")
    parts = list(rows[0]["open_parts_s"]) if rows else []
    print(common.table([{"chunks": r["chunks"], **r["open_parts_s"]} for r in rows], ["chunks", *parts], "{:.3f}"))
    print("\nMemory (MiB): build peak (subprocess), serving RSS after open / after first answer / peak "
          "(model included), files on disk:")
    print(common.table([{
        "chunks": r["chunks"], "build_peak": common.mib(r["build"]["peak_rss_bytes"] or 0),
        "model_only": common.mib(r["rss_after_model_bytes"]), "after_open": common.mib(r["rss_after_open_bytes"]),
        "after_answer": common.mib(r["rss_after_first_answer_bytes"]),
        "serve_peak": common.mib(r["serve_peak_rss_bytes"]),
        "disk": common.mib(r["index_bytes"])} for r in rows],
        ["chunks", "build_peak", "model_only", "after_open", "after_answer", "serve_peak", "disk"], "{:.0f}"))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
