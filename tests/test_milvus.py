"""The Milvus vector-store backend (milvus-lite in a temp folder) answers like the FAISS one.

Search results, metadata filters (run inside Milvus as a filter expression), add/remove and
the extractive answers on (every third question of) the demo gold set must equal the default FAISS backend's. The demo
pair uses the real all-MiniLM-L6-v2 model; the metadata corpus uses the hash embedder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag import Config, Document, Filters, KnowledgeBase
from rag import store

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "eval" / "gold" / "demo.jsonl"
QUERIES = ["Who was killed alongside Soleimani?", "drone strike at Baghdad airport", "Iran missile retaliation",
           "Iraqi parliament vote to expel US troops", "what did Trump say after the strike",
           "Kataib Hezbollah", "anniversary protest in Baghdad"]
SOURCES = ["Reuters", "AP", "BBC", "reuters", "Al Jazeera"]
DATES = ["2020-01-03", "2020-01-05", "", "2020-01-08", "2021-01-03"]


@pytest.fixture(scope="module")
def demo_pair(tmp_path_factory: pytest.TempPathFactory,
              real_embedder) -> tuple[KnowledgeBase, KnowledgeBase]:  # noqa: ANN001
    """The demo articles indexed twice with the real model: FAISS and Milvus backends."""
    folder = tmp_path_factory.mktemp("milvus_demo")
    articles = ROOT / "data" / "articles"
    config = Config()
    faiss_kb = KnowledgeBase.build([articles], folder / "faiss", config, embedder=real_embedder)
    milvus_kb = KnowledgeBase.build([articles], folder / "milvus", config, embedder=real_embedder, backend="milvus")
    return faiss_kb, milvus_kb


def metadata_corpus(folder: Path) -> Path:
    """The demo articles as .jsonl records with a source and a date each (one undated)."""
    records = []
    for i, path in enumerate(sorted((ROOT / "data" / "articles").glob("*.txt"))):
        records.append({"id": path.stem, "title": f"Article {i}", "text": path.read_text(encoding="utf-8"),
                        "source": SOURCES[i], "date": DATES[i]})
    out = folder / "corpus.jsonl"
    out.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return out


@pytest.fixture
def meta_pair(tmp_path: Path) -> tuple[KnowledgeBase, KnowledgeBase]:
    corpus = metadata_corpus(tmp_path)
    config = Config(embedder="hash")
    return (KnowledgeBase.build([corpus], tmp_path / "faiss", config),
            KnowledgeBase.build([corpus], tmp_path / "milvus", config, backend="milvus"))


def ids_and_scores(hits: list) -> tuple[list[str], list[float]]:  # noqa: ANN001
    return [h.chunk_id for h in hits], [h.score for h in hits]


def test_search_equals_the_faiss_backend(demo_pair: tuple[KnowledgeBase, KnowledgeBase]) -> None:
    faiss_kb, milvus_kb = demo_pair
    data = milvus_kb.snapshot().data
    assert data.faiss_index is None and data.backend.ntotal == len(data.chunks)
    assert not list(store.current_generation(milvus_kb.index_dir).glob("vectors.faiss"))
    for q in QUERIES:
        for mode in ("dense", "hybrid"):
            a = ids_and_scores(faiss_kb.search(q, k=8, mode=mode))
            b = ids_and_scores(milvus_kb.search(q, k=8, mode=mode))
            assert a[0] == b[0], (q, mode)
            assert np.allclose(a[1], b[1], atol=1e-5), (q, mode)
        # The raw dense candidates too: same ids in the same order, inner products within float error.
        qvec = faiss_kb.snapshot().retriever.embed_query(q)
        fs, fi = faiss_kb.snapshot().data.vector_backend().search(qvec, 20)
        ms, mi = data.vector_backend().search(qvec, 20)
        assert list(fi) == list(mi) and np.allclose(fs, ms, atol=1e-5), q


def test_open_reconnects_from_the_manifest(demo_pair: tuple[KnowledgeBase, KnowledgeBase],
                                           real_embedder) -> None:  # noqa: ANN001
    faiss_kb, milvus_kb = demo_pair
    manifest = store.read_manifest(store.current_generation(milvus_kb.index_dir))
    assert manifest["vector_store"]["name"] == "milvus" and manifest["vector_store"]["collection"].startswith("rag_")
    reopened = KnowledgeBase.open(milvus_kb.index_dir, embedder=real_embedder)
    assert reopened.snapshot().data.backend is not None
    for q in QUERIES[:3]:
        assert ids_and_scores(reopened.search(q, k=5))[0] == ids_and_scores(faiss_kb.search(q, k=5))[0]


@pytest.mark.parametrize("filters", [
    {"source": "Reuters"},  # case-insensitive: matches "Reuters" and "reuters"
    {"source": ["AP", "BBC"]},
    {"date_from": "2020-01-05"},
    {"date_to": "2020-01-05"},
    {"date_from": "2020-01-04", "date_to": "2020-12-31"},
    {"doc_ids": ["001_a746e7c7017f5148", "003_b9c30966dad3dc9a"]},
    {"source": "reuters", "date_from": "2020-01-04"},
    {"source": "nobody"},
])
def test_filters_run_inside_milvus_and_match_faiss(meta_pair: tuple[KnowledgeBase, KnowledgeBase],
                                                   filters: dict) -> None:
    from rag.backends import MilvusBackend, milvus_filter

    faiss_kb, milvus_kb = meta_pair
    for q in QUERIES[:4]:
        for mode in ("dense", "hybrid"):
            a = faiss_kb.search(q, k=6, filters=filters, mode=mode)
            b = milvus_kb.search(q, k=6, filters=filters, mode=mode)
            assert [h.chunk_id for h in a] == [h.chunk_id for h in b], (q, mode, filters)
    # Milvus itself applies the expression: ask it directly, with no allowed-id list.
    data = milvus_kb.snapshot().data
    assert isinstance(data.backend, MilvusBackend)
    filt = Filters.coerce(filters)
    assert milvus_filter(filt)
    allowed = {c.chunk_id for c in data.chunks if filt.allows(data.documents[c.doc_id])}
    qvec = milvus_kb.snapshot().retriever.embed_query(QUERIES[0])
    _, ids = data.backend.search(qvec, 100, filters=filt)
    assert {data.chunks[data.row_of_vid[int(i)]].chunk_id for i in ids} == allowed


def test_add_and_remove_keep_the_collection_in_step(meta_pair: tuple[KnowledgeBase, KnowledgeBase]) -> None:
    faiss_kb, milvus_kb = meta_pair
    backend = milvus_kb.snapshot().data.backend
    before = backend.ntotal
    new = Document(doc_id="extra-1", title="Extra", text="A quiet village held its annual pumpkin festival. "
                   "The largest pumpkin weighed four hundred kilograms, a new record.", source="Local Paper",
                   date="2023-10-01")
    for kb in (faiss_kb, milvus_kb):
        assert kb.add_documents([new]).added == ("extra-1",)
    added = sum(1 for c in milvus_kb.snapshot().data.chunks if c.doc_id == "extra-1")
    assert added and backend.ntotal == before + added
    q = "how heavy was the record pumpkin"
    assert [h.chunk_id for h in milvus_kb.search(q, k=3)] == [h.chunk_id for h in faiss_kb.search(q, k=3)]
    assert milvus_kb.search(q, k=1, filters={"source": "local paper"})[0].doc_id == "extra-1"
    # A reopened index sees the added vectors too.
    assert KnowledgeBase.open(milvus_kb.index_dir).search(q, k=1)[0].doc_id == "extra-1"

    removed = "002_7275bfeef6728449"
    gone = sum(1 for c in milvus_kb.snapshot().data.chunks if c.doc_id in ("extra-1", removed))
    for kb in (faiss_kb, milvus_kb):
        assert set(kb.remove(["extra-1", removed]).removed) == {"extra-1", removed}
    assert backend.ntotal == before + added - gone
    rows = backend.client.query(backend.collection, filter='doc_id in ["extra-1", "002_7275bfeef6728449"]',
                                output_fields=["vid"], consistency_level="Strong")
    assert rows == [] or len(rows) == 0
    for q in QUERIES[:4]:
        assert [h.chunk_id for h in milvus_kb.search(q, k=5)] == [h.chunk_id for h in faiss_kb.search(q, k=5)]


def test_rebuild_drops_the_replaced_collection(tmp_path: Path) -> None:
    corpus = metadata_corpus(tmp_path)
    config = Config(embedder="hash")
    first = KnowledgeBase.build([corpus], tmp_path / "m", config, backend="milvus").snapshot().data.backend
    second = KnowledgeBase.build([corpus], tmp_path / "m", config, backend="milvus").snapshot().data.backend
    assert first.collection != second.collection
    assert second.client.list_collections() == [second.collection]
    assert second.ntotal == len(KnowledgeBase.open(tmp_path / "m").snapshot().data.chunks)


def test_ask_on_the_gold_set_equals_the_faiss_backend(demo_pair: tuple[KnowledgeBase, KnowledgeBase]) -> None:
    faiss_kb, milvus_kb = demo_pair
    gold = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(gold) >= 50
    for item in gold[::3]:  # every third question (~35, answerable and not): one ask takes ~1 s here
        a, b = faiss_kb.ask(item["question"]), milvus_kb.ask(item["question"])
        assert (a.short_answer, a.abstained) == (b.short_answer, b.abstained), item["id"]
        assert [(c.doc_id, c.start, c.end) for c in a.citations] == \
            [(c.doc_id, c.start, c.end) for c in b.citations], item["id"]
