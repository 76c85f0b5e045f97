"""The vector index: FAISS with explicit 64-bit ids, exact inner product by default.

Vectors are L2-normalised, so inner product equals cosine similarity. The index type is
a config choice built with FAISS's index factory: ``flat`` (exact), ``hnsw`` (graph) or
``ivfpq`` (compressed; trained on the vectors; by default with an exact re-ranking stage,
``RFlat``). ``auto`` picks flat below ``Config.ann_threshold`` vectors and refined IVF-PQ
above, from the measurements in ``bench/README.md`` (section 3). Ids are derived from chunk
ids, never row numbers, so deleting a document removes exactly its vectors.
"""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np

from .errors import IndexCorruptError

IVFPQ_MIN_VECTORS = 10_000  # below this an IVF-PQ codebook cannot be trained well; use flat


def vector_id(chunk_id: str) -> int:
    """A stable non-negative int64 id for a chunk id."""
    return int.from_bytes(hashlib.blake2b(chunk_id.encode(), digest_size=8).digest(), "little") & ((1 << 63) - 1)


def resolve_index_type(requested: str, n: int, ann_threshold: int) -> str:
    """The concrete index type for ``n`` vectors.

    "auto" is exact search (flat) below ``ann_threshold`` vectors and refined IVF-PQ from
    there on: one-thread exact search costs ~0.18 us per vector here (9 ms at 50k, 36 ms at
    10^5, 161 ms at 10^6), while IVF-PQ96 + RFlat with nprobe=32 answered in 0.4-1.2 ms with
    recall@10 0.996 (10^5) and 0.956 (10^6); HNSW32 reached only 0.57-0.66 at 10^6 on
    near-duplicate news vectors. IVF-PQ is never used below ``IVFPQ_MIN_VECTORS``.
    """
    if requested == "auto":
        return "ivfpq" if n >= max(ann_threshold, IVFPQ_MIN_VECTORS) else "flat"
    if requested == "ivfpq" and n < IVFPQ_MIN_VECTORS:
        return "flat"
    return requested


def default_nlist(n: int) -> int:
    """IVF lists for ``n`` vectors: 4 sqrt(n), between 64 and 65,536 (4,000 at 10^6)."""
    return int(min(65536, max(64, 4 * np.sqrt(n))))


def factory_string(index_type: str, n: int, dim: int, hnsw_m: int = 32, nlist: int = 0, pq_m: int = 96,
                   refine: bool = True) -> str:
    """The FAISS index factory string for an index type and corpus size.

    ``refine`` (IVF-PQ only) re-ranks the compressed search's candidates with the full
    vectors (``RFlat``): much better recall (0.60 -> 0.95 at 10^6 with PQ96), but it keeps the
    float32 vectors in memory (1.5 GB at 10^6 x 384).
    """
    if index_type == "flat":
        return "IDMap2,Flat"
    if index_type == "hnsw":
        return f"IDMap2,HNSW{hnsw_m},Flat"
    if index_type == "ivfpq":
        nlist = nlist or default_nlist(n)
        m = pq_m if dim % pq_m == 0 else next(x for x in (96, 64, 48, 32, 24, 16, 8) if dim % x == 0)
        return f"IDMap2,IVF{nlist},PQ{m}x8" + (",RFlat" if refine else "")
    raise ValueError(f"unknown index type {index_type!r}")


def build_index(vectors: np.ndarray, ids: np.ndarray, index_type: str, *, hnsw_m: int = 32,
                ef_search: int = 128, nlist: int = 0, nprobe: int = 32, pq_m: int = 96,
                refine: bool = True, previous=None):  # noqa: ANN001, ANN201
    """A FAISS index over ``vectors`` with ``ids`` (int64).

    ``previous`` (IVF-PQ only): an index whose trained coarse quantizer and PQ codebooks are
    reused when they fit this one (same factory shape, lists within a factor 2 of what this
    size asks for), so an incremental add re-encodes the vectors instead of re-training.
    """
    import faiss

    dim = vectors.shape[1]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    factory = factory_string(index_type, len(vectors), dim, hnsw_m, nlist, pq_m, refine)
    index = _reusable(previous, factory, nlist) if index_type == "ivfpq" else None
    if index is None:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
        # FAISS trains "polysemous" PQ codes by default (simulated annealing: minutes, even
        # on 16k vectors); they only serve Hamming pre-filtering, which is never enabled here.
        if hasattr(ivf, "do_polysemous_training"):
            ivf.do_polysemous_training = False
        index.train(_training_sample(vectors, ivf.nlist))
    if len(vectors):
        index.add_with_ids(vectors, ids.astype(np.int64))
    refined = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else None
    if isinstance(refined, faiss.IndexRefine):
        refined.k_factor = REFINE_K_FACTOR  # saved with the index
    configure(index, ef_search=ef_search, nprobe=nprobe)
    return index


# RFlat re-ranks this many times k compressed candidates exactly: with 1, a search for k=10
# only re-orders the PQ top 10 (recall@10 0.68 in tests/test_vectors.py); the retriever asks
# for 50, so 4 means 200 exact inner products per query, a few microseconds.
REFINE_K_FACTOR = 4


def describe(index) -> str:  # noqa: ANN001
    """The factory-string shape of an IDMap2-wrapped index ("IDMap2,IVF4000,PQ96x8,RFlat", ...)."""
    import faiss

    inner = faiss.downcast_index(index)
    if not isinstance(inner, faiss.IndexIDMap2):
        return type(inner).__name__
    inner = faiss.downcast_index(inner.index)
    refine = isinstance(inner, faiss.IndexRefine)
    base = faiss.downcast_index(inner.base_index) if refine else inner
    if isinstance(base, faiss.IndexIVFPQ):
        return f"IDMap2,IVF{base.nlist},PQ{base.pq.M}x{base.pq.nbits}" + (",RFlat" if refine else "")
    if isinstance(base, faiss.IndexHNSW):
        return f"IDMap2,HNSW{base.hnsw.nb_neighbors(1)},Flat"
    if isinstance(base, faiss.IndexFlat):
        return "IDMap2,Flat"
    return type(base).__name__


def _reusable(previous, factory: str, nlist: int):  # noqa: ANN001, ANN202
    """An empty, trained copy of ``previous`` when its training fits ``factory``, else None."""
    import faiss

    if previous is None:
        return None
    try:
        have = describe(previous)
    except Exception:  # noqa: BLE001 - an unexpected index kind is simply not reused
        return None
    want_nlist, have_nlist = _nlist_of(factory), _nlist_of(have)
    if not want_nlist or not have_nlist or re.sub(r"IVF\d+", "IVF", have) != re.sub(r"IVF\d+", "IVF", factory):
        return None
    if nlist and have_nlist != nlist:  # a fixed list count in the config must be honoured exactly
        return None
    if not 0.5 <= have_nlist / want_nlist <= 2.0:
        return None
    index = faiss.clone_index(previous)
    index.reset()
    return index if index.is_trained else None


def _nlist_of(factory: str) -> int:
    m = re.search(r"IVF(\d+)", factory)
    return int(m.group(1)) if m else 0


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
            params = _filtered_params(index, selector, len(allowed))
            scores, ids = index.search(q, min(k, len(allowed)), params=params)
    finally:
        faiss.omp_set_num_threads(threads)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]


def _filtered_params(index, selector, n_allowed: int):  # noqa: ANN001, ANN202
    """Search parameters restricting ``index`` (IDMap2-wrapped) to the ids ``selector`` accepts.

    Flat and HNSW take the selector as it is (IDMap2 translates it to positions). A refined
    IVF-PQ index does not pass a selector down: it gets refine parameters whose base (IVF)
    parameters carry the selector, translated to positions here. The IVF then probes
    ``nprobe * ntotal / n_allowed`` lists (all of them for a narrow filter), so a filtered
    search scans about as many allowed vectors as an unfiltered one and still returns k
    results when k exist.
    """
    import faiss

    outer = faiss.downcast_index(index)
    inner = faiss.downcast_index(outer.index) if isinstance(outer, faiss.IndexIDMap2) else None
    ivf = None
    try:
        ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    except RuntimeError:
        pass
    if ivf is None:
        return faiss.SearchParameters(sel=selector)
    probes = int(min(ivf.nlist, math.ceil(ivf.nprobe * max(1, index.ntotal) / max(1, n_allowed))))
    if isinstance(inner, faiss.IndexRefine):
        translated = faiss.IDSelectorTranslated(outer.id_map, selector)
        base = faiss.SearchParametersIVF(sel=translated, nprobe=probes)
        params = faiss.IndexRefineSearchParameters(base_index_params=base, k_factor=inner.k_factor)
        params._keep = (selector, translated, base)  # the C++ objects must outlive the search
        return params
    params = faiss.SearchParametersIVF(sel=selector, nprobe=probes)
    params._keep = selector
    return params


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
