"""Chunk and sentence metadata as columns: an index opens without one Python object per row.

A generation stores, beside ``store.sqlite``, two integer tables (``.npy``, memory-mapped on open):

    chunk_table.npy      (n_chunks, 7): document row, ordinal, start, end, first sentence row,
                         end sentence row, vector id
    sentence_table.npy   (n_sentences, 3): document row, start, end

Document rows number the documents in their stored order. :class:`ChunkTable` and
:class:`SentenceTable` read them as the sequences of :class:`~rag.types.Chunk` and
``(doc_id, start, end)`` that a freshly built index holds as lists, and :class:`DocumentTable` reads
the documents as the mapping it holds: a row becomes an object only when it is read (a document from
SQLite by its key). Columns that only a writer needs (the texts' hashes) are fetched on first use.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from .errors import IndexCorruptError
from .types import Chunk, Document

CHUNK_TABLE = "chunk_table.npy"
SENTENCE_TABLE = "sentence_table.npy"
CHUNK_COLUMNS = 7
SENTENCE_COLUMNS = 3


class SentenceTable(Sequence[tuple[str, int, int]]):
    """``(doc_id, start, end)`` per sentence row, read from an integer table."""

    def __init__(self, table: np.ndarray, doc_ids: Sequence[str]) -> None:
        self.table = table
        self.doc_ids = doc_ids

    def __len__(self) -> int:
        return len(self.table)

    @overload
    def __getitem__(self, i: int) -> tuple[str, int, int]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, int, int]]: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._row(r) for r in np.asarray(self.table[i]).tolist()]
        d, s, e = self.table[i].tolist()
        return self.doc_ids[d], s, e

    def _row(self, r: list[int]) -> tuple[str, int, int]:
        return self.doc_ids[r[0]], r[1], r[2]

    def __iter__(self) -> Iterator[tuple[str, int, int]]:
        for lo in range(0, len(self.table), 65536):
            for r in np.asarray(self.table[lo:lo + 65536]).tolist():
                yield self._row(r)

    def __eq__(self, other: object) -> bool:  # like a list: the same rows in the same order
        return isinstance(other, Sequence) and len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]


class ChunkTable(Sequence[Chunk]):
    """The chunks of an index, built on access from an integer table and the documents' text."""

    def __init__(self, table: np.ndarray, ids: Sequence[str], doc_ids: Sequence[str],
                 documents: Mapping[str, Document], sentences: SentenceTable) -> None:
        self.table = table
        self.ids = ids
        self.doc_ids = doc_ids
        self.documents = documents
        self.sentences = sentences

    def __len__(self) -> int:
        return len(self.table)

    @overload
    def __getitem__(self, i: int) -> Chunk: ...
    @overload
    def __getitem__(self, i: slice) -> list[Chunk]: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[r] for r in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        d, ordinal, start, end, lo, hi, _ = self.table[i].tolist()
        doc_id = self.doc_ids[d]
        spans = tuple((s, e) for _, s, e in np.asarray(self.sentences.table[lo:hi]).tolist())
        return Chunk(chunk_id=self.ids[i], doc_id=doc_id, ordinal=ordinal, start=start, end=end,
                     text=self.documents[doc_id].text[start:end], sentences=spans)

    def __iter__(self) -> Iterator[Chunk]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:  # like a list: the same rows in the same order
        return isinstance(other, Sequence) and len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    @property
    def spans(self) -> np.ndarray:
        """``(n, 2)`` first and end sentence rows of each chunk."""
        return self.table[:, 4:6]

    @property
    def vids(self) -> np.ndarray:
        return np.asarray(self.table[:, 6], dtype=np.int64)


class _Lazy:
    """The rows of one query on the SQLite store, fetched once, on first use (thread-safe)."""

    def __init__(self, path: Path, query: str, make: Any) -> None:
        self._path, self._query, self._make = path, query, make
        self._value: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._value is None:
                con = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True)
                try:
                    self._value = self._make(con.execute(self._query))
                finally:
                    con.close()
            return self._value


class LazyColumn(Sequence[str]):
    """One text column of the SQLite store, read in full on first use."""

    def __init__(self, path: Path, table: str, column: str) -> None:
        self._rows = _Lazy(path, f"SELECT {column} FROM {table} ORDER BY row", lambda rows: [r[0] for r in rows])

    def __len__(self) -> int:
        return len(self._rows.get())

    def __getitem__(self, i: Any) -> Any:
        return self._rows.get()[i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows.get())


def chunk_ids(chunks: Sequence[Chunk]) -> Sequence[str]:
    """Every chunk's id, in row order, without building the chunks of a table."""
    return chunks.ids if isinstance(chunks, ChunkTable) else [c.chunk_id for c in chunks]


def doc_rows(chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
    """Chunk rows of each document (ascending), without building the chunks of a table."""
    if isinstance(chunks, ChunkTable):
        column = np.asarray(chunks.table[:, 0])
        order = np.argsort(column, kind="stable")
        docs, first = np.unique(column[order], return_index=True)
        parts = np.split(order.astype(np.int64), first[1:])
        return {chunks.doc_ids[int(d)]: p for d, p in zip(docs, parts)}
    rows: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        rows.setdefault(c.doc_id, []).append(i)
    return {d: np.asarray(r, dtype=np.int64) for d, r in rows.items()}


def build_tables(doc_ids: Sequence[str], chunks: Sequence[Chunk], chunk_sents: Sequence[tuple[int, int]],
                 vids: np.ndarray, sentences: Sequence[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The two integer tables of a generation from an index's rows."""
    row_of = {d: i for i, d in enumerate(doc_ids)}
    ct = np.zeros((len(chunks), CHUNK_COLUMNS), dtype=np.int64)
    for i, (c, (lo, hi)) in enumerate(zip(chunks, chunk_sents)):
        ct[i, :6] = (row_of[c.doc_id], c.ordinal, c.start, c.end, lo, hi)
    if len(chunks):
        ct[:, 6] = vids
    st = np.zeros((len(sentences), SENTENCE_COLUMNS), dtype=np.int64)
    for i, (d, s, e) in enumerate(sentences):
        st[i] = (row_of[d], s, e)
    return ct, st


def check_tables(chunk_table: np.ndarray, sentence_table: np.ndarray, n_docs: int) -> str | None:
    """What is wrong with a generation's tables, or None (shapes, and rows that point nowhere)."""
    if chunk_table.ndim != 2 or chunk_table.shape[1] != CHUNK_COLUMNS or chunk_table.dtype != np.int64:
        return f"chunk table has shape {chunk_table.shape} ({chunk_table.dtype})"
    if sentence_table.ndim != 2 or sentence_table.shape[1] != SENTENCE_COLUMNS or sentence_table.dtype != np.int64:
        return f"sentence table has shape {sentence_table.shape} ({sentence_table.dtype})"
    for name, column, bound in (("chunk", chunk_table[:, 0], n_docs), ("sentence", sentence_table[:, 0], n_docs),
                                ("chunk sentence", chunk_table[:, 4], len(sentence_table) + 1),
                                ("chunk sentence", chunk_table[:, 5], len(sentence_table) + 1)):
        if len(column) and (int(column.min()) < 0 or int(column.max()) >= bound):
            return f"{name} rows point outside the index"
    if len(chunk_table) and bool((chunk_table[:, 4] > chunk_table[:, 5]).any()):
        return "a chunk's sentence rows are reversed"
    return None


_DOCUMENT = "doc_id, title, date, source, url, author, path, text"


def _document(row: tuple[Any, ...]) -> Document:
    return Document(doc_id=row[0], title=row[1], date=row[2], source=row[3], url=row[4], author=row[5],
                    path=row[6], text=row[7])


def _read_documents(con: sqlite3.Connection) -> tuple[dict[str, Document], dict[str, str]]:
    docs, hashes = {}, {}
    for row in con.execute(f"SELECT {_DOCUMENT}, content_hash FROM documents ORDER BY rowid"):
        docs[row[0]] = _document(row)
        hashes[row[0]] = row[8]
    return docs, hashes


class _Rows:
    """A view that streams a :class:`DocumentTable`'s rows in stored order, a page at a time."""

    def __init__(self, table: DocumentTable, make: Any) -> None:
        self._table, self._make = table, make

    def __len__(self) -> int:
        return len(self._table)

    def __iter__(self) -> Iterator[Any]:
        last = 0
        while True:
            with self._table.lock:
                page = self._table.con.execute(f"SELECT rowid, {_DOCUMENT} FROM documents WHERE rowid > ? "
                                               "ORDER BY rowid LIMIT 512", (last,)).fetchall()
            if not page:
                return
            last = page[-1][0]
            for row in page:
                yield self._make(_document(row[1:]))


class DocumentTable(Mapping[str, Document]):
    """The documents of an index, read from its SQLite store when asked for (recent ones kept).

    Opening reads only the ids; ``values()`` and ``items()`` stream every document in stored order.
    The connection is opened at once and kept, so that the generation stays readable after a writer
    has replaced it.
    """

    CACHE = 4096

    def __init__(self, path: Path) -> None:
        self.con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.lock = threading.Lock()
        self._ids = [r[0] for r in self.con.execute("SELECT doc_id FROM documents ORDER BY rowid")]
        self._known = set(self._ids)
        self._cache: OrderedDict[str, Document] = OrderedDict()

    def __getitem__(self, doc_id: str) -> Document:
        with self.lock:
            doc = self._cache.get(doc_id)
            if doc is not None:
                self._cache.move_to_end(doc_id)
                return doc
            if doc_id not in self._known:
                raise KeyError(doc_id)
            row = self.con.execute(f"SELECT {_DOCUMENT} FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
            if row is None:
                raise KeyError(doc_id)
            doc = self._cache[doc_id] = _document(row)
            if len(self._cache) > self.CACHE:
                self._cache.popitem(last=False)
            return doc

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def values(self) -> _Rows:  # type: ignore[override]
        return _Rows(self, lambda doc: doc)

    def items(self) -> _Rows:  # type: ignore[override]
        return _Rows(self, lambda doc: (doc.doc_id, doc))


class LazyHashes(Mapping[str, str]):
    """Each document's content hash, read from SQLite on first use (only writers need them)."""

    def __init__(self, path: Path) -> None:
        self._map = _Lazy(path, "SELECT doc_id, content_hash FROM documents ORDER BY rowid", dict)

    def __getitem__(self, doc_id: str) -> str:
        return self._map.get()[doc_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map.get())

    def __len__(self) -> int:
        return len(self._map.get())


@dataclass(frozen=True)
class Rows:
    """The rows of a generation, named as :class:`rag.store.IndexData` names them."""

    documents: Mapping[str, Document]
    doc_hashes: Mapping[str, str]
    chunks: Sequence[Chunk]
    chunk_sents: Sequence[tuple[int, int]]
    chunk_hashes: Sequence[str]
    sentences: Sequence[tuple[str, int, int]]
    sentence_hashes: Sequence[str]


def read_columns(gen: Path) -> Rows:
    """Documents read on demand, chunks and sentences as memory-mapped tables, hashes on first use."""
    docs = DocumentTable(gen / "store.sqlite")
    with docs.lock:
        ids = [r[0] for r in docs.con.execute("SELECT chunk_id FROM chunks ORDER BY row")]
    chunk_table = np.load(gen / CHUNK_TABLE, allow_pickle=False, mmap_mode="r")
    sentence_table = np.load(gen / SENTENCE_TABLE, allow_pickle=False, mmap_mode="r")
    problem = check_tables(chunk_table, sentence_table, len(docs))
    if problem is not None or len(ids) != len(chunk_table):
        raise IndexCorruptError(f"the tables in {gen} do not fit its store "
                                f"({problem or 'chunk count differs'}); rebuild the index")
    doc_ids = list(docs)
    sentences = SentenceTable(sentence_table, doc_ids)
    chunks = ChunkTable(chunk_table, ids, doc_ids, docs, sentences)
    return Rows(docs, LazyHashes(gen / "store.sqlite"), chunks, chunks.spans,
                LazyColumn(gen / "store.sqlite", "chunks", "embed_hash"),
                sentences, LazyColumn(gen / "store.sqlite", "sentences", "embed_hash"))


def read_rows(gen: Path) -> Rows:
    """Every row of an index written before the tables, as Python objects."""
    con = sqlite3.connect(f"file:{gen / 'store.sqlite'}?mode=ro", uri=True)
    try:
        docs, hashes = _read_documents(con)
        sentences, sentence_hashes = [], []
        for d, s, e, h in con.execute("SELECT doc_id, start, end, embed_hash FROM sentences ORDER BY row"):
            sentences.append((d, s, e))
            sentence_hashes.append(h)
        chunks, chunk_sents, chunk_hashes = [], [], []
        for cid, d, o, s, e, lo, hi, h in con.execute(
                "SELECT chunk_id, doc_id, ordinal, start, end, sent_lo, sent_hi, embed_hash FROM chunks ORDER BY row"):
            chunks.append(Chunk(chunk_id=cid, doc_id=d, ordinal=o, start=s, end=e, text=docs[d].text[s:e],
                                sentences=tuple((sentences[r][1], sentences[r][2]) for r in range(lo, hi))))
            chunk_sents.append((lo, hi))
            chunk_hashes.append(h)
    finally:
        con.close()
    return Rows(docs, hashes, chunks, chunk_sents, chunk_hashes, sentences, sentence_hashes)
