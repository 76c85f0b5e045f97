"""The knowledge base: wires ingest, clean, chunk, embed, index, retrieve and answer.

``KnowledgeBase`` is the public entry point. It is safe to share between threads:
searches read an immutable snapshot, and writers (``add``, ``remove``) build a new
snapshot, persist it atomically under a cross-process lock, then swap it in.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import backends, store, update
from . import vectors as vec
from .config import Config
from .embed import Embedder, make_embedder
from .errors import ConfigError, EmptyCorpusError, IndexMismatchError, IndexNotFoundError
from .ingest import load_documents
from .normalize import normalize_text
from .retrieve import Filters, Retriever
from .store import IndexData
from .types import Document, Hit, IngestReport, Skipped
from .update import Chunked, EmbedFn

# Options that change how an index is built; the rest only change how it is searched.
BUILD_OPTIONS = frozenset({"embedder", "embed_precision", "embed_title", "chunk_vectors", "sentence_vector_dtype",
                           "chunk_tokens",
                           "overlap_sentences", "index_type", "ann_threshold", "hnsw_m", "ivf_nlist", "pq_m",
                           "ivf_refine"})
PathsLike = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


def _as_paths(paths: PathsLike) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def chunk_metadata(data: IndexData, rows: Sequence[int]) -> list[dict[str, Any]]:
    """The filterable fields a vector store keeps with each chunk vector."""
    out = []
    for row in rows:
        c = data.chunks[row]
        doc = data.documents[c.doc_id]
        out.append({"doc_id": c.doc_id, "start": c.start, "end": c.end, "source": doc.source or "",
                    "date": doc.date or ""})
    return out


@dataclass(frozen=True)
class _Snapshot:
    data: IndexData
    retriever: Retriever


class KnowledgeBase:
    """A persisted, searchable collection of articles.

    Example::

        kb = KnowledgeBase.build(["data/articles"], "index/default")
        for hit in kb.search("Who was killed alongside Soleimani?", k=3):
            print(hit.doc_id, hit.start, hit.end, hit.text[:80])
    """

    def __init__(self, index_dir: Path, data: IndexData, embedder: Embedder,
                 options: dict[str, Any] | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.embedder = embedder
        self._write_lock = threading.Lock()
        self._options = dict(options or {})  # search-time overrides of this session, never persisted
        self._snapshot = self._make_snapshot(data)

    def _make_snapshot(self, data: IndexData) -> _Snapshot:
        config = data.config.with_(**self._options) if self._options else data.config
        if data.faiss_index is not None and {"ivf_nprobe", "hnsw_ef_search"} & set(self._options):
            # Search-time overrides of this session reach the FAISS index (set on the loaded copy).
            vec.configure(data.faiss_index, ef_search=config.hnsw_ef_search, nprobe=config.ivf_nprobe)
        return _Snapshot(data, Retriever(data, self.embedder, config))

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def build(cls, paths: PathsLike, index_dir: str | os.PathLike[str], config: Config | None = None,
              *, embedder: Embedder | None = None, progress: bool = False, backend: str = "faiss",
              uri: str | None = None) -> KnowledgeBase:
        """Read, clean, chunk, embed and index the articles under ``paths`` into ``index_dir``.

        Replaces any index already there (atomically). Bad files are skipped and reported
        in ``kb.last_report``; a corpus with no readable article raises
        :class:`EmptyCorpusError`. ``backend="milvus"`` serves the chunk vectors from a Milvus
        collection at ``uri`` (default: a milvus-lite file in ``index_dir``); the manifest records
        it, so :meth:`open` reconnects.
        """
        config = config or Config()
        embedder = embedder or make_embedder(config.embedder, config.batch_size, config.embed_precision)
        docs, skipped = load_documents(_as_paths(paths), config.max_file_bytes)
        return cls.build_documents(docs, skipped, index_dir, config, embedder=embedder, progress=progress,
                                   backend=backend, uri=uri, label=", ".join(_as_paths(paths)))

    @classmethod
    def build_documents(cls, docs: list[Document], skipped: list[Skipped], index_dir: str | os.PathLike[str],
                        config: Config, *, embedder: Embedder, progress: bool = False, backend: str = "faiss",
                        uri: str | None = None, embed_fn: EmbedFn | None = None, chunked: Chunked | None = None,
                        label: str = "") -> KnowledgeBase:
        """Build an index from documents already read; ``embed_fn`` and ``chunked`` let another
        engine (:mod:`rag.distributed`) do the embedding and chunking, with the same result."""
        index_dir = Path(index_dir)
        info = backends.store_info(backend, uri, index_dir)
        empty = IndexData(config=config, embedder=cls._embedder_info(config, embedder), vector_store=info)
        with store.write_lock(index_dir):
            data, report = update.apply_changes(empty, embedder, docs, skipped, remove=(), progress=progress,
                                      embed_fn=embed_fn, chunked=chunked)
            if not data.documents:
                raise EmptyCorpusError(f"no article left to index in {label or index_dir}")
            previous = cls._live_vector_store(index_dir)
            data.backend = backends.open_backend(info, index_dir, int(embedder.dim), create=True)
            cls._publish(index_dir, empty, data, report)
            if previous and previous.get("name") == "milvus" and previous != info:
                try:  # the replaced index's collection; best effort, the new index is already live
                    backends.open_backend(previous, index_dir, int(embedder.dim)).drop()
                except Exception:  # noqa: BLE001, S110 - a stale collection is harmless
                    pass
        kb = cls(index_dir, data, embedder)
        kb.last_report = report
        return kb

    @staticmethod
    def _live_vector_store(index_dir: Path) -> dict[str, Any] | None:
        try:
            return store.read_manifest(store.current_generation(index_dir)).get("vector_store", {"name": "faiss"})
        except Exception:  # noqa: BLE001 - no index, or an unreadable one: nothing to clean up
            return None

    @staticmethod
    def _publish(index_dir: Path, base: IndexData, data: IndexData, report: IngestReport) -> None:
        """Save ``data``; with an external vector store, add new vectors before and remove old ones after.

        That order keeps a reader of the previous snapshot whole: it ignores ids it does not know
        and still finds every vector it does until the new generation is current.
        """
        backend = data.backend
        old = {int(v) for v in base.vids}
        if backend is not None:
            changed = set(report.added) | set(report.updated)
            rows = [i for i, c in enumerate(data.chunks) if c.doc_id in changed or int(data.vids[i]) not in old]
            backend.add(data.vids[rows], np.asarray(data.chunk_vectors)[rows], chunk_metadata(data, rows))
        store.save(index_dir, data)
        if backend is not None:
            gone = old - {int(v) for v in data.vids}
            backend.remove(np.asarray(sorted(gone), dtype=np.int64))

    @staticmethod
    def verify(index_dir: str | os.PathLike[str]) -> dict[str, Any]:
        """Check every byte of the index in ``index_dir`` against its sha256 (opening checks only sizes
        and quick fingerprints); return its generation, files and bytes, or raise
        :class:`IndexCorruptError` naming the damaged file."""
        manifest = store.verify_index(Path(index_dir))
        files = manifest.get("files", {})
        return {"generation": manifest.get("generation"), "files": len(files),
                "bytes": sum(int(f.get("bytes", 0)) for f in files.values())}

    @classmethod
    def open(cls, index_dir: str | os.PathLike[str], *, embedder: Embedder | str | None = None,
             verify: bool = True, **options: Any) -> KnowledgeBase:
        """Open a persisted index; ``options`` override search-time config fields.

        ``embedder`` (a spec or an object) must match the one the index was built with,
        else :class:`IndexMismatchError`. ``verify`` checks each file's size and quick fingerprint
        (:func:`rag.store.sample_sha256`); :meth:`verify` reads every byte.
        """
        data = store.load(Path(index_dir), verify=verify)
        built = data.embedder
        if isinstance(embedder, str) and embedder != built.get("spec"):
            raise IndexMismatchError(f"index in {index_dir} was built with embedder {built.get('spec')!r} "
                                     f"({built.get('name')}, dim {built.get('dim')}), not {embedder!r}; "
                                     f"rebuild it or open it with the same embedder")
        model = embedder if embedder is not None and not isinstance(embedder, str) else \
            make_embedder(built["spec"], data.config.batch_size, data.config.embed_precision)
        if not isinstance(embedder, str) and embedder is not None and (
                embedder.name != built.get("name") or embedder.dim != built.get("dim")):
            raise IndexMismatchError(f"index in {index_dir} was built with {built.get('name')} "
                                     f"(dim {built.get('dim')}), not {embedder.name} (dim {embedder.dim})")
        if options:
            cls._check_search_options(options)
            data.config.with_(**options)  # validate now
        return cls(Path(index_dir), data, model, options)

    @staticmethod
    def _check_search_options(options: dict[str, Any]) -> None:
        names = {f.name for f in fields(Config)}
        unknown = set(options) - names
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))}")
        fixed = set(options) & BUILD_OPTIONS
        if fixed:
            raise ConfigError(f"option(s) {', '.join(sorted(fixed))} are fixed when the index is built; "
                              f"rebuild to change them")

    @staticmethod
    def _embedder_info(config: Config, embedder: Embedder) -> dict[str, Any]:
        return {"spec": config.embedder, "name": embedder.name, "dim": int(embedder.dim),
                "max_tokens": int(embedder.max_tokens), "precision": getattr(embedder, "precision", "float32")}

    # ---- reading ------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        """The configuration in force: the index's own, with this session's search options."""
        return self._snapshot.retriever.config

    def documents(self) -> list[Document]:
        """Every indexed document, in insertion order."""
        return list(self._snapshot.data.documents.values())

    def document(self, doc_id: str) -> Document:
        try:
            return self._snapshot.data.documents[doc_id]
        except KeyError:
            raise KeyError(f"no document {doc_id!r} in the index") from None

    def stats(self) -> dict[str, Any]:
        """Counts, embedder and dates of the index."""
        data = self._snapshot.data
        return {"documents": len(data.documents), "chunks": len(data.chunks), "sentences": len(data.sentences),
                "embedder": data.embedder.get("name"), "dim": data.embedder.get("dim"),
                "index_type": data.index_type, "created_at": data.created_at, "updated_at": data.updated_at,
                "index_dir": str(self.index_dir)}

    def search(self, query: str, k: int = 5, filters: Filters | dict[str, Any] | None = None,
               mode: str | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query`` (``mode``: "hybrid", "dense" or "bm25")."""
        return self._snapshot.retriever.search(query, k=k, filters=filters, mode=mode)

    def snapshot(self) -> _Snapshot:
        """The current immutable view (data and retriever); one answer reads only one snapshot."""
        return self._snapshot

    def ask(self, question: str, k: int = 5, mode: str = "extractive",
            filters: Filters | dict[str, Any] | None = None, llm: Any = None, search_mode: str | None = None,
            by_source: bool = False):  # noqa: ANN201
        """Answer ``question`` with cited evidence, or abstain.

        ``mode="extractive"`` (default, :mod:`rag.answer`) or ``"llm"`` (:mod:`rag.generate`: the
        bundled local model, or ``llm`` = any LangChain chat model or generator). ``by_source=True``
        (extractive) answers once per source that has the answer and lists those that do not
        (:mod:`rag.sources`). One answer reads one snapshot of the index, even if a write lands meanwhile.
        """
        if mode not in ("extractive", "llm"):
            raise ConfigError(f"mode={mode!r} is not valid; choose extractive or llm")
        snapshot = self._snapshot
        if by_source:
            if mode == "llm" or llm is not None:
                raise ConfigError("by_source=True answers extractively; use it without mode='llm' or llm=")
            from .sources import answer_by_source

            return answer_by_source(snapshot, question, k=k, filters=filters, search_mode=search_mode)
        if mode == "llm" or llm is not None:
            from .generate import generate_answer

            return generate_answer(snapshot, question, k=k, llm=llm, filters=filters, search_mode=search_mode)
        from .answer import answer_question

        return answer_question(snapshot, question, k=k, filters=filters, search_mode=search_mode)

    def ask_stream(self, question: str, k: int = 5, filters: Filters | dict[str, Any] | None = None,
                   llm: Any = None, search_mode: str | None = None):  # noqa: ANN201
        """LLM mode, streamed: yields the draft's text pieces, then the verified :class:`Answer`."""
        from .generate import stream_answer

        yield from stream_answer(self._snapshot, question, k=k, llm=llm, filters=filters, search_mode=search_mode)

    def as_retriever(self, k: int = 5, **search_kwargs: Any):  # noqa: ANN201
        """A LangChain ``BaseRetriever`` over this knowledge base."""
        from .langchain_adapter import KnowledgeBaseRetriever

        return KnowledgeBaseRetriever(kb=self, k=k, search_kwargs=search_kwargs)

    # ---- writing ------------------------------------------------------------------------
    def add(self, paths: PathsLike, *, progress: bool = False) -> IngestReport:
        """Add or update articles; only new or changed chunks are embedded."""
        docs, skipped = load_documents(_as_paths(paths), self.config.max_file_bytes, require_any=False)
        return self._write(docs, skipped, remove=(), progress=progress)

    def add_documents(self, docs: Sequence[Document]) -> IngestReport:
        """Add or update already-built :class:`Document` objects (text normalised; empty ones skipped)."""
        ready: list[Document] = []
        skipped: list[Skipped] = []
        for doc in docs:
            text = normalize_text(doc.text)
            if not doc.doc_id or not text:
                skipped.append(Skipped(doc.doc_id or "(no id)", "document has no id or no text"))
            else:
                ready.append(replace(doc, text=text))
        return self._write(ready, skipped, remove=())

    def remove(self, doc_ids: Iterable[str]) -> IngestReport:
        """Remove documents (their chunks, vectors and BM25 entries); unknown ids raise ``KeyError``."""
        ids = [doc_ids] if isinstance(doc_ids, str) else list(doc_ids)
        return self._write([], [], remove=ids)

    def _write(self, docs: list[Document], skipped: list[Skipped], remove: Sequence[str],
               progress: bool = False) -> IngestReport:
        with self._write_lock, store.write_lock(self.index_dir):
            base = self._snapshot.data
            try:
                current = store.current_generation(self.index_dir).name
            except IndexNotFoundError:
                current = None  # the folder was emptied: our state becomes the index again
            if current is not None and current != f"gen-{base.generation:06d}":
                base = store.load(self.index_dir)  # another writer saved since we read; build on its state
            missing = [d for d in remove if d not in base.documents]
            if missing:
                raise KeyError(f"no document(s) {', '.join(map(repr, missing))} in the index")
            data, report = update.apply_changes(base, self.embedder, docs, skipped, remove, progress)
            if report.added or report.updated or report.removed:
                self._publish(self.index_dir, base, data, report)
                self._snapshot = self._make_snapshot(data)
            self.last_report = report
            return report
