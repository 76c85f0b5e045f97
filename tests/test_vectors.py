"""The FAISS layer: automatic index choice, refined IVF-PQ, filters, persistence, training reuse."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from rag import vectors as vec
from rag.config import Config
from rag.errors import ConfigError


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def _one_faiss_thread():  # noqa: ANN202
    """k-means with several OpenMP threads crawls on a busy 2-core machine (40 s vs 9 s here)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray]:
    """4,000 unit vectors in 100 clusters (so IVF lists are meaningful), with sparse int64 ids."""
    rng = np.random.default_rng(7)
    centres = _unit(rng.standard_normal((100, 64)))
    x = _unit(centres[rng.integers(0, 100, 4_000)] + 0.15 * rng.standard_normal((4_000, 64)))
    ids = rng.choice(2**62, size=len(x), replace=False).astype(np.int64)
    return x, ids


def _exact(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    rows = np.arange(len(x)) if allowed is None else np.flatnonzero(np.isin(ids, allowed))
    order = rows[np.argsort(-(x[rows] @ q), kind="stable")[:k]]
    return ids[order].tolist()


# ---- the automatic choice ---------------------------------------------------------------

def test_auto_is_flat_below_the_threshold_and_refined_ivfpq_above() -> None:
    cfg = Config()
    assert cfg.index_type == "auto"
    assert vec.resolve_index_type("auto", cfg.ann_threshold - 1, cfg.ann_threshold) == "flat"
    assert vec.resolve_index_type("auto", cfg.ann_threshold, cfg.ann_threshold) == "ivfpq"
    assert vec.resolve_index_type("auto", 1_000_000, cfg.ann_threshold) == "ivfpq"
    # The table's winner at 10^6 (recall@10 0.956): 4,000 lists, PQ96, exact re-ranking.
    assert vec.factory_string("ivfpq", 1_000_000, 384, nlist=cfg.ivf_nlist, pq_m=cfg.pq_m,
                              refine=cfg.ivf_refine) == "IDMap2,IVF4000,PQ96x8,RFlat"
    assert vec.factory_string("ivfpq", 100_000, 384) == "IDMap2,IVF1264,PQ96x8,RFlat"
    assert cfg.ivf_nprobe == 32


def test_auto_never_picks_ivfpq_below_its_training_minimum() -> None:
    assert vec.resolve_index_type("auto", vec.IVFPQ_MIN_VECTORS - 1, 1) == "flat"
    assert vec.resolve_index_type("ivfpq", vec.IVFPQ_MIN_VECTORS - 1, 1) == "flat"


def test_explicit_index_types_override_auto() -> None:
    for kind in ("flat", "hnsw"):
        assert vec.resolve_index_type(kind, 10**6, 50_000) == kind
    assert vec.resolve_index_type("ivfpq", 20_000, 10**9) == "ivfpq"
    assert vec.factory_string("ivfpq", 10**6, 384, pq_m=48, refine=False) == "IDMap2,IVF4000,PQ48x8"
    # 96 does not divide 256: the largest PQ size that does.
    assert vec.factory_string("ivfpq", 10**6, 256, pq_m=96).startswith("IDMap2,IVF4000,PQ64x8")


def test_config_validates_index_options_and_ignores_the_retired_threshold() -> None:
    with pytest.raises(ConfigError, match="ann_threshold"):
        Config(ann_threshold=0)
    with pytest.raises(ConfigError, match="ivf_refine"):
        Config(ivf_refine="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="ivf_nlist"):
        Config(ivf_nlist=-1)
    old = {**Config().to_dict(), "hnsw_threshold": 200_000}
    del old["ann_threshold"]
    assert Config.from_dict(old).ann_threshold == Config().ann_threshold  # old manifests still load
    with pytest.raises(ConfigError, match="unknown"):
        Config.from_dict({"hnsw_treshold": 1})


# ---- refined IVF-PQ -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def ivfpq(clustered):  # noqa: ANN001, ANN201
    x, ids = clustered
    return vec.build_index(x, ids, "ivfpq", nlist=32, pq_m=16, nprobe=16, refine=True)


def test_refined_ivfpq_finds_the_exact_neighbours(clustered, ivfpq) -> None:  # noqa: ANN001
    x, ids = clustered
    assert vec.describe(ivfpq) == "IDMap2,IVF32,PQ16x8,RFlat"
    rng = np.random.default_rng(1)
    recall = []
    for row in rng.choice(len(x), 50, replace=False):
        q = _unit((x[row] + 0.05 * rng.standard_normal(64))[None])[0]
        scores, got = vec.search(ivfpq, q, 10)
        recall.append(len(set(got.tolist()) & set(_exact(x, ids, q, 10))) / 10)
        # RFlat: the returned scores are exact inner products, not PQ approximations.
        np.testing.assert_allclose(scores, [float(x[ids == i][0] @ q) for i in got], rtol=1e-4, atol=1e-5)
    assert np.mean(recall) >= 0.9


def test_filtered_search_on_refined_ivfpq_returns_only_allowed_ids(clustered, ivfpq) -> None:  # noqa: ANN001
    x, ids = clustered
    q = x[0]
    allowed = ids[1000:2000]
    _, got = vec.search(ivfpq, q, 10, allowed)
    assert len(got) == 10 and set(got.tolist()) <= set(allowed.tolist())
    assert len(set(got.tolist()) & set(_exact(x, ids, q, 10, allowed))) >= 9


def test_narrow_filter_on_ivfpq_still_returns_every_allowed_vector(clustered, ivfpq) -> None:  # noqa: ANN001
    """Three allowed vectors far from the query (other IVF lists): all three come back."""
    x, ids = clustered
    q = x[0]
    far = np.argsort(x @ q)[:3]  # the three least similar vectors
    _, got = vec.search(ivfpq, q, 10, ids[far])
    assert sorted(got.tolist()) == sorted(ids[far].tolist())


def test_filtered_search_on_unrefined_ivfpq_and_flat(clustered) -> None:  # noqa: ANN001
    x, ids = clustered
    for index in (vec.build_index(x, ids, "ivfpq", nlist=32, pq_m=16, refine=False),
                  vec.build_index(x, ids, "flat")):
        _, got = vec.search(index, x[3], 5, ids[:4])
        assert sorted(got.tolist()) == sorted(ids[:4].tolist())


def test_refined_index_persists_and_nprobe_is_set_after_load(clustered, ivfpq, tmp_path) -> None:  # noqa: ANN001
    x, ids = clustered
    path = str(tmp_path / "v.faiss")
    vec.write(ivfpq, path)
    loaded = vec.read(path)
    assert vec.describe(loaded) == "IDMap2,IVF32,PQ16x8,RFlat"
    vec.configure(loaded, nprobe=7)
    assert faiss.extract_index_ivf(loaded).nprobe == 7
    vec.configure(loaded, nprobe=16)
    for row in (0, 100, 2000):
        a = vec.search(ivfpq, x[row], 10)
        b = vec.search(loaded, x[row], 10)
        np.testing.assert_array_equal(a[1], b[1])


def test_nprobe_changes_what_is_searched(clustered) -> None:  # noqa: ANN001
    """configure() must reach the IVF under IDMap2 and RFlat: nprobe=1 finds less than nprobe=32."""
    x, ids = clustered
    index = vec.build_index(x, ids, "ivfpq", nlist=32, pq_m=16, refine=True, nprobe=1)
    rng = np.random.default_rng(3)
    queries = _unit(rng.standard_normal((30, 64)))

    def recall() -> float:
        return float(np.mean([len(set(vec.search(index, q, 10)[1].tolist()) & set(_exact(x, ids, q, 10))) / 10
                              for q in queries]))

    low = recall()
    vec.configure(index, nprobe=32)
    assert faiss.extract_index_ivf(index).nprobe == 32
    assert recall() > low


# ---- reuse of the training on incremental builds ------------------------------------------

def _centroids(index) -> np.ndarray:  # noqa: ANN001
    ivf = faiss.extract_index_ivf(index)
    return faiss.vector_to_array(faiss.downcast_index(ivf.quantizer).codes).copy()


def test_incremental_build_reuses_the_trained_codebooks(clustered, ivfpq) -> None:  # noqa: ANN001
    x, ids = clustered
    fewer = vec.build_index(x[:3_000], ids[:3_000], "ivfpq", nlist=32, pq_m=16, refine=True, previous=ivfpq)
    assert fewer.ntotal == 3_000 and ivfpq.ntotal == len(x)  # the previous index is untouched
    np.testing.assert_array_equal(_centroids(fewer), _centroids(ivfpq))
    _, got = vec.search(fewer, x[1], 1)
    assert got.tolist() == [ids[1]]


def test_training_is_not_reused_when_the_shape_differs(clustered, ivfpq) -> None:  # noqa: ANN001
    x, ids = clustered
    other = vec.build_index(x, ids, "ivfpq", nlist=16, pq_m=16, refine=True, previous=ivfpq)
    assert vec.describe(other) == "IDMap2,IVF16,PQ16x8,RFlat"
    unrefined = vec.build_index(x, ids, "ivfpq", nlist=32, pq_m=16, refine=False, previous=ivfpq)
    assert vec.describe(unrefined) == "IDMap2,IVF32,PQ16x8"
    # Automatic list counts: reuse while the wanted count is within a factor 2 of the trained one.
    assert vec._reusable(ivfpq, vec.factory_string("ivfpq", 12_000, 64, pq_m=16), 0) is None  # wants 252 lists
