"""Ingestion beyond one process: read, clean, chunk and embed with Ray Data, index as usual.

``build_with_ray`` writes the same index a local :meth:`KnowledgeBase.build` writes (same
chunk ids, texts, offsets, sentence rows; vectors equal within float tolerance), because it
runs the same code in other processes:

1. the file list is expanded on the driver (:func:`rag.ingest.iter_files`), then a Ray Data
   actor pool reads, cleans and chunks the files (:func:`rag.ingest.read_file`,
   :func:`rag.update.chunk_for_index`; each actor loads the embedder's tokenizer once);
2. the driver deduplicates and plans the build with :meth:`KnowledgeBase.build_documents`,
   which calls back here to embed the new chunk and sentence texts on a second actor pool
   (one embedder per actor, one CPU and one torch thread each);
3. the driver assembles the :class:`rag.store.IndexData` and saves it under the write lock,
   atomically, like any build. BM25 statistics are corpus-wide: the BM25 index is built over
   all chunk texts at that last step, never per worker.

Failures: a crashed actor is restarted and its batch retried (``max_restarts`` and
``max_task_retries`` below); a file that fails to parse is reported once in the report's
``skipped`` list. Ray is imported only inside these functions.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .embed import Embedder, SentenceTransformerEmbedder, make_embedder
from .errors import EmptyCorpusError, RagError
from .ingest import iter_files, read_file
from .kb import KnowledgeBase
from .types import Chunk, Document, Skipped
from .update import chunk_for_index

RETRIES = 3  # restarts of a dead actor, and retries of the batch it held
READ_BATCH = 8  # files per read-and-chunk call
EMBED_BLOCK = 256  # texts per Ray Data block to embed


def actor_embedder(spec: str, batch_size: int = 64, precision: str = "auto") -> Embedder:
    """The configured embedder with one torch thread: a Ray actor owns one CPU."""
    if spec == "hash" or spec.startswith("hash-"):
        return make_embedder(spec, batch_size)
    return SentenceTransformerEmbedder(spec, batch_size=batch_size, threads=1, precision=precision)


def _connect(address: str | None, workers: int) -> None:
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)


class _ReadAndChunk:
    """Ray Data UDF: file paths in, JSON of their documents with chunks (or skip reasons) out."""

    def __init__(self, factory: Callable[[], Embedder], config: dict[str, Any]) -> None:
        self.embedder = factory()
        self.config = Config.from_dict(config)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        payloads = []
        for path in batch["path"]:
            results: list[dict[str, Any]] = []
            try:
                for item in read_file(Path(str(path)), self.config.max_file_bytes):
                    if isinstance(item, Skipped):
                        results.append({"skipped": asdict(item)})
                    else:
                        chunks, spans = chunk_for_index(item, self.embedder, self.config)
                        results.append({"doc": asdict(item), "chunks": [asdict(c) for c in chunks],
                                        "spans": spans})
            except Exception as e:  # noqa: BLE001 - one bad file must not stop the build: report it
                results = [{"skipped": {"source": str(path), "reason": f"cannot parse: {type(e).__name__}: {e}"}}]
            payloads.append(json.dumps(results))
        return {"i": batch["i"], "payload": np.asarray(payloads, dtype=object)}


class _Embed:
    """Ray Data UDF: texts in, normalised vectors out; the embedder loads once per actor."""

    def __init__(self, factory: Callable[[], Embedder]) -> None:
        self.embedder = factory()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.embedder.embed([str(t) for t in batch["text"]])
        return {"i": batch["i"], "vector": np.asarray(vectors, dtype=np.float32)}


def _map_with_actors(ds: Any, udf: type, workers: int, batch_size: int, kwargs: dict[str, Any]) -> Any:  # noqa: ANN401
    """``ds.map_batches`` on a fixed pool of ``workers`` one-CPU actors with bounded retries."""
    import ray

    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing remote args this way but has no named parameter for
        # them; its own default is to restart and retry forever, which a file that kills the
        # worker every time would turn into an endless loop.
        warnings.simplefilter("ignore", DeprecationWarning)
        return ds.map_batches(udf, batch_size=batch_size, batch_format="numpy", fn_constructor_kwargs=kwargs,
                              compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
                              max_restarts=RETRIES, max_task_retries=RETRIES)


def _read_and_chunk(paths: Iterable[str], config: Config, factory: Callable[[], Embedder], workers: int,
                    ) -> tuple[list[Document], list[Skipped], dict[str, tuple[list[Chunk], list[tuple[int, int]]]]]:
    """Documents, skips and chunks in the order a local :func:`rag.ingest.load_documents` gives."""
    import ray

    listed = list(iter_files(paths))
    files = [(i, str(p)) for i, p in enumerate(listed) if not isinstance(p, Skipped)]
    results: dict[int, list[dict[str, Any]]] = {}
    if files:
        ds = ray.data.from_items([{"i": i, "path": p} for i, p in files],
                                 override_num_blocks=max(1, min(len(files), 4 * workers)))
        ds = _map_with_actors(ds, _ReadAndChunk, workers, READ_BATCH, {"factory": factory, "config": config.to_dict()})
        for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
            for i, payload in zip(batch["i"], batch["payload"]):
                results[int(i)] = json.loads(str(payload))
    if len(results) != len(files):
        raise RagError(f"Ray ingestion lost {len(files) - len(results)} of {len(files)} files")
    docs: list[Document] = []
    skipped: list[Skipped] = []
    chunked: dict[str, tuple[list[Chunk], list[tuple[int, int]]]] = {}
    for i, item in enumerate(listed):
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        for r in results[i]:
            if "skipped" in r:
                skipped.append(Skipped(**r["skipped"]))
                continue
            doc = Document(**r["doc"])
            docs.append(doc)
            chunks = [Chunk(**{**c, "sentences": tuple(tuple(s) for s in c["sentences"])}) for c in r["chunks"]]
            # A repeated doc id keeps its first chunks, as the local build keeps the first document.
            chunked.setdefault(doc.doc_id, (chunks, [tuple(s) for s in r["spans"]]))
    return docs, skipped, chunked


def embed_with_ray(texts: list[str], factory: Callable[[], Embedder], workers: int = 2,
                   batch_size: int = 64) -> np.ndarray:
    """Vectors of ``texts`` (in order), embedded by an actor pool of ``workers`` embedders."""
    import ray

    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    blocks = max(1, min(len(texts), max(2 * workers, -(-len(texts) // EMBED_BLOCK))))
    ds = ray.data.from_items([{"i": i, "text": t} for i, t in enumerate(texts)], override_num_blocks=blocks)
    ds = _map_with_actors(ds, _Embed, workers, batch_size, {"factory": factory})
    out: np.ndarray | None = None
    seen = 0
    for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
        vectors = np.asarray(batch["vector"], dtype=np.float32)
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[np.asarray(batch["i"], dtype=np.int64)] = vectors
        seen += len(vectors)
    if out is None or seen != len(texts):
        raise RagError(f"Ray embedding returned {seen} of {len(texts)} vectors")
    return out


def build_with_ray(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], index_dir: str | os.PathLike[str],
                   config: Config | None = None, *, address: str | None = None, workers: int = 2,
                   backend: str = "faiss", uri: str | None = None,
                   embedder_factory: Callable[[], Embedder] | None = None) -> KnowledgeBase:
    """Build ``index_dir`` from the articles under ``paths`` with Ray Data doing the heavy work.

    Without ``address`` a local Ray instance with ``workers`` CPUs is started; with one (e.g.
    ``"auto"`` or ``"ray://head:10001"``) the running cluster is joined. ``embedder_factory``
    (picklable, no arguments) replaces the configured embedder in every worker and the driver.
    Returns the opened :class:`KnowledgeBase`; ``kb.last_report`` lists what was skipped.
    """
    if workers < 1:
        raise RagError(f"workers={workers!r} must be at least 1")
    config = config or Config()
    factory = embedder_factory or partial(actor_embedder, config.embedder, config.batch_size,
                                          config.embed_precision)
    plain = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else [os.fspath(p) for p in paths]
    _connect(address, workers)
    docs, skipped, chunked = _read_and_chunk(plain, config, factory, workers)
    if not docs:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in skipped[:5]) or "no files given"
        raise EmptyCorpusError(f"no readable article found ({reasons})")
    embedder = embedder_factory() if embedder_factory else \
        make_embedder(config.embedder, config.batch_size, config.embed_precision)
    embed_fn = partial(embed_with_ray, factory=factory, workers=workers, batch_size=config.batch_size)
    return KnowledgeBase.build_documents(docs, skipped, index_dir, config, embedder=embedder, backend=backend,
                                         uri=uri, embed_fn=embed_fn, chunked=chunked, label=", ".join(plain))
