"""Index options through the knowledge base: automatic IVF-PQ, nprobe after open, training reuse
on add, and chunk vectors derived from sentence vectors (``chunk_vectors="sentence_mean"``)."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from rag import Config, ConfigError, Filters, KnowledgeBase
from rag import store
from rag import vectors as vec
from rag.embed import HashEmbedder

WORDS = ("strike union miners ventilation owners police protest harbour ferry council budget vote election "
         "drought river farmers wheat price bank rate inflation court judge appeal museum painting theft "
         "storm coast evacuation hospital nurses vaccine school teachers exam railway tunnel bridge").split()


def _corpus(folder: Path, n_docs: int, seed: int = 0) -> Path:
    """``n_docs`` short articles of three made-up sentences each (one chunk each, hash embedder)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_docs):
        sentences = [" ".join(rng.choice(WORDS, size=int(rng.integers(5, 14)))).capitalize() + "."
                     for _ in range(3)]
        (folder / f"doc{seed}-{i:04d}.txt").write_text(f"Report {seed}-{i}\n\n" + " ".join(sentences) + "\n",
                                                       encoding="utf-8")
    return folder


@pytest.fixture
def one_faiss_thread():  # noqa: ANN201
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


def test_auto_builds_refined_ivfpq_above_the_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       one_faiss_thread) -> None:  # noqa: ANN001
    monkeypatch.setattr(vec, "IVFPQ_MIN_VECTORS", 1)  # let a 400-chunk corpus use IVF-PQ
    corpus = _corpus(tmp_path / "a", 400)
    cfg = Config(embedder="hash", ann_threshold=300, ivf_nlist=4, ivf_nprobe=2)
    index_dir = tmp_path / "index"
    kb = KnowledgeBase.build([corpus], index_dir, cfg)
    assert kb.stats()["index_type"] == "ivfpq"
    data = kb._snapshot.data  # noqa: SLF001
    assert vec.describe(data.faiss_index) == "IDMap2,IVF4,PQ64x8,RFlat"  # 96 does not divide the hash dim 256
    assert faiss.extract_index_ivf(data.faiss_index).nprobe == 2
    query = "miners strike over ventilation"
    before = [h.chunk_id for h in kb.search(query, k=5, mode="dense")]

    reopened = KnowledgeBase.open(index_dir, embedder=HashEmbedder())
    loaded = reopened._snapshot.data.faiss_index  # noqa: SLF001
    assert vec.describe(loaded) == "IDMap2,IVF4,PQ64x8,RFlat"
    assert faiss.extract_index_ivf(loaded).nprobe == 2  # set from the stored config after load
    assert [h.chunk_id for h in reopened.search(query, k=5, mode="dense")] == before

    session = KnowledgeBase.open(index_dir, embedder=HashEmbedder(), ivf_nprobe=3)
    assert faiss.extract_index_ivf(session._snapshot.data.faiss_index).nprobe == 3  # noqa: SLF001

    wanted = {"doc0-0007", "doc0-0123"}
    hits = reopened.search(query, k=5, mode="dense", filters=Filters(doc_ids=tuple(wanted)))
    assert {h.doc_id for h in hits} == wanted


def test_below_the_threshold_auto_stays_exact(tmp_path: Path) -> None:
    kb = KnowledgeBase.build([_corpus(tmp_path / "a", 30)], tmp_path / "index", Config(embedder="hash"))
    assert kb.stats()["index_type"] == "flat"


def _pq_centroids(index) -> np.ndarray:  # noqa: ANN001
    return faiss.vector_to_array(faiss.downcast_index(faiss.extract_index_ivf(index)).pq.centroids)


def test_add_reuses_the_ivfpq_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       one_faiss_thread) -> None:  # noqa: ANN001
    monkeypatch.setattr(vec, "IVFPQ_MIN_VECTORS", 1)
    cfg = Config(embedder="hash", ann_threshold=300, ivf_nlist=4)
    kb = KnowledgeBase.build([_corpus(tmp_path / "a", 400)], tmp_path / "index", cfg)
    trained = _pq_centroids(kb._snapshot.data.faiss_index)  # noqa: SLF001
    kb.add([_corpus(tmp_path / "b", 20, seed=1)])
    index = kb._snapshot.data.faiss_index  # noqa: SLF001
    assert index.ntotal == 420
    np.testing.assert_array_equal(_pq_centroids(index), trained)
    assert {h.doc_id for h in kb.search("report 1-5", k=3, filters=Filters(doc_ids=("doc1-0005",)))} == {"doc1-0005"}


def test_index_options_are_fixed_at_build(tmp_path: Path) -> None:
    KnowledgeBase.build([_corpus(tmp_path / "a", 5)], tmp_path / "index", Config(embedder="hash"))
    for option in ({"chunk_vectors": "sentence_mean"}, {"ann_threshold": 10}, {"ivf_refine": False}):
        with pytest.raises(ConfigError, match="fixed when the index is built"):
            KnowledgeBase.open(tmp_path / "index", **option)


# ---- chunk vectors from sentence vectors ------------------------------------------------------

class RecordingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def embed(self, texts, *, progress: bool = False) -> np.ndarray:  # noqa: ANN001
        self.seen.extend(texts)
        return super().embed(texts, progress=progress)


def test_sentence_mean_chunk_vectors(tmp_path: Path, articles_dir: Path) -> None:
    embedder = RecordingEmbedder()
    cfg = Config(embedder="hash", chunk_vectors="sentence_mean")
    kb = KnowledgeBase.build([articles_dir], tmp_path / "index", cfg, embedder=embedder)
    data = kb._snapshot.data  # noqa: SLF001
    sentence_texts = [data.documents[d].text[s:e] for d, s, e in data.sentences]
    titles = {doc.title for doc in data.documents.values() if doc.title}
    # The model reads each sentence once and each title once; no chunk text is embedded.
    assert set(embedder.seen) == set(sentence_texts) | titles
    assert not {f"{data.documents[c.doc_id].title}\n{c.text}" for c in data.chunks} & set(embedder.seen)

    reference = HashEmbedder()
    for c, (lo, hi) in zip(data.chunks, data.chunk_sents):
        doc = data.documents[c.doc_id]
        parts = sentence_texts[lo:hi] + [doc.title]
        weights = np.asarray(reference.count_tokens(parts), dtype=np.float32)[:, None]
        expected = (weights * reference.embed(parts)).sum(axis=0)
        expected /= np.linalg.norm(expected)
        np.testing.assert_allclose(np.asarray(data.chunk_vectors[c_row(data, c.chunk_id)]), expected, atol=1e-5)

    # Chunking is the same either way; only the chunk vectors differ.
    plain = KnowledgeBase.build([articles_dir], tmp_path / "plain", Config(embedder="hash"))
    assert [c.chunk_id for c in plain._snapshot.data.chunks] == [c.chunk_id for c in data.chunks]  # noqa: SLF001
    assert kb.search("Who was killed alongside Soleimani?", k=3)
    assert KnowledgeBase.open(tmp_path / "index").config.chunk_vectors == "sentence_mean"


def c_row(data, chunk_id: str) -> int:  # noqa: ANN001
    return next(i for i, c in enumerate(data.chunks) if c.chunk_id == chunk_id)


def test_sentence_mean_survives_add_and_remove(tmp_path: Path, articles_dir: Path) -> None:
    cfg = Config(embedder="hash", chunk_vectors="sentence_mean")
    kb = KnowledgeBase.build([articles_dir], tmp_path / "index", cfg)
    first = {c.chunk_id: np.asarray(v).copy() for c, v in zip(kb._snapshot.data.chunks,  # noqa: SLF001
                                                                kb._snapshot.data.chunk_vectors)}  # noqa: SLF001
    kb.add([_corpus(tmp_path / "b", 3, seed=2)])
    data = kb._snapshot.data  # noqa: SLF001
    for c, v in zip(data.chunks, data.chunk_vectors):
        if c.chunk_id in first:  # kept chunks keep their vectors
            np.testing.assert_allclose(np.asarray(v), first[c.chunk_id], atol=1e-6)
    assert len(data.chunks) == len(first) + 3
    assert {h.doc_id for h in kb.search("strike", k=3, filters=Filters(doc_ids=("doc2-0001",)))} == {"doc2-0001"}
    kb.remove(["doc2-0001"])
    assert len(kb._snapshot.data.chunks) == len(first) + 2  # noqa: SLF001


def test_an_index_from_before_the_option_opens_as_embedded(tmp_path: Path, articles_dir: Path) -> None:
    """A manifest without chunk_vectors (and with the retired hnsw_threshold) opens as "embed"."""
    index_dir = tmp_path / "index"
    KnowledgeBase.build([articles_dir], index_dir, Config(embedder="hash"))
    gen = store.current_generation(index_dir)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    for key in ("chunk_vectors", "ann_threshold", "ivf_refine"):
        del manifest["config"][key]
    manifest["config"]["hnsw_threshold"] = 200_000
    manifest["manifest_sha256"] = store._manifest_digest(manifest)  # noqa: SLF001
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    kb = KnowledgeBase.open(index_dir)
    assert kb.config.chunk_vectors == "embed"
    assert kb.search("Who was killed alongside Soleimani?", k=3)


# ---- compact sentence vectors -------------------------------------------------------------------

def test_float16_sentence_vectors_halve_the_file_and_keep_the_ranking(tmp_path: Path, articles_dir: Path) -> None:
    half = KnowledgeBase.build([articles_dir], tmp_path / "half", Config(embedder="hash", sentence_vector_dtype="float16"))
    full = KnowledgeBase.build([articles_dir], tmp_path / "full", Config(embedder="hash", sentence_vector_dtype="float32"))
    assert Config().sentence_vector_dtype == "float16"  # the default
    sizes = {}
    for name, kb in (("half", half), ("full", full)):
        gen = store.current_generation(tmp_path / name)
        sizes[name] = (gen / "sentence_vectors.npy").stat().st_size
        assert np.load(gen / "sentence_vectors.npy").dtype == (np.float16 if name == "half" else np.float32)
        assert np.load(gen / "chunk_vectors.npy").dtype == np.float32  # chunk vectors stay exact
    assert sizes["half"] < 0.55 * sizes["full"]
    reopened = KnowledgeBase.open(tmp_path / "half")
    assert reopened.config.sentence_vector_dtype == "float16"
    for q in ("Who was killed alongside Soleimani?", "How many US troops remain in Iraq?", "rally in Baghdad"):
        a, b = reopened.search(q, k=5), full.search(q, k=5)
        assert [h.chunk_id for h in a] == [h.chunk_id for h in b]
        assert [(h.best_start, h.best_end) for h in a] == [(h.best_start, h.best_end) for h in b]
    # an incremental add keeps the precision; the option is fixed at build
    reopened.add([_corpus(tmp_path / "more", 2, seed=4)])
    assert KnowledgeBase.open(tmp_path / "half").snapshot().data.sentence_vectors.dtype == np.float16
    with pytest.raises(ConfigError, match="fixed when the index is built"):
        KnowledgeBase.open(tmp_path / "full", sentence_vector_dtype="float16")
    with pytest.raises(ConfigError, match="sentence_vector_dtype"):
        Config(sentence_vector_dtype="int4")
