"""The knowledge base: wires ingest, clean, chunk, embed, index, retrieve and answer.

``KnowledgeBase`` is the public entry point. It is safe to share between threads:
searches read an immutable snapshot, and writers (``add``, ``remove``) build a new
snapshot, persist it atomically under a cross-process lock, then swap it in.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import backends, dedup, store
from . import vectors as vec
from .chunk import chunk_document
from .config import Config
from .embed import Embedder, make_embedder
from .errors import ConfigError, EmptyCorpusError, IndexMismatchError, IndexNotFoundError
from .ingest import load_documents
from .lexical import Acronyms, BM25Index
from .normalize import normalize_text
from .retrieve import Filters, Retriever
from .store import IndexData
from .types import Chunk, Document, Hit, IngestReport, Skipped

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


def embed_text(doc: Document, text: str, with_title: bool) -> str:
    """What is embedded for a chunk: its text, with the title in front when configured."""
    return f"{doc.title}\n{text}" if with_title and doc.title else text


def _hash(text: str) -> str:
    return dedup.content_hash(text)[:24]


EmbedFn = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised float32 rows
Chunked = dict[str, tuple[list[Chunk], list[tuple[int, int]]]]  # doc_id -> (chunks, sentence spans)


def chunk_for_index(doc: Document, embedder: Embedder, cfg: Config) -> tuple[list[Chunk], list[tuple[int, int]]]:
    """A document's chunks and sentence spans, sized in the embedder's tokens (title room reserved).

    The one chunking rule of every build, local or distributed (:mod:`rag.distributed`).
    """
    max_tokens = min(cfg.chunk_tokens, embedder.max_tokens)
    reserved = 3 + (embedder.count_tokens([doc.title])[0] if cfg.embed_title and doc.title else 0)
    return chunk_document(doc, embedder.count_tokens, max_tokens, cfg.overlap_sentences,
                          reserved=min(reserved, max_tokens // 2))


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
            data, report = cls._apply(empty, embedder, docs, skipped, remove=(), progress=progress,
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
            data, report = self._apply(base, self.embedder, docs, skipped, remove, progress)
            if report.added or report.updated or report.removed:
                self._publish(self.index_dir, base, data, report)
                self._snapshot = self._make_snapshot(data)
            self.last_report = report
            return report

    @staticmethod
    def _apply(base: IndexData, embedder: Embedder, docs: list[Document], skipped: list[Skipped],
               remove: Sequence[str], progress: bool = False, embed_fn: EmbedFn | None = None,
               chunked: Chunked | None = None) -> tuple[IndexData, IngestReport]:
        """A new :class:`IndexData` with ``docs`` added or updated and ``remove`` removed.

        ``embed_fn`` (texts -> vectors; default ``embedder.embed``) and ``chunked`` (each
        incoming document's :func:`chunk_for_index` result, computed elsewhere) change where
        the work runs, not its result.
        """
        cfg = base.config
        skipped = list(skipped)
        by_hash = {h: d for d, h in base.doc_hashes.items() if d not in remove}
        incoming: dict[str, Document] = {}
        duplicates: list[tuple[str, str]] = []
        unchanged: list[str] = []
        for doc in docs:
            h = dedup.content_hash(doc.text)
            if doc.doc_id in incoming:
                skipped.append(Skipped(doc.path or doc.doc_id, f"document id {doc.doc_id!r} appears twice; "
                                                              f"the first one was kept"))
            elif base.doc_hashes.get(doc.doc_id) == h and doc.doc_id not in remove:
                unchanged.append(doc.doc_id)
            elif h in by_hash and by_hash[h] != doc.doc_id:
                duplicates.append((doc.doc_id, by_hash[h]))
            else:
                incoming[doc.doc_id] = doc
                by_hash[h] = doc.doc_id
        near = []
        if incoming:
            pool = [d for d in base.documents.values() if d.doc_id not in incoming and d.doc_id not in remove]
            all_docs = pool + list(incoming.values())
            pairs = dedup.near_duplicate_pairs([d.text for d in all_docs], cfg.near_duplicate_threshold)
            for i, j, sim in pairs:
                if j >= len(pool):  # the later one is new
                    near.append((all_docs[j].doc_id, all_docs[i].doc_id, round(sim, 3)))
            if cfg.near_duplicates == "skip":
                for doc_id, other, _ in near:
                    if doc_id in incoming and other not in {n[0] for n in near if n[0] != doc_id}:
                        incoming.pop(doc_id)
        drop = set(remove) | set(incoming)
        keep_rows = [i for i, c in enumerate(base.chunks) if c.doc_id not in drop]

        # Vectors already computed, by the hash of the embedded text.
        chunk_cache = {h: i for i, h in enumerate(base.chunk_hashes)}
        sent_cache = {h: i for i, h in enumerate(base.sentence_hashes)}

        documents = {d: doc for d, doc in base.documents.items() if d not in drop}
        doc_hashes = {d: h for d, h in base.doc_hashes.items() if d not in drop}
        # Old sentences of kept documents, renumbered.
        keep_sent_rows = [i for i, (d, _, _) in enumerate(base.sentences) if d not in drop]
        sent_new_row = {old: new for new, old in enumerate(keep_sent_rows)}
        sentences = [base.sentences[i] for i in keep_sent_rows]
        sentence_hashes = [base.sentence_hashes[i] for i in keep_sent_rows]
        chunks = [base.chunks[i] for i in keep_rows]
        chunk_hashes = [base.chunk_hashes[i] for i in keep_rows]
        chunk_sents = [(sent_new_row.get(lo, 0), sent_new_row.get(lo, 0) + (hi - lo))
                       for lo, hi in (base.chunk_sents[i] for i in keep_rows)]
        dim = int(embedder.dim)
        old_chunk_vecs = [np.asarray(base.chunk_vectors[i]) for i in keep_rows]
        old_sent_vecs = [np.asarray(base.sentence_vectors[i]) for i in keep_sent_rows]

        new_chunk_texts: list[str] = []
        new_sent_texts: list[str] = []
        chunk_sources: list[tuple[str, int]] = []  # ("cache", row), ("new", index) or ("derive", index)
        sent_sources: list[tuple[str, int]] = []
        derive = cfg.chunk_vectors == "sentence_mean"
        derived: list[tuple[int, int, str]] = []  # (first sentence row, end row, doc id) per derived chunk
        title_texts: list[str] = []  # titles embedded for derived chunk vectors, one per document
        title_row: dict[str, int] = {}
        for doc in incoming.values():
            if chunked is not None and doc.doc_id in chunked:
                doc_chunks, spans = chunked[doc.doc_id]
            else:
                doc_chunks, spans = chunk_for_index(doc, embedder, cfg)
            first_sent = len(sentences)
            row_of_span = {}
            for s, e in spans:
                text = doc.text[s:e]
                h = _hash(text)
                row_of_span[(s, e)] = len(sentences)
                sentences.append((doc.doc_id, s, e))
                sentence_hashes.append(h)
                if h in sent_cache:
                    sent_sources.append(("cache", sent_cache[h]))
                else:
                    sent_sources.append(("new", len(new_sent_texts)))
                    new_sent_texts.append(text)
            for c in doc_chunks:
                text = embed_text(doc, c.text, cfg.embed_title)
                h = _hash(text)
                chunks.append(c)
                chunk_hashes.append(h)
                lo = row_of_span[c.sentences[0]] if c.sentences else first_sent
                chunk_sents.append((lo, lo + len(c.sentences)))
                if h in chunk_cache:
                    chunk_sources.append(("cache", chunk_cache[h]))
                elif derive and c.sentences:
                    chunk_sources.append(("derive", len(derived)))
                    derived.append((lo, lo + len(c.sentences), doc.doc_id))
                    if cfg.embed_title and doc.title and doc.doc_id not in title_row:
                        title_row[doc.doc_id] = len(title_texts)
                        title_texts.append(doc.title)
                else:
                    chunk_sources.append(("new", len(new_chunk_texts)))
                    new_chunk_texts.append(text)
            documents[doc.doc_id] = doc
            doc_hashes[doc.doc_id] = dedup.content_hash(doc.text)

        # One model call for everything new: sorted by length together, batched together.
        texts = new_chunk_texts + new_sent_texts + title_texts
        if embed_fn is None or not texts:
            embedded = embedder.embed(texts, progress=progress)
        else:
            embedded = np.asarray(embed_fn(texts), dtype=np.float32)
        n_chunk, n_sent = len(new_chunk_texts), len(new_sent_texts)
        new_chunk_vecs = embedded[:n_chunk]
        new_sent_vecs = embedded[n_chunk:n_chunk + n_sent]
        title_vecs = embedded[n_chunk + n_sent:]

        def pick(source: tuple[str, int], fresh: np.ndarray, cached: np.ndarray) -> np.ndarray:
            return fresh[source[1]] if source[0] == "new" else np.asarray(cached[source[1]])

        sent_rows = old_sent_vecs + [pick(s, new_sent_vecs, base.sentence_vectors) for s in sent_sources]
        sentence_vectors = np.vstack(sent_rows).astype(np.float32) if sent_rows else np.zeros((0, dim), np.float32)
        derived_vecs = _derive_chunk_vectors(embedder, documents, sentences, sentence_vectors, derived,
                                             title_texts, title_row, title_vecs, dim)
        sentence_vectors = sentence_vectors.astype(np.dtype(cfg.sentence_vector_dtype), copy=False)
        chunk_rows = old_chunk_vecs + [derived_vecs[s[1]] if s[0] == "derive" else
                                       pick(s, new_chunk_vecs, base.chunk_vectors) for s in chunk_sources]
        chunk_vectors = np.vstack(chunk_rows).astype(np.float32) if chunk_rows else np.zeros((0, dim), np.float32)

        data = IndexData(config=cfg, embedder=base.embedder, documents=documents, doc_hashes=doc_hashes,
                         chunks=chunks, chunk_sents=chunk_sents, chunk_hashes=chunk_hashes,
                         chunk_vectors=chunk_vectors, sentences=sentences, sentence_hashes=sentence_hashes,
                         sentence_vectors=sentence_vectors, created_at=base.created_at,
                         generation=base.generation, vector_store=base.vector_store, backend=base.backend)
        if base.vector_store.get("name", "faiss") == "faiss":
            data.index_type = vec.resolve_index_type(cfg.index_type, len(chunks), cfg.ann_threshold)
            # An IVF-PQ index's training is reused by an incremental add when it still fits the size.
            previous = base.faiss_index if base.index_type == data.index_type == "ivfpq" else None
            data.faiss_index = vec.build_index(chunk_vectors, data.vids, data.index_type, hnsw_m=cfg.hnsw_m,
                                               ef_search=cfg.hnsw_ef_search, nlist=cfg.ivf_nlist,
                                               nprobe=cfg.ivf_nprobe, pq_m=cfg.pq_m, refine=cfg.ivf_refine,
                                               previous=previous)
        else:
            data.index_type = "flat"  # the Milvus collection's FLAT index: exact, like FAISS flat
        data.bm25 = BM25Index.build([embed_text(documents[c.doc_id], c.text, cfg.embed_title) for c in chunks],
                                    sentences=[documents[d].text[s:e] for d, s, e in sentences],
                                    acronyms=Acronyms.from_texts(doc.text for doc in documents.values()))
        updated = [d for d in incoming if d in base.documents]
        report = IngestReport(added=tuple(d for d in incoming if d not in base.documents), updated=tuple(updated),
                              unchanged=tuple(unchanged), removed=tuple(d for d in remove if d in base.documents),
                              skipped=tuple(skipped), duplicates=tuple(duplicates), near_duplicates=tuple(near),
                              chunks_embedded=len(new_chunk_texts) + len(derived))
        return data, report


def _derive_chunk_vectors(embedder: Embedder, documents: dict[str, Document], sentences: list[tuple[str, int, int]],
                          sentence_vectors: np.ndarray, derived: list[tuple[int, int, str]], title_texts: list[str],
                          title_row: dict[str, int], title_vecs: np.ndarray, dim: int) -> np.ndarray:
    """Chunk vectors from sentence vectors (``chunk_vectors="sentence_mean"``).

    Each derived chunk gets the L2-normalised mean of its sentences' vectors and its document
    title's vector (when titles are embedded), each weighted by its token count: the model
    mean-pools token embeddings, so this is the chunk embedding without cross-sentence context.
    """
    out = np.zeros((len(derived), dim), dtype=np.float32)
    if not derived:
        return out
    rows = sorted({r for lo, hi, _ in derived for r in range(lo, hi)})
    counts = embedder.count_tokens([documents[d].text[s:e] for d, s, e in (sentences[r] for r in rows)])
    weight = np.zeros(len(sentences), dtype=np.float32)
    weight[rows] = np.maximum(np.asarray(counts, dtype=np.float32), 1.0)
    title_weight = np.maximum(np.asarray(embedder.count_tokens(title_texts), dtype=np.float32), 1.0)
    for i, (lo, hi, doc_id) in enumerate(derived):
        v = weight[lo:hi] @ np.asarray(sentence_vectors[lo:hi], dtype=np.float32)
        t = title_row.get(doc_id)
        if t is not None:
            v = v + title_weight[t] * title_vecs[t]
        out[i] = v
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)
