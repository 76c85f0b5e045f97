"""Ray Data ingestion against a local build, on the same machine and the same corpus.

SQuAD v1.1 dev paragraphs are written as a ``.jsonl`` corpus and indexed with the real
model (all-MiniLM-L6-v2) four ways:

- ``local``: ``KnowledgeBase.build`` in this process (model already loaded, torch on all cores);
- ``ray-1`` and ``ray-2``: ``build_with_ray`` with 1 and 2 workers on a local Ray instance
  (started once, outside the timings; each worker loads its own model copy, inside them);
- ``raw-1thread``: ``encode`` alone on one torch thread over exactly the texts the builds
  embedded: the per-core embedding throughput the capacity plan (docs/capacity.md) uses.

Ray stage times come from timing wrappers around ``rag.distributed``'s two Ray Data stages.

    python bench/ray_ingest.py                 # 300 paragraphs
    python bench/ray_ingest.py --paragraphs 100
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def timed_ray_stages() -> dict[str, Any]:
    """Wrap the two Ray stages of rag.distributed with timers; returns the live totals dict."""
    import rag.distributed as dist

    totals: dict[str, Any] = {"read_chunk_s": 0.0, "embed_s": 0.0, "texts": 0}
    read, embed = dist._read_and_chunk, dist.embed_with_ray

    def read_timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return read(*args, **kwargs)
        finally:
            totals["read_chunk_s"] += time.perf_counter() - t

    def embed_timed(texts: list[str], *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return embed(texts, *args, **kwargs)
        finally:
            totals["embed_s"] += time.perf_counter() - t
            totals["texts"] += len(texts)

    dist._read_and_chunk, dist.embed_with_ray = read_timed, embed_timed
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paragraphs", type=int, default=300)
    parser.add_argument("--squad", type=Path, default=common.DEFAULT_SQUAD)
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    args = parser.parse_args(argv)

    import ray

    from rag import Config, KnowledgeBase
    from rag.config import DEFAULT_EMBEDDER
    from rag.distributed import build_with_ray

    paragraphs, _ = common.load_squad(args.squad, args.paragraphs)
    work = Path(tempfile.mkdtemp(prefix="ray_ingest_"))
    corpus = common.write_corpus(paragraphs, work / "corpus" / "squad.jsonl")
    config = Config(embedder=DEFAULT_EMBEDDER)
    rows: list[dict[str, Any]] = []
    try:
        embedder = common.make_embedder("minilm")
        embedded: list[str] = []
        original = embedder.embed

        def recording(texts: Any, **kwargs: Any) -> Any:
            embedded.extend(texts)
            return original(texts, **kwargs)

        embedder.embed = recording
        t = time.perf_counter()
        kb = KnowledgeBase.build([corpus], work / "local", config, embedder=embedder)
        local_s = time.perf_counter() - t
        embedder.embed = original
        chunks = kb.stats()["chunks"]
        rows.append({"engine": "local", "workers": "-", "wall_s": local_s, "read_chunk_s": float("nan"),
                     "embed_s": float("nan"), "docs_per_s": len(paragraphs) / local_s,
                     "texts_per_s": len(embedded) / local_s})
        common.log(f"local build: {local_s:.1f} s, {chunks} chunks, {len(embedded)} texts embedded")

        t = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
        ray_init_s = time.perf_counter() - t
        totals = timed_ray_stages()
        for workers in (1, 2):
            totals.update(read_chunk_s=0.0, embed_s=0.0, texts=0)
            t = time.perf_counter()
            rkb = build_with_ray([corpus], work / f"ray{workers}", config, workers=workers)
            wall = time.perf_counter() - t
            assert rkb.stats()["chunks"] == chunks
            rows.append({"engine": "ray", "workers": workers, "wall_s": wall, "read_chunk_s": totals["read_chunk_s"],
                         "embed_s": totals["embed_s"], "docs_per_s": len(paragraphs) / wall,
                         "texts_per_s": totals["texts"] / wall})
            common.log(f"ray, {workers} worker(s): {wall:.1f} s")
        ray.shutdown()

        from rag.embed import SentenceTransformerEmbedder

        single = SentenceTransformerEmbedder(DEFAULT_EMBEDDER, threads=1)
        single.embed(["warm up"])
        t = time.perf_counter()
        single.embed(embedded)
        raw_s = time.perf_counter() - t
        rows.append({"engine": "raw-1thread", "workers": 1, "wall_s": raw_s, "read_chunk_s": float("nan"),
                     "embed_s": raw_s, "docs_per_s": len(paragraphs) / raw_s, "texts_per_s": len(embedded) / raw_s})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{len(paragraphs)} SQuAD paragraphs, {chunks} chunks, {len(embedded)} texts embedded "
          f"(chunks + sentences); Ray start-up {ray_init_s:.1f} s (not in the table)\n")
    print(common.table(rows, ["engine", "workers", "wall_s", "read_chunk_s", "embed_s", "docs_per_s", "texts_per_s"]))
    path = common.write_result("ray_ingest", {
        "paragraphs": len(paragraphs), "chunks": chunks, "texts_embedded": len(embedded),
        "embedder": DEFAULT_EMBEDDER, "ray_init_s": ray_init_s, "rows": rows,
        "per_core_texts_per_s": len(embedded) / raw_s,
    }, args.out)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
