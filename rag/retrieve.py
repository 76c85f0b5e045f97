"""Retrieval: dense (FAISS or Milvus, see :mod:`rag.backends`) and BM25 candidates, fused,
re-scored by their best sentence, optionally reranked, diversified, and filtered by metadata.

The ranking maths lives in :mod:`rag.fusion`; this module gathers candidates and turns
them into :class:`~rag.types.Hit` objects with the best sentence's span marked.
"""

from __future__ import annotations

import re
import threading
import warnings
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from . import fusion, tables
from .config import Config
from .embed import Embedder
from .errors import ConfigError, QueryError
from .lexical import Acronyms, tokenize
from .normalize import normalize_text
from .store import IndexData
from .types import Hit

_CURLY = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "«": '"', "»": '"'})


@dataclass(frozen=True)
class Filters:
    """Metadata filters; empty fields do not filter. Dates are inclusive ISO ``YYYY-MM-DD``."""

    source: tuple[str, ...] = ()
    date_from: str = ""
    date_to: str = ""
    doc_ids: tuple[str, ...] = ()

    @classmethod
    def coerce(cls, value: Filters | dict[str, Any] | None) -> Filters | None:
        """Accept ``None``, a :class:`Filters` or a mapping with these field names."""
        if value is None or isinstance(value, Filters):
            return value if value is None or not value.empty else None
        if not isinstance(value, dict):
            raise ConfigError(f"filters must be a mapping, got {type(value).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(value) - names
        if unknown:
            raise ConfigError(f"unknown filter(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(names))}")
        kwargs: dict[str, Any] = {}
        for key in ("source", "doc_ids"):
            v = value.get(key) or ()
            kwargs[key] = (v,) if isinstance(v, str) else tuple(str(x) for x in v)
        for key in ("date_from", "date_to"):
            v = str(value.get(key) or "")
            if v and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
                raise ConfigError(f"{key}={v!r} must be a date as YYYY-MM-DD")
            kwargs[key] = v
        built = cls(**kwargs)
        return None if built.empty else built

    @property
    def empty(self) -> bool:
        return not (self.source or self.date_from or self.date_to or self.doc_ids)

    def allows(self, doc: Any) -> bool:
        if self.doc_ids and doc.doc_id not in self.doc_ids:
            return False
        if self.source and doc.source.casefold() not in {s.casefold() for s in self.source}:
            return False
        if (self.date_from or self.date_to) and not doc.date:
            return False
        if self.date_from and doc.date < self.date_from:
            return False
        return not (self.date_to and doc.date > self.date_to)


def prepare_query(query: str, max_chars: int) -> str:
    """Validate and canonicalise a query: non-empty, curly quotes straightened, length capped."""
    if not isinstance(query, str):
        raise QueryError(f"the query must be text, got {type(query).__name__}")
    text = normalize_text(query).translate(_CURLY)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise QueryError("the query is empty; type a question or some words to search for")
    if len(text) > max_chars:
        warnings.warn(f"query of {len(text):,} characters truncated to {max_chars:,}", stacklevel=3)
        cut = text[:max_chars]
        text = cut[: cut.rfind(" ")] if " " in cut[max_chars // 2:] else cut
    return text


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder from a local folder, loaded on first use."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._model = None
        self._lock = threading.Lock()

    def scores(self, query: str, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                self._model = CrossEncoder(self.path, device="cpu", local_files_only=True)
        return np.asarray(self._model.predict([(query, t) for t in texts]), dtype=np.float32)


class Retriever:
    """Searches one :class:`IndexData` with one embedder."""

    def __init__(self, data: IndexData, embedder: Embedder, config: Config) -> None:
        self.data = data
        self.embedder = embedder
        self.config = config
        self.reranker = CrossEncoderReranker(config.reranker) if config.reranker else None
        self._doc_rows: dict[str, np.ndarray] | None = None  # chunk rows per document, for filters
        self._sent_spans = np.asarray(data.chunk_sents, dtype=np.int64).reshape(-1, 2)
        self._row_of_chunk: dict[str, int] | None = None
        self._query_vectors: dict[str, np.ndarray] = {}
        self._query_lock = threading.Lock()
        self._acronym_map: Acronyms | None = None

    def chunk_row(self, chunk_id: str) -> int | None:
        """Row of a chunk id in this snapshot (the map is built once, on first use)."""
        if self._row_of_chunk is None:
            self._row_of_chunk = {c: i for i, c in enumerate(tables.chunk_ids(self.data.chunks))}
        return self._row_of_chunk.get(chunk_id)

    def allowed_rows(self, filters: Filters | None) -> np.ndarray | None:
        """Chunk rows that pass ``filters`` (``None``: all)."""
        if filters is None:
            return None
        docs = [d for d in self.data.documents.values() if filters.allows(d)]
        if self._doc_rows is None:
            self._doc_rows = tables.doc_rows(self.data.chunks)  # once, on the first filtered search
        parts = [self._doc_rows[d.doc_id] for d in docs if d.doc_id in self._doc_rows]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def embed_query(self, query: str) -> np.ndarray:
        """The query's vector; the last few are kept, since an answer embeds its question twice
        (retrieval, then sentence scoring)."""
        with self._query_lock:
            cached = self._query_vectors.get(query)
        if cached is not None:
            return cached
        vector = self.embedder.embed([query])[0]
        with self._query_lock:
            self._query_vectors[query] = vector
            while len(self._query_vectors) > 64:
                self._query_vectors.pop(next(iter(self._query_vectors)))
        return vector

    def dense_candidates(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None,
                         filters: Filters | None = None) -> dict[int, float]:
        """Nearest chunk rows from the vector backend: FAISS takes the allowed ids, Milvus the filters."""
        allowed_ids = None if allowed is None else self.data.vids[allowed]
        scores, ids = self.data.vector_backend().search(qvec, n, allowed_ids=allowed_ids, filters=filters)
        rows = self.data.row_of_vid
        # A shared Milvus collection may briefly hold a writer's new vectors: not in this snapshot.
        return {rows[int(i)]: float(s) for s, i in zip(scores, ids) if int(i) in rows}

    def bm25_candidates(self, query: str, n: int, allowed: np.ndarray | None) -> dict[int, float]:
        assert self.data.bm25 is not None  # noqa: S101 - loaded with the index
        scores = self.data.bm25.scores(query)
        if allowed is not None:
            masked = np.full_like(scores, -1.0)
            masked[allowed] = scores[allowed]
            scores = masked
        n = min(n, int((scores > 0).sum()))
        if n <= 0:
            return {}
        top = np.argpartition(-scores, n - 1)[:n]
        return {int(i): float(scores[i]) for i in top}

    def sentence_scores(self, query: str, qvec: np.ndarray, rows: list[int]) -> dict[int, tuple[float, int]]:
        """Best sentence of each chunk row: (score, sentence row); score mixes cosine and idf coverage
        (``Config.sentence_dense_weight`` of cosine).

        Vectorised over every sentence of the candidate chunks: one gather of sentence vectors,
        one sparse product for the lexical coverage (the BM25 index's sentence-term matrix).
        """
        spans = self._sent_spans[np.asarray(rows, dtype=np.int64)] if rows else np.zeros((0, 2), np.int64)
        keep = spans[:, 1] > spans[:, 0]
        rows_kept = [r for r, k in zip(rows, keep) if k]
        spans = spans[keep]
        if not rows_kept:
            return {}
        lengths = spans[:, 1] - spans[:, 0]
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        sent_rows = np.repeat(spans[:, 0] - starts, lengths) + np.arange(int(lengths.sum()))
        dense = np.asarray(self.data.sentence_vectors[sent_rows], dtype=np.float32) @ qvec
        lexical = self._lexical_coverage(query, sent_rows)
        w = self.config.sentence_dense_weight
        score = w * dense.astype(np.float64) + (1.0 - w) * lexical
        out: dict[int, tuple[float, int]] = {}
        for row, lo, n in zip(rows_kept, starts, lengths):
            j = int(np.argmax(score[lo:lo + n]))
            out[row] = (float(score[lo + j]), int(sent_rows[lo + j]))
        return out

    def _lexical_coverage(self, query: str, sent_rows: np.ndarray) -> np.ndarray:
        """Share of the query's idf mass held by each sentence (0 to 1)."""
        bm25 = self.data.bm25
        if bm25 is None:
            return np.zeros(len(sent_rows))
        terms = sorted(set(tokenize(query)))
        idf = {t: float(v) for t, v in zip((t for t in terms if t in bm25.vocab), bm25.idfs(bm25.term_ids(terms)))}
        return self.term_coverage(sent_rows, idf) / (sum(idf.values()) or 1.0)

    def term_coverage(self, sent_rows: np.ndarray, weights: dict[str, float]) -> np.ndarray:
        """For each sentence row, the summed ``weights`` of the (tokenized) terms it holds.

        One sparse product over the BM25 index's sentence-term matrix; an index from before
        that matrix existed tokenizes the sentences instead (same result).
        """
        bm25 = self.data.bm25
        known = [t for t in weights if bm25 is not None and t in bm25.vocab]
        if not known or len(sent_rows) == 0:
            return np.zeros(len(sent_rows))
        values = np.asarray([weights[t] for t in known], dtype=np.float64)
        try:
            return bm25.sentence_coverage(np.asarray(sent_rows), bm25.term_ids(known), values)
        except LookupError:
            out = np.zeros(len(sent_rows))
            acronyms = self._acronyms()
            for i, srow in enumerate(sent_rows):
                d, s, e = self.data.sentences[srow]
                text = self.data.documents[d].text[s:e]
                words = set(acronyms.expand(text, tokenize(text)))
                out[i] = sum(v for t, v in zip(known, values) if t in words)
            return out

    def _acronyms(self) -> Acronyms:
        """The corpus's acronyms, as the index build found them (for the tokenizing path)."""
        if self._acronym_map is None:
            self._acronym_map = Acronyms.from_texts(doc.text for doc in self.data.documents.values())
        return self._acronym_map

    def search(self, query: str, k: int = 5, filters: Filters | dict[str, Any] | None = None,
               mode: str | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``."""
        cfg = self.config
        mode = mode or cfg.mode
        if mode not in ("hybrid", "dense", "bm25"):
            raise ConfigError(f"mode={mode!r} is not valid; choose one of hybrid, dense, bm25")
        if not isinstance(k, int) or isinstance(k, bool) or k <= 0:
            raise ConfigError(f"k={k!r} must be a positive whole number")
        query = prepare_query(query, cfg.max_query_chars)
        filt = Filters.coerce(filters)
        allowed = self.allowed_rows(filt)
        if not self.data.chunks or (allowed is not None and len(allowed) == 0):
            return []
        n = max(cfg.candidates, 4 * k)
        qvec = self.embed_query(query) if mode in ("hybrid", "dense") or cfg.sentence_scoring else None
        stage: dict[str, dict[int, float]] = {}
        if mode in ("hybrid", "dense"):
            stage["dense"] = self.dense_candidates(qvec, n, allowed, filt)
        if mode in ("hybrid", "bm25"):
            stage["bm25"] = self.bm25_candidates(query, n, allowed)
        if mode == "hybrid":
            fused = fusion.fuse(cfg.fusion, [stage["dense"], stage["bm25"]], cfg.dense_weight, cfg.rrf_k)
        else:
            fused = fusion.minmax(stage[mode])
        if not fused:
            return []
        fused = fusion.minmax(fused)
        best_sent: dict[int, tuple[float, int]] = {}
        if qvec is not None:
            best_sent = self.sentence_scores(query, qvec, list(fused))
        final = dict(fused)
        if cfg.sentence_scoring and best_sent:
            sent_norm = fusion.minmax({r: v[0] for r, v in best_sent.items()})
            w = cfg.sentence_weight
            final = {r: (1 - w) * s + w * sent_norm.get(r, 0.0) for r, s in fused.items()}
        order = fusion.top_k(final, len(final))
        if self.reranker is not None:
            head = order[: max(20, 2 * k)]
            ce = self.reranker.scores(query, [self.data.chunks[r].text for r in head])
            final.update({r: float(s) for r, s in zip(head, ce)})
            order = [head[i] for i in np.argsort(-ce, kind="stable")] + order[len(head):]
        order = self._diversify(order, final, k)
        return [self._hit(r, final[r], rank + 1, stage, best_sent) for rank, r in enumerate(order)]

    def _diversify(self, order: list[int], scores: dict[int, float], k: int) -> list[int]:
        cfg = self.config
        if cfg.diversity == "none":
            return order[:k]
        vectors = self.data.chunk_vectors
        if cfg.diversity == "mmr":
            head = order[: max(4 * k, 20)]
            rel = fusion.minmax({r: scores[r] for r in head})
            return fusion.mmr_select(rel, np.asarray(vectors), k, cfg.mmr_lambda)
        chunks = self.data.chunks
        return fusion.dedup_select(order, np.asarray(vectors), k, cfg.dedup_threshold,
                                   same=lambda a, b: chunks[a].text == chunks[b].text)

    def _hit(self, row: int, score: float, rank: int, stage: dict[str, dict[int, float]],
             best_sent: dict[int, tuple[float, int]]) -> Hit:
        c = self.data.chunks[row]
        doc = self.data.documents[c.doc_id]
        best_start = best_end = -1
        if row in best_sent:
            _, srow = best_sent[row]
            _, best_start, best_end = self.data.sentences[srow]
        scores = {name: s[row] for name, s in stage.items() if row in s}
        if row in best_sent:
            scores["sentence"] = best_sent[row][0]
        return Hit(chunk_id=c.chunk_id, doc_id=c.doc_id, title=doc.title, text=c.text, start=c.start, end=c.end,
                   score=float(score), rank=rank, source=doc.source, date=doc.date,
                   best_start=best_start, best_end=best_end, scores=scores)
