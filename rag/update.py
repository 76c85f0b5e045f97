"""Index updates as data: the next :class:`~rag.store.IndexData` from a base, new documents and removals.

One function, :func:`apply_changes`, serves every write (a build is an update of an empty index; the
distributed build hands it vectors and chunks computed elsewhere): it drops exact duplicates and
unchanged documents, reports near duplicates, chunks what is new, reuses every vector whose embedded
text is unchanged (by its hash), embeds the rest in one call, and rebuilds the vector and BM25 indexes.
Nothing here touches the disk: :mod:`rag.kb` persists the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import dedup
from . import vectors as vec
from .chunk import chunk_document
from .config import Config
from .embed import Embedder
from .lexical import Acronyms, BM25Index
from .store import IndexData
from .types import Chunk, Document, IngestReport, Skipped


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


def apply_changes(base: IndexData, embedder: Embedder, docs: list[Document], skipped: list[Skipped],
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
