"""Persistence: an index folder of immutable generations, switched atomically.

Layout of ``index/<name>/``::

    CURRENT              name of the live generation, replaced atomically (os.replace)
    gen-000007/          one complete, self-checking snapshot
        manifest.json    format version, embedder, config, counts, sha256 (full and quick) of every file
        store.sqlite     documents, chunks (spans, vector ids), sentences (spans)
        chunk_table.npy, sentence_table.npy      the rows' integers as columns (:mod:`rag.tables`)
        chunk_vectors.npy, sentence_vectors.npy   float32 (sentences: float16 if so configured), L2-normalised
        vectors.faiss    the ANN index over chunk vectors (absent when a Milvus collection serves them)
        bm25.npz, bm25_vocab.json
    .lock                held while writing

Opening an index checks each file's size and quick fingerprint (:func:`sample_sha256`: both ends and
64 blocks spread through it, the whole file when small), so that a large index opens without reading
gigabytes; ``rag verify`` (:func:`verify_index`) checks every byte against the full sha256.

A writer builds a new generation aside, fsyncs it, then swaps ``CURRENT``: a crash at any
point leaves either the old or the new state. Only plain data formats: JSON, SQLite, ``.npy``
(loaded with ``allow_pickle=False``) and FAISS's own format.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import backends, tables
from . import vectors as vec
from .config import CONFIDENCE_SCALE, Config
from .errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexNotFoundError
from .lexical import BM25Index
from .types import Chunk, Document

FORMAT = "rag-index"
FORMAT_VERSION = 1
_SCHEMA = """
CREATE TABLE documents (doc_id TEXT PRIMARY KEY, title TEXT, date TEXT, source TEXT, url TEXT,
                        author TEXT, path TEXT, text TEXT NOT NULL, content_hash TEXT NOT NULL);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, vid INTEGER NOT NULL,
                     doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL, start INTEGER NOT NULL,
                     end INTEGER NOT NULL, sent_lo INTEGER NOT NULL, sent_hi INTEGER NOT NULL,
                     embed_hash TEXT NOT NULL);
CREATE TABLE sentences (row INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, start INTEGER NOT NULL,
                        end INTEGER NOT NULL, embed_hash TEXT NOT NULL);
"""


@dataclass
class IndexData:
    """Everything an index holds. Rows of the arrays follow the sequences' order: lists in an index
    being built, columns (:mod:`rag.tables`) in one read from disk."""

    config: Config
    embedder: dict[str, Any]
    documents: Mapping[str, Document] = field(default_factory=dict)
    doc_hashes: Mapping[str, str] = field(default_factory=dict)
    chunks: Sequence[Chunk] = field(default_factory=list)
    chunk_sents: Sequence[tuple[int, int]] = field(default_factory=list)  # [lo, hi) rows into sentences
    chunk_hashes: Sequence[str] = field(default_factory=list)
    chunk_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    sentences: Sequence[tuple[str, int, int]] = field(default_factory=list)  # (doc_id, start, end)
    sentence_hashes: Sequence[str] = field(default_factory=list)
    sentence_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    faiss_index: Any = None
    index_type: str = "flat"
    bm25: BM25Index | None = None
    created_at: str = ""
    updated_at: str = ""
    generation: int = 0
    vids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    vector_store: dict[str, Any] = field(default_factory=lambda: {"name": "faiss"})  # as in the manifest
    backend: Any = None  # the live non-FAISS backend (a MilvusBackend); never persisted

    def __post_init__(self) -> None:
        self.refresh_lookups()

    def refresh_lookups(self) -> None:
        if isinstance(self.chunks, tables.ChunkTable):
            self.vids = self.chunks.vids
        else:
            self.vids = np.asarray([vec.vector_id(c.chunk_id) for c in self.chunks], dtype=np.int64)
        self.row_of_vid = dict(zip(self.vids.tolist(), range(len(self.vids))))

    def vector_backend(self) -> backends.VectorBackend:
        """The backend that serves the chunk vectors: Milvus when configured, else the FAISS index."""
        return self.backend if self.backend is not None else backends.FaissBackend(self.faiss_index)


def _feed(h: Any, fh: Any) -> None:
    """Hash the rest of the open file ``fh`` into ``h``, 1 MiB at a time."""
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        _feed(h, fh)
    return h.hexdigest()


SAMPLE_EDGE = 1 << 16  # bytes read at each end of a file for its quick check
SAMPLE_BLOCK = 1 << 12  # bytes read at each of SAMPLE_BLOCKS evenly spaced offsets
SAMPLE_BLOCKS = 64


def sample_sha256(path: Path) -> str:
    """A quick fingerprint of ``path``: sha256 of its size, its first and last 64 KiB and 64 blocks of
    4 KiB spread evenly between them; the whole file when it is no larger than that (a few hundred KiB),
    so small files are checked in full. At most ~0.4 MiB read, however large the file: opening an
    index checks this (truncation, a swapped or cut file, damage at either end); ``rag verify`` checks
    the full sha256."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        if size <= 2 * SAMPLE_EDGE + SAMPLE_BLOCKS * SAMPLE_BLOCK:
            _feed(h, fh)
            return h.hexdigest()
        step = (size - 2 * SAMPLE_EDGE - SAMPLE_BLOCK) // (SAMPLE_BLOCKS - 1)
        offsets = [0, *(SAMPLE_EDGE + i * step for i in range(SAMPLE_BLOCKS)), size - SAMPLE_EDGE]
        for i, offset in enumerate(offsets):
            fh.seek(offset)
            h.update(fh.read(SAMPLE_EDGE if i in (0, len(offsets) - 1) else SAMPLE_BLOCK))
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's content without its own checksum field (canonical JSON)."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def current_generation(index_dir: Path) -> Path:
    """The live generation folder, or :class:`IndexNotFoundError`."""
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        raise IndexNotFoundError(f"no index in {index_dir} (no CURRENT file); build one with `rag index`")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise IndexCorruptError(f"cannot read {pointer}: {e}; rebuild the index") from e
    if not re.fullmatch(r"gen-\d{6,}", name) or not (index_dir / name).is_dir():
        raise IndexCorruptError(f"{pointer} names {name!r}, which is not a generation folder; rebuild the index")
    return index_dir / name


@contextmanager
def write_lock(index_dir: Path, timeout: float = 30.0) -> Iterator[None]:
    """Hold the index's write lock; another writer waits up to ``timeout`` s, then errors."""
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / ".lock"), timeout=timeout)
    try:
        with lock:
            yield
    except Timeout as e:
        raise IndexLockedError(f"another process is writing the index in {index_dir}; "
                               f"waited {timeout:.0f} s (lock file {index_dir / '.lock'})") from e


def _write_sqlite(path: Path, data: IndexData) -> None:
    con = sqlite3.connect(path)
    try:
        con.executescript(_SCHEMA)
        con.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?)", (
            (d.doc_id, d.title, d.date, d.source, d.url, d.author, d.path, d.text, data.doc_hashes[d.doc_id])
            for d in data.documents.values()))
        con.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)", (
            (row, c.chunk_id, int(data.vids[row]), c.doc_id, c.ordinal, c.start, c.end, int(lo), int(hi), h)
            for row, (c, (lo, hi), h) in enumerate(zip(data.chunks, data.chunk_sents, data.chunk_hashes))))
        con.executemany("INSERT INTO sentences VALUES (?,?,?,?,?)", (
            (row, d, int(s), int(e), h) for row, ((d, s, e), h) in enumerate(zip(data.sentences, data.sentence_hashes))))
        con.commit()
    finally:
        con.close()


def _save_array(path: Path, array: np.ndarray) -> None:
    """A plain ``.npy``: int64 tables as they are; vectors float16 if so (``Config.sentence_vector_dtype``),
    else float32."""
    dtype = array.dtype if array.dtype in (np.float16, np.int64) else np.float32
    with open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array, dtype=dtype), allow_pickle=False)


def save(index_dir: Path, data: IndexData) -> Path:
    """Write ``data`` as a new generation and make it current, atomically. Caller holds the lock."""
    index_dir.mkdir(parents=True, exist_ok=True)
    gens = sorted(p.name for p in index_dir.glob("gen-*") if p.is_dir() and ".tmp" not in p.name)
    number = max([int(g.split("-")[1]) for g in gens] + [data.generation]) + 1
    final = index_dir / f"gen-{number:06d}"
    tmp = index_dir / f"gen-{number:06d}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    _write_sqlite(tmp / "store.sqlite", data)
    chunk_table, sentence_table = tables.build_tables(list(data.documents), data.chunks, data.chunk_sents,
                                                      data.vids, data.sentences)
    _save_array(tmp / tables.CHUNK_TABLE, chunk_table)
    _save_array(tmp / tables.SENTENCE_TABLE, sentence_table)
    _save_array(tmp / "chunk_vectors.npy", data.chunk_vectors)
    _save_array(tmp / "sentence_vectors.npy", data.sentence_vectors)
    if data.faiss_index is not None:
        vec.write(data.faiss_index, str(tmp / "vectors.faiss"))
    assert data.bm25 is not None  # noqa: S101 - internal invariant: built before saving
    data.bm25.save(tmp)
    files = {}
    for p in sorted(tmp.iterdir()):
        files[p.name] = {"sha256": _sha256(p), "sample_sha256": sample_sha256(p), "bytes": p.stat().st_size}
    data.updated_at = _now()
    data.created_at = data.created_at or data.updated_at
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "generation": number,
        "created_at": data.created_at, "updated_at": data.updated_at,
        "embedder": data.embedder, "config": data.config.to_dict(), "confidence_scale": CONFIDENCE_SCALE,
        "index_type": data.index_type, "counts": {"documents": len(data.documents), "chunks": len(data.chunks), "sentences": len(data.sentences)},
        "files": files,
    }
    if data.vector_store.get("name", "faiss") != "faiss":
        manifest["vector_store"] = data.vector_store
    # The manifest checks every other file; this checks the manifest (a flipped byte in a count
    # or a date would otherwise go unnoticed).
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for p in tmp.iterdir():
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(tmp)
    os.replace(tmp, final)
    pointer_tmp = index_dir / f"CURRENT.tmp-{os.getpid()}"
    pointer_tmp.write_text(final.name, encoding="utf-8")
    with open(pointer_tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(pointer_tmp, index_dir / "CURRENT")
    _fsync_dir(index_dir)
    data.generation = number
    _collect_garbage(index_dir, keep={final.name})
    return final


def _collect_garbage(index_dir: Path, keep: set[str]) -> None:
    """Remove unfinished generations and all but the newest two complete ones."""
    complete = sorted(p for p in index_dir.glob("gen-*") if p.is_dir() and ".tmp" not in p.name)
    for p in index_dir.glob("gen-*.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in index_dir.glob("CURRENT.tmp-*"):
        p.unlink(missing_ok=True)
    for p in complete[:-2]:
        if p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)


def read_manifest(gen: Path) -> dict[str, Any]:
    path = gen / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IndexCorruptError(f"cannot read {path}: {e}; rebuild the index") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexCorruptError(f"{path} is not a {FORMAT} manifest; rebuild the index")
    if manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise IndexCorruptError(f"{path} is altered or has no checksum (checksum mismatch); rebuild the index")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(f"index format version {manifest.get('format_version')!r} in {path}, "
                                 f"this library reads version {FORMAT_VERSION}; rebuild the index")
    return manifest


def verify_files(gen: Path, manifest: dict[str, Any], full: bool = True) -> None:
    """Check every file's size and checksum against the manifest: the full sha256, or with
    ``full=False`` the quick :func:`sample_sha256` (a manifest written before it had one: the full)."""
    for name, meta in manifest.get("files", {}).items():
        path = gen / name
        if not path.is_file():
            raise IndexCorruptError(f"index file {path} is missing; rebuild the index")
        quick = not full and "sample_sha256" in meta
        if path.stat().st_size != meta["bytes"] or (
                sample_sha256(path) != meta["sample_sha256"] if quick else _sha256(path) != meta["sha256"]):
            raise IndexCorruptError(f"index file {path} is truncated or altered (checksum mismatch); "
                                    f"rebuild the index")


def verify_index(index_dir: Path) -> dict[str, Any]:
    """Check the current generation of ``index_dir`` in full (every byte of every file against its
    sha256); return the manifest. Raises :class:`IndexCorruptError` naming the damaged file."""
    gen = current_generation(index_dir)
    manifest = read_manifest(gen)
    verify_files(gen, manifest, full=True)
    return manifest


def load(index_dir: Path, verify: bool = True) -> IndexData:
    """Read the current generation of ``index_dir`` (``verify``: sizes and quick fingerprints first)."""
    for _ in range(2):
        gen = current_generation(index_dir)
        try:
            return _load_generation(gen, verify)
        except IndexCorruptError:
            # Writers remove old generations: one may have gone while we read it. That is not
            # corruption if CURRENT has moved on; read the new one.
            if current_generation(index_dir) == gen:
                raise
    return _load_generation(current_generation(index_dir), verify)


def _load_generation(gen: Path, verify: bool) -> IndexData:
    manifest = read_manifest(gen)
    if verify:
        verify_files(gen, manifest, full=False)
    try:
        config = Config.from_dict(manifest["config"])
        if manifest.get("confidence_scale") != CONFIDENCE_SCALE:
            # The stored threshold was calibrated for another confidence: use today's default.
            config = config.with_(answer_threshold=Config().answer_threshold)
        # Written before the tables: every row from SQLite.
        rows = tables.read_columns(gen) if tables.CHUNK_TABLE in manifest.get("files", {}) else tables.read_rows(gen)
        chunk_vectors = np.load(gen / "chunk_vectors.npy", allow_pickle=False, mmap_mode="r")
        sentence_vectors = np.load(gen / "sentence_vectors.npy", allow_pickle=False, mmap_mode="r")
        vector_store = manifest.get("vector_store", {"name": "faiss"})
        faiss_index = vec.read(str(gen / "vectors.faiss")) if vector_store.get("name") == "faiss" else None
        bm25 = BM25Index.load(gen)
    except IndexCorruptError:
        raise
    except (sqlite3.DatabaseError, KeyError, ValueError, OSError, IndexError, EOFError, zipfile.BadZipFile) as e:
        raise IndexCorruptError(f"cannot read the index in {gen}: {e}; rebuild the index") from e
    data = IndexData(config=config, embedder=manifest["embedder"], **vars(rows), chunk_vectors=chunk_vectors,
                     sentence_vectors=sentence_vectors, faiss_index=faiss_index,
                     index_type=manifest.get("index_type", "flat"), bm25=bm25,
                     created_at=manifest.get("created_at", ""), updated_at=manifest.get("updated_at", ""),
                     generation=int(manifest.get("generation", 0)), vector_store=vector_store)
    counts = manifest.get("counts", {})
    n_chunks, n_sentences = len(rows.chunks), len(rows.sentences)
    if (counts.get("chunks") != n_chunks or (faiss_index is not None and faiss_index.ntotal != n_chunks)
            or len(chunk_vectors) != n_chunks or bm25.size != n_chunks or len(sentence_vectors) != n_sentences
            or (bm25.sentence_terms is not None and bm25.sentence_terms.shape[0] != n_sentences)):
        raise IndexCorruptError(f"index parts in {gen} disagree on the number of chunks; rebuild the index")
    if faiss_index is None:
        # A Milvus collection serves the chunk vectors. Its count is not checked here: a writer
        # adds new vectors before it saves and removes old ones after, so it may differ briefly.
        data.backend = backends.open_backend(vector_store, gen.parent, int(manifest["embedder"].get("dim", 0)))
        return data
    if faiss_index.d != int(manifest["embedder"].get("dim", -1)):
        raise IndexMismatchError(f"FAISS index dimension {faiss_index.d} differs from the embedder's "
                                 f"{manifest['embedder'].get('dim')}; rebuild the index")
    vec.configure(faiss_index, ef_search=config.hnsw_ef_search, nprobe=config.ivf_nprobe)
    return data
