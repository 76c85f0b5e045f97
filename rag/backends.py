"""Where chunk vectors are served from: FAISS embedded in the index folder, or a Milvus collection.

A backend answers one question, "the ``k`` nearest chunk vectors to this query, among those
the filters allow", and keeps its vectors in step with the index (``add``, ``remove``). Ids
are :func:`rag.vectors.vector_id` of the chunk ids, so both backends return the same ids.

- :class:`FaissBackend` wraps the FAISS index that :mod:`rag.store` saves in each generation
  (the default; restriction by an explicit list of allowed ids).
- :class:`MilvusBackend` keeps the vectors and their filterable metadata (doc id, span,
  source, date) in a Milvus collection: metadata filters run inside Milvus as a filter
  expression. A local file URI such as ``index/x/milvus.db`` runs milvus-lite, an embedded
  engine (one process at a time); pass ``http://host:19530`` for a Milvus cluster. Metric IP
  on normalised vectors with a FLAT index: exact, so answers equal FAISS's flat index.

This module does not decide when vectors change; :mod:`rag.kb` does.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import vectors as vec
from .errors import ConfigError, IndexCorruptError, IndexMismatchError

BACKENDS = ("faiss", "milvus")
DEFAULT_MILVUS_FILE = "milvus.db"
_BATCH = 512  # rows per Milvus insert/delete call (~0.8 MB of 384-dim vectors)
_MAX_VARCHAR = 65_535


class VectorBackend(Protocol):
    """What retrieval needs from a vector store."""

    @property
    def ntotal(self) -> int: ...

    def search(self, query_vec: np.ndarray, k: int, allowed_ids: np.ndarray | None = None,
               filters: Any = None) -> tuple[np.ndarray, np.ndarray]: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray, metadata: Sequence[dict[str, Any]]) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...


class FaissBackend:
    """The embedded FAISS index (``allowed_ids`` restricts the search; ``filters`` is not needed)."""

    name = "faiss"

    def __init__(self, index: Any) -> None:  # noqa: ANN401 - a faiss.Index
        self.index = index

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def search(self, query_vec: np.ndarray, k: int, allowed_ids: np.ndarray | None = None,
               filters: Any = None) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN401
        return vec.search(self.index, query_vec, k, allowed_ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray, metadata: Sequence[dict[str, Any]] = ()) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, np.int64))

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            vec.remove(self.index, ids)


def _literal(value: str) -> str:
    """A Milvus filter-expression string literal (C-style escapes)."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def milvus_filter(filters: Any = None, allowed_ids: np.ndarray | None = None) -> str:  # noqa: ANN401
    """The Milvus expression for a :class:`rag.retrieve.Filters` (same semantics as ``Filters.allows``).

    Sources are stored case-folded, so the source test is case-insensitive like the local one;
    a date filter excludes undated articles. With no filters, ``allowed_ids`` restricts by id.
    """
    parts = []
    if filters is not None:
        if filters.doc_ids:
            parts.append(f"doc_id in [{', '.join(_literal(d) for d in filters.doc_ids)}]")
        if filters.source:
            parts.append(f"source in [{', '.join(_literal(s.casefold()) for s in filters.source)}]")
        if filters.date_from or filters.date_to:
            parts.append('date != ""')
        if filters.date_from:
            parts.append(f"date >= {_literal(filters.date_from)}")
        if filters.date_to:
            parts.append(f"date <= {_literal(filters.date_to)}")
    elif allowed_ids is not None:
        parts.append(f"vid in [{', '.join(str(int(i)) for i in allowed_ids)}]")
    return " and ".join(parts)


class MilvusBackend:
    """Chunk vectors in a Milvus collection (fields: vid, vector, doc_id, start, end, source, date)."""

    name = "milvus"

    def __init__(self, uri: str, collection: str, dim: int, *, create: bool = False, token: str = "") -> None:
        try:
            from pymilvus import MilvusClient
        except ImportError as e:
            raise ConfigError("the Milvus backend needs the 'milvus' extra "
                              "(pip install 'rag-news[milvus]': pymilvus and milvus-lite)") from e
        if "://" not in uri:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        self.uri, self.collection, self.dim = uri, collection, int(dim)
        self.client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
        if create:
            self._create()
        elif not self.client.has_collection(collection):
            raise IndexCorruptError(f"Milvus collection {collection!r} at {uri} does not exist; rebuild the index")
        else:
            self._check_dim()

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(self.collection):
            self.client.drop_collection(self.collection)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("vid", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=_MAX_VARCHAR)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("source", DataType.VARCHAR, max_length=_MAX_VARCHAR)
        schema.add_field("date", DataType.VARCHAR, max_length=32)
        params = self.client.prepare_index_params()
        # FLAT: exact inner product (= cosine on normalised vectors), the same answers as FAISS flat.
        params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        self.client.create_collection(self.collection, schema=schema, index_params=params,
                                      consistency_level="Strong")

    def _check_dim(self) -> None:
        for f in self.client.describe_collection(self.collection).get("fields", []):
            if f.get("name") == "vector":
                dim = int(f.get("params", {}).get("dim", self.dim))
                if dim != self.dim:
                    raise IndexMismatchError(f"Milvus collection {self.collection!r} holds {dim}-dim vectors, "
                                             f"the index's embedder makes {self.dim}; rebuild the index")

    @property
    def ntotal(self) -> int:
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"], consistency_level="Strong")
        return int(rows[0]["count(*)"]) if rows else 0

    def search(self, query_vec: np.ndarray, k: int, allowed_ids: np.ndarray | None = None,
               filters: Any = None) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN401
        if k <= 0 or (filters is None and allowed_ids is not None and len(allowed_ids) == 0):
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        query = np.asarray(query_vec, dtype=np.float32).reshape(-1).tolist()
        result = self.client.search(self.collection, data=[query], limit=int(k), anns_field="vector",
                                    filter=milvus_filter(filters, allowed_ids), output_fields=["vid"],
                                    search_params={"metric_type": "IP"}, consistency_level="Strong")
        hits = list(result[0]) if result else []
        scores = np.asarray([h["distance"] for h in hits], dtype=np.float32)
        ids = np.asarray([h.get("vid", h.get("id")) for h in hits], dtype=np.int64)
        return scores, ids

    def add(self, ids: np.ndarray, vectors: np.ndarray, metadata: Sequence[dict[str, Any]]) -> None:
        """Insert or replace (upsert) these vectors with their metadata."""
        vectors = np.asarray(vectors, dtype=np.float32)
        for lo in range(0, len(ids), _BATCH):
            rows = [{"vid": int(ids[i]), "vector": vectors[i].tolist(), "doc_id": meta["doc_id"],
                     "start": int(meta["start"]), "end": int(meta["end"]),
                     "source": (meta.get("source") or "").casefold(), "date": meta.get("date") or ""}
                    for i, meta in zip(range(lo, min(lo + _BATCH, len(ids))), metadata[lo:lo + _BATCH])]
            self.client.upsert(self.collection, rows)

    def remove(self, ids: np.ndarray) -> None:
        ids = [int(i) for i in ids]
        for lo in range(0, len(ids), _BATCH):
            self.client.delete(self.collection, ids=ids[lo:lo + _BATCH])

    def drop(self) -> None:
        if self.client.has_collection(self.collection):
            self.client.drop_collection(self.collection)


def store_info(backend: str, uri: str | None, index_dir: Path) -> dict[str, Any]:
    """What the manifest records about a new index's vector store (a fresh collection name for Milvus)."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} is not valid; choose one of {', '.join(BACKENDS)}")
    if backend == "faiss":
        if uri:
            raise ConfigError("uri is only for backend='milvus'")
        return {"name": "faiss"}
    folder = hashlib.sha1(str(Path(index_dir).resolve()).encode()).hexdigest()[:12]  # noqa: S324 - a name
    # A new collection per build: the old index keeps serving until the new one is swapped in.
    info: dict[str, Any] = {"name": "milvus", "collection": f"rag_{folder}_{time.time_ns():x}"}
    if uri is None:
        info.update(uri=DEFAULT_MILVUS_FILE, relative=True)  # a milvus-lite file inside the index folder
    else:
        info.update(uri=str(uri), relative=False)
    return info


def resolve_uri(info: dict[str, Any], index_dir: Path) -> str:
    uri = str(info["uri"])
    return str(Path(index_dir) / uri) if info.get("relative") else uri


def open_backend(info: dict[str, Any], index_dir: Path, dim: int, *, create: bool = False) -> MilvusBackend | None:
    """The live backend an index's manifest names (``None`` for FAISS, which lives in the generation)."""
    if info.get("name", "faiss") == "faiss":
        return None
    if info.get("name") != "milvus":
        raise IndexMismatchError(f"unknown vector store {info.get('name')!r} in the manifest; rebuild the index")
    return MilvusBackend(resolve_uri(info, index_dir), str(info["collection"]), dim, create=create)
