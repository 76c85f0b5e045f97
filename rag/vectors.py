"""The vector index: FAISS with explicit 64-bit ids, exact inner product by default.

Vectors are L2-normalised, so inner product equals cosine similarity. The index type is
a config choice built with FAISS's index factory: ``flat`` (exact), ``hnsw`` (graph) or
``ivfpq`` (compressed; trained on the vectors). Ids are derived from chunk ids, never
row numbers, so deleting a document removes exactly its vectors.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .errors import IndexCorruptError

IVFPQ_MIN_VECTORS = 10_000  # below this an IVF-PQ codebook cannot be trained well; use flat


def vector_id(chunk_id: str) -> int:
    """A stable non-negative int64 id for a chunk id."""
    return int.from_bytes(hashlib.blake2b(chunk_id.encode(), digest_size=8).digest(), "little") & ((1 << 63) - 1)


def resolve_index_type(requested: str, n: int, hnsw_threshold: int) -> str:
    """The concrete index type for ``n`` vectors ("auto" picks flat, then HNSW above the threshold)."""
    if requested == "auto":
        return "hnsw" if n >= hnsw_threshold else "flat"
    if requested == "ivfpq" and n < IVFPQ_MIN_VECTORS:
        return "flat"
    return requested


def factory_string(index_type: str, n: int, dim: int, hnsw_m: int = 32, nlist: int = 0, pq_m: int = 48,
                   refine: bool = False) -> str:
    """The FAISS index factory string for an index type and corpus size.

    ``refine`` (IVF-PQ only) re-ranks the compressed search's candidates with the full
    vectors (``RFlat``): much better recall, but it keeps the float32 vectors in memory.
    """
    if index_type == "flat":
        return "IDMap2,Flat"
    if index_type == "hnsw":
        return f"IDMap2,HNSW{hnsw_m},Flat"
    if index_type == "ivfpq":
        nlist = nlist or int(min(65536, max(64, 4 * np.sqrt(n))))
        m = pq_m if dim % pq_m == 0 else next(x for x in (64, 48, 32, 24, 16, 8) if dim % x == 0)
        return f"IDMap2,IVF{nlist},PQ{m}x8" + (",RFlat" if refine else "")
    raise ValueError(f"unknown index type {index_type!r}")


def build_index(vectors: np.ndarray, ids: np.ndarray, index_type: str, *, hnsw_m: int = 32,
                ef_search: int = 128, nlist: int = 0, nprobe: int = 32, pq_m: int = 48,
                refine: bool = False):  # noqa: ANN201
    """A FAISS index over ``vectors`` with ``ids`` (int64)."""
    import faiss

    dim = vectors.shape[1]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.index_factory(dim, factory_string(index_type, len(vectors), dim, hnsw_m, nlist, pq_m, refine),
                                faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
        # FAISS trains "polysemous" PQ codes by default (simulated annealing: minutes, even
        # on 16k vectors); they only serve Hamming pre-filtering, which is never enabled here.
        if hasattr(ivf, "do_polysemous_training"):
            ivf.do_polysemous_training = False
        index.train(_training_sample(vectors, ivf.nlist))
    if len(vectors):
        index.add_with_ids(vectors, ids.astype(np.int64))
    configure(index, ef_search=ef_search, nprobe=nprobe)
    return index


TRAIN_PER_LIST = 64  # k-means points per IVF list: FAISS warns below 39, and gains little above ~64


def _training_sample(vectors: np.ndarray, nlist: int) -> np.ndarray:
    """A seeded sample of at most ``TRAIN_PER_LIST * nlist`` vectors (10,000 at least, for PQ).

    Training cost is linear in the sample: on all of 10^6 vectors with nlist=4,000, k-means
    alone takes tens of minutes on two cores; 64 points per list gives the same recall.
    """
    size = max(TRAIN_PER_LIST * nlist, IVFPQ_MIN_VECTORS)
    if len(vectors) <= size:
        return vectors
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), size=size, replace=False))
    return vectors[rows]


def configure(index, *, ef_search: int = 128, nprobe: int = 32) -> None:  # noqa: ANN001
    """Set search-time parameters (HNSW efSearch, IVF nprobe) on a loaded index."""
    import faiss

    inner = index
    while True:  # through the IDMap2 and RFlat wrappers to the index that searches
        inner = faiss.downcast_index(inner)
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = ef_search
        if hasattr(inner, "nprobe"):
            inner.nprobe = nprobe
        wrapped = getattr(inner, "base_index", None) or getattr(inner, "index", None)
        if wrapped is None:
            return
        inner = wrapped


SEARCH_THREADS = 1  # OpenMP threads for one query: more only adds fork/join and spin-wait overhead


def search(index, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Top ``k`` (scores, ids) for one query vector; ``allowed`` restricts to those ids.

    One query is searched on one OpenMP thread (set for the calling thread only, then
    restored): on two cores that was 2-7x faster than FAISS's default of all cores, whose
    threads spin-wait at every barrier, worse still when the machine is busy.
    """
    import faiss

    if index.ntotal == 0 or k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(SEARCH_THREADS)
    try:
        if allowed is None:
            scores, ids = index.search(q, min(k, index.ntotal))
        else:
            if len(allowed) == 0:
                return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)
            scores, ids = index.search(q, min(k, len(allowed)), params=params)
    finally:
        faiss.omp_set_num_threads(threads)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]


def remove(index, ids: np.ndarray) -> int:  # noqa: ANN001
    """Remove vectors by id; the number removed."""
    import faiss

    return int(index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))))


def write(index, path: str) -> None:  # noqa: ANN001
    import faiss

    faiss.write_index(index, path)


def read(path: str):  # noqa: ANN201
    import faiss

    try:
        return faiss.read_index(path)
    except RuntimeError as e:
        raise IndexCorruptError(f"cannot read the FAISS file {path}: {e}; rebuild the index") from e
