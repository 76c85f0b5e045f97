"""The knowledge base and its store: persistence, incremental updates, filters and search modes.

Fast tests use the model-free hash embedder; the ``slow`` tests at the end use the real model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import (
    Config,
    ConfigError,
    EmptyCorpusError,
    Filters,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    KnowledgeBase,
    QueryError,
    store,
    tables,
)
from rag.embed import HashEmbedder

QUERIES = ["Who was killed alongside Soleimani?", "arrest warrant for Trump", "109 US troops brain injury",
           "burning a mock US embassy", "2,500 troops remain in Iraq"]
NEW_ARTICLE = ("Zanzibarite miners in the fictional town of Quollsby went on strike on Monday, demanding better "
               "ventilation in the shafts. The union said the strike would continue until the owners agreed to "
               "install new fans. Police said the protest was peaceful and that nobody had been arrested.")
NEW_ARTICLE_V2 = ("Zanzibarite miners in the fictional town of Quollsby ended their strike on Thursday after the "
                  "owners promised new ventilation. The union called the agreement a victory for the "
                  "xylophonists' choir, which had sung outside the mine every night.")


def ids(hits) -> list[str]:  # noqa: ANN001
    return [h.chunk_id for h in hits]


def current(index_dir: Path) -> str:
    return (index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def ntotal(index_dir: Path) -> int:
    return store.load(index_dir).faiss_index.ntotal


def chunk_ids_of(kb: KnowledgeBase, doc_id: str) -> list[str]:
    return [c.chunk_id for c in kb._snapshot.data.chunks if c.doc_id == doc_id]


@pytest.fixture
def corpus(tmp_path: Path, articles_dir: Path) -> Path:
    """A writable copy of the demo articles."""
    folder = tmp_path / "articles"
    shutil.copytree(articles_dir, folder)
    for p in folder.iterdir():
        p.chmod(0o644)
    return folder


@pytest.fixture
def kb(corpus: Path, tmp_path: Path, hash_config: Config) -> KnowledgeBase:
    return KnowledgeBase.build([corpus], tmp_path / "index", hash_config)


@pytest.fixture(scope="module")
def filter_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """Demo articles plus records with sources and dates, built once (read-only tests)."""
    root = tmp_path_factory.mktemp("filters")
    folder = root / "articles"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "articles", folder)
    records = [
        {"id": "wire-a1", "source": "Wire A", "date": "2020-01-03",
         "text": "A US drone strike at Baghdad airport killed Qasem Soleimani and Abu Mahdi al-Muhandis early on "
                 "Friday, officials said. Iran vowed harsh revenge for the killing."},
        {"id": "wire-a2", "source": "Wire A", "date": "2020-01-08",
         "text": "Iran fired ballistic missiles at two bases in Iraq that house US troops, in what it called "
                 "revenge for the killing of Soleimani. No casualties were reported at first."},
        {"id": "wire-b1", "source": "Wire B", "date": "2020-01-05",
         "text": "The Iraqi parliament voted to expel foreign troops from the country after the killing of "
                 "Soleimani and al-Muhandis in a US drone strike near Baghdad airport."},
    ]
    (folder / "wires.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    return KnowledgeBase.build([folder], root / "index", Config(embedder="hash"))


# ---- build, persist, open ---------------------------------------------------------------------
def test_build_then_open_gives_identical_results(kb: KnowledgeBase, tmp_path: Path) -> None:
    reopened = KnowledgeBase.open(tmp_path / "index")
    assert reopened.stats()["chunks"] == kb.stats()["chunks"] > 5
    assert [d.doc_id for d in reopened.documents()] == [d.doc_id for d in kb.documents()]
    assert reopened.documents() == kb.documents()
    for mode in ("hybrid", "dense", "bm25"):
        for q in QUERIES:
            before = kb.search(q, k=5, mode=mode)
            after = reopened.search(q, k=5, mode=mode)
            assert [(h.chunk_id, h.score, h.start, h.end, h.best_start) for h in before] == \
                   [(h.chunk_id, h.score, h.start, h.end, h.best_start) for h in after], (mode, q)
            assert len(before) == 5


def _rewrite_generation(index_dir: Path, drop: tuple[str, ...] = (), replace: dict | None = None) -> Path:
    """Edit the current generation's files and re-sign its manifest, as an older writer (or a buggy one)
    would have left it: checksums pass, so what opening finds is the content itself."""
    gen = index_dir / current(index_dir)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    for name in drop:
        (gen / name).unlink()
        manifest["files"].pop(name)
    for name, array in (replace or {}).items():
        with open(gen / name, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
    for name in replace or {}:
        manifest["files"][name] = {"sha256": store._sha256(gen / name), "sample_sha256": store.sample_sha256(gen / name),
                                   "bytes": (gen / name).stat().st_size}
    manifest.pop("manifest_sha256")
    manifest["manifest_sha256"] = store._manifest_digest(manifest)
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return gen


def test_rows_open_as_columns_equal_to_the_stored_rows(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Chunks and sentences read from the integer tables are the ones the SQLite rows describe."""
    gen = tmp_path / "index" / current(tmp_path / "index")
    cols, rows = tables.read_columns(gen), tables.read_rows(gen)
    chunks, sentences = cols.chunks, cols.sentences
    assert isinstance(chunks, tables.ChunkTable) and isinstance(sentences, tables.SentenceTable)
    assert (cols.documents, cols.doc_hashes) == (rows.documents, rows.doc_hashes)
    assert list(chunks) == rows.chunks == list(kb._snapshot.data.chunks) and chunks == rows.chunks
    assert [tuple(map(int, s)) for s in cols.chunk_sents] == rows.chunk_sents
    assert list(cols.chunk_hashes) == rows.chunk_hashes and list(sentences) == rows.sentences
    assert list(cols.sentence_hashes) == rows.sentence_hashes
    assert chunks[-1] == rows.chunks[-1] and chunks[1:3] == rows.chunks[1:3] and sentences[2:4] == rows.sentences[2:4]


def test_documents_are_read_on_demand_and_outlive_a_replaced_generation(kb: KnowledgeBase, tmp_path: Path) -> None:
    opened = KnowledgeBase.open(tmp_path / "index")
    docs = opened._snapshot.data.documents
    assert isinstance(docs, tables.DocumentTable) and list(docs) == [d.doc_id for d in kb.documents()]
    assert "no-such-article" not in docs
    with pytest.raises(KeyError):
        docs["no-such-article"]
    gen = current(tmp_path / "index")
    path = tmp_path / "miners.txt"
    for text in (NEW_ARTICLE, NEW_ARTICLE_V2):  # two writes by another handle remove the opened generation
        path.write_text(text, encoding="utf-8")
        kb.add([path])
    assert not (tmp_path / "index" / gen).exists()
    for q in QUERIES:
        hits = opened.search(q, k=3)
        assert hits and all(opened.document(h.doc_id).text[h.start:h.end] == h.text for h in hits)
    assert opened.documents() == [d for d in kb.documents() if d.doc_id != "miners"]


def test_index_written_before_the_tables_opens_and_updates(kb: KnowledgeBase, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    _rewrite_generation(index_dir, drop=("chunk_table.npy", "sentence_table.npy"))
    old = KnowledgeBase.open(index_dir)
    for q in QUERIES:
        assert [(h.chunk_id, h.score, h.best_start) for h in old.search(q, k=5)] == \
               [(h.chunk_id, h.score, h.best_start) for h in kb.search(q, k=5)]
    path = tmp_path / "miners.txt"
    path.write_text(NEW_ARTICLE, encoding="utf-8")
    assert old.add([path]).added == ("miners",)
    assert (index_dir / current(index_dir) / "chunk_table.npy").is_file(), "the next write adds the tables"
    assert KnowledgeBase.open(index_dir).search("Zanzibarite miners strike", k=1)[0].doc_id == "miners"


def test_updates_to_an_opened_index_equal_a_fresh_build(corpus: Path, tmp_path: Path, hash_config: Config) -> None:
    """Add, update and remove on an index read from disk (its rows are columns) give what building gives."""
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "miners.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    KnowledgeBase.build([corpus], tmp_path / "grown", hash_config)
    grown = KnowledgeBase.open(tmp_path / "grown")
    assert isinstance(grown._snapshot.data.chunks, tables.ChunkTable)
    removed = sorted(p.stem for p in corpus.glob("*.txt"))[0]
    grown.add([extra])
    grown.remove([removed])
    (corpus / f"{removed}.txt").rename(tmp_path / "gone.txt")
    fresh = KnowledgeBase.build([corpus, extra], tmp_path / "fresh", hash_config)
    reopened = KnowledgeBase.open(tmp_path / "grown")
    assert sorted(d.doc_id for d in reopened.documents()) == sorted(d.doc_id for d in fresh.documents())
    for q in [*QUERIES, "Zanzibarite miners strike"]:
        assert sorted(ids(reopened.search(q, k=5, mode="bm25"))) == sorted(ids(fresh.search(q, k=5, mode="bm25")))
        assert ids(reopened.search(q, k=5, mode="dense")) == ids(fresh.search(q, k=5, mode="dense"))


def test_a_table_that_points_outside_the_index_is_corrupt(kb: KnowledgeBase, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    gen = index_dir / current(index_dir)
    table = np.load(gen / "chunk_table.npy")
    table[3, 0] = 10_000  # a document row that does not exist
    _rewrite_generation(index_dir, replace={"chunk_table.npy": table})
    with pytest.raises(IndexCorruptError, match="tables.*rebuild"):
        KnowledgeBase.open(index_dir)
    _rewrite_generation(index_dir, replace={"chunk_table.npy": table[:, :5].copy()})
    with pytest.raises(IndexCorruptError, match="shape"):
        KnowledgeBase.open(index_dir)


def test_build_report_and_stats(kb: KnowledgeBase, corpus: Path, tmp_path: Path) -> None:
    report = kb.last_report
    assert report.added == tuple(sorted(p.stem for p in corpus.glob("*.txt")))
    assert report.skipped == () and report.duplicates == () and report.updated == ()
    assert report.near_duplicates == (), "the demo articles are different stories"
    stats = kb.stats()
    assert stats["documents"] == 5 and report.chunks_embedded == stats["chunks"]
    assert stats["embedder"] == "hash-256" and stats["dim"] == 256 and stats["index_type"] == "flat"
    assert stats["index_dir"] == str(tmp_path / "index")
    assert kb.document("003_b9c30966dad3dc9a").author == "Vladimir Platov"
    with pytest.raises(KeyError, match="nope"):
        kb.document("nope")


def test_generation_layout(kb: KnowledgeBase, tmp_path: Path) -> None:
    import hashlib

    index_dir = tmp_path / "index"
    assert current(index_dir) == "gen-000001"
    gen = index_dir / "gen-000001"
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "rag-index" and manifest["embedder"]["spec"] == "hash"
    assert manifest["counts"]["documents"] == 5 and manifest["config"]["embedder"] == "hash"
    files = {p.name for p in gen.iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == files and {"store.sqlite", "vectors.faiss", "chunk_vectors.npy"} <= files
    for name, meta in manifest["files"].items():
        data = (gen / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) == meta["bytes"]
    kb.add_documents([])  # nothing to do: no new generation
    assert current(index_dir) == "gen-000001"
    from rag.types import Document

    kb.add_documents([Document(doc_id="new", text=NEW_ARTICLE)])
    assert current(index_dir) == "gen-000002" and (index_dir / "gen-000002" / "manifest.json").is_file()
    leftovers = [p for p in index_dir.rglob("*") if p.suffix in (".pkl", ".pickle") or ".tmp" in p.name]
    assert leftovers == []


def test_rebuild_replaces_the_index(kb: KnowledgeBase, corpus: Path, tmp_path: Path, hash_config: Config) -> None:
    (corpus / "000_c910e4cd2b89c5f5.txt").unlink()
    rebuilt = KnowledgeBase.build([corpus], tmp_path / "index", hash_config)
    assert len(rebuilt.documents()) == 4
    assert current(tmp_path / "index") == "gen-000002"
    assert len(KnowledgeBase.open(tmp_path / "index").documents()) == 4


def test_open_errors(kb: KnowledgeBase, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    with pytest.raises(IndexMismatchError, match="hash"):
        KnowledgeBase.open(index_dir, embedder="bundled:all-MiniLM-L6-v2")
    with pytest.raises(IndexMismatchError, match="dim"):
        KnowledgeBase.open(index_dir, embedder=HashEmbedder(dim=128))
    assert KnowledgeBase.open(index_dir, embedder=HashEmbedder()).stats()["documents"] == 5
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IndexNotFoundError, match="no index"):
        KnowledgeBase.open(empty)
    with pytest.raises(IndexNotFoundError):
        KnowledgeBase.open(tmp_path / "does-not-exist")
    with pytest.raises(ConfigError, match="chunk_tokens"):
        KnowledgeBase.open(index_dir, chunk_tokens=100)
    with pytest.raises(ConfigError, match="unknown"):
        KnowledgeBase.open(index_dir, colour="blue")
    bm25_kb = KnowledgeBase.open(index_dir, mode="bm25")
    assert bm25_kb.config.mode == "bm25"
    assert ids(bm25_kb.search(QUERIES[1])) == ids(kb.search(QUERIES[1], mode="bm25"))


def test_build_with_no_readable_article(tmp_path: Path, hash_config: Config) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "junk.txt").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(EmptyCorpusError):
        KnowledgeBase.build([tmp_path / "in"], tmp_path / "index", hash_config)
    assert not (tmp_path / "index" / "CURRENT").exists()


# ---- incremental updates --------------------------------------------------------------------
def test_add_new_article_embeds_only_its_chunks(kb: KnowledgeBase, tmp_path: Path) -> None:
    before = {d.doc_id: chunk_ids_of(kb, d.doc_id) for d in kb.documents()}
    path = tmp_path / "miners.txt"
    path.write_text(NEW_ARTICLE, encoding="utf-8")
    report = kb.add([path])
    assert report.added == ("miners",) and report.updated == () and report.unchanged == ()
    assert report.chunks_embedded == len(chunk_ids_of(kb, "miners")) >= 1
    assert {d: chunk_ids_of(kb, d) for d in before} == before, "other documents untouched"
    assert kb.search("Zanzibarite miners strike", k=1)[0].doc_id == "miners"
    reopened = KnowledgeBase.open(tmp_path / "index")
    assert reopened.search("Zanzibarite miners strike", k=1)[0].doc_id == "miners"
    assert ntotal(tmp_path / "index") == kb.stats()["chunks"]


def test_re_adding_unchanged_files_is_a_no_op(kb: KnowledgeBase, corpus: Path, tmp_path: Path) -> None:
    gen = current(tmp_path / "index")
    report = kb.add([corpus])
    assert report.unchanged == tuple(sorted(p.stem for p in corpus.glob("*.txt")))
    assert report.added == report.updated == () and report.chunks_embedded == 0
    assert current(tmp_path / "index") == gen


def test_update_changed_article(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "miners.txt"
    path.write_text(NEW_ARTICLE, encoding="utf-8")
    kb.add([path])
    old_chunks = set(chunk_ids_of(kb, "miners"))
    others = {d.doc_id: chunk_ids_of(kb, d.doc_id) for d in kb.documents() if d.doc_id != "miners"}
    n_before = kb.stats()["chunks"]
    path.write_text(NEW_ARTICLE_V2, encoding="utf-8")
    report = kb.add([path])
    assert report.updated == ("miners",) and report.added == ()
    new_chunks = set(chunk_ids_of(kb, "miners"))
    assert new_chunks and not new_chunks & old_chunks
    assert report.chunks_embedded == len(new_chunks)
    assert kb.document("miners").text == NEW_ARTICLE_V2
    assert {d: chunk_ids_of(kb, d) for d in others} == others
    assert kb.stats()["chunks"] == n_before - len(old_chunks) + len(new_chunks)
    for k_kb in (kb, KnowledgeBase.open(tmp_path / "index")):
        hits = k_kb.search("xylophonists choir", k=1, mode="bm25")
        assert hits[0].doc_id == "miners"
        assert not [h for h in k_kb.search("ventilation shafts fans", k=10, mode="bm25") if "shafts" in h.text]
        assert all(c not in old_chunks for c in ids(k_kb.search("Zanzibarite", k=10)))


def test_remove_drops_vectors_text_and_listing(kb: KnowledgeBase, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    doc_id = "003_b9c30966dad3dc9a"
    n_doc = len(chunk_ids_of(kb, doc_id))
    total = ntotal(index_dir)
    assert kb.search("Article 406 of the Iraqi Penal Code", k=1)[0].doc_id == doc_id
    report = kb.remove([doc_id])
    assert report.removed == (doc_id,) and report.chunks_embedded == 0
    assert ntotal(index_dir) == total - n_doc and n_doc > 0
    assert doc_id not in [d.doc_id for d in kb.documents()]
    for k_kb in (kb, KnowledgeBase.open(index_dir)):
        assert doc_id not in [d.doc_id for d in k_kb.documents()]
        for mode in ("hybrid", "dense", "bm25"):
            assert all(h.doc_id != doc_id for h in k_kb.search("Article 406 Penal Code Platov", k=10, mode=mode))
    with pytest.raises(KeyError, match="nope"):
        kb.remove(["nope"])


def test_remove_then_add_back(kb: KnowledgeBase, corpus: Path) -> None:
    doc_id = "000_c910e4cd2b89c5f5"
    before = chunk_ids_of(kb, doc_id)
    kb.remove(doc_id)
    report = kb.add([corpus / f"{doc_id}.txt"])
    assert report.added == (doc_id,)
    assert chunk_ids_of(kb, doc_id) == before


def test_exact_duplicate_with_another_id(kb: KnowledgeBase, corpus: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy_of_000.txt"
    shutil.copy(corpus / "000_c910e4cd2b89c5f5.txt", copy)
    n = kb.stats()["chunks"]
    report = kb.add([copy])
    assert report.duplicates == (("copy_of_000", "000_c910e4cd2b89c5f5"),)
    assert report.added == () and report.chunks_embedded == 0
    assert "copy_of_000" not in [d.doc_id for d in kb.documents()] and kb.stats()["chunks"] == n


def test_duplicates_inside_one_build(corpus: Path, tmp_path: Path, hash_config: Config) -> None:
    shutil.copy(corpus / "001_a746e7c7017f5148.txt", corpus / "zz_copy.txt")
    built = KnowledgeBase.build([corpus], tmp_path / "index", hash_config)
    assert built.last_report.duplicates == (("zz_copy", "001_a746e7c7017f5148"),)
    assert len(built.documents()) == 5


def test_near_duplicate_is_reported(kb: KnowledgeBase, corpus: Path, tmp_path: Path) -> None:
    text = (corpus / "003_b9c30966dad3dc9a.txt").read_text(encoding="utf-8")
    edited = text.replace("109 US troops", "more than 100 US troops").replace("Nasiriyah", "Nasiriya")
    assert edited != text
    path = tmp_path / "syndicated.txt"
    path.write_text(edited, encoding="utf-8")
    report = kb.add([path])
    assert report.added == ("syndicated",)  # the default policy keeps near-duplicates
    assert [(a, b) for a, b, _ in report.near_duplicates] == [("syndicated", "003_b9c30966dad3dc9a")]
    assert report.near_duplicates[0][2] >= 0.8


def test_near_duplicate_skip_policy(corpus: Path, tmp_path: Path) -> None:
    text = (corpus / "003_b9c30966dad3dc9a.txt").read_text(encoding="utf-8")
    (corpus / "zz_syndicated.txt").write_text(text.replace("109 US troops", "over 100 US troops"), encoding="utf-8")
    built = KnowledgeBase.build([corpus], tmp_path / "index", Config(embedder="hash", near_duplicates="skip"))
    assert [a for a, _, _ in built.last_report.near_duplicates] == ["zz_syndicated"]
    assert "zz_syndicated" not in [d.doc_id for d in built.documents()]


def test_bad_file_in_folder_is_reported_and_the_rest_indexed(corpus: Path, tmp_path: Path,
                                                              hash_config: Config) -> None:
    (corpus / "broken.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 50)
    (corpus / "notes.docx").write_bytes(b"PK\x03\x04")
    built = KnowledgeBase.build([corpus], tmp_path / "index", hash_config)
    assert len(built.documents()) == 5
    reasons = {Path(s.source).name: s.reason for s in built.last_report.skipped}
    assert set(reasons) == {"broken.txt", "notes.docx"}
    assert "binary" in reasons["broken.txt"] and "unsupported" in reasons["notes.docx"]


def test_add_with_only_a_bad_file_leaves_the_index_unchanged(kb: KnowledgeBase, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    gen = current(index_dir)
    docs = kb.documents()
    results = ids(kb.search(QUERIES[0]))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\xff" * 100)
    report = kb.add([bad])
    assert report.added == report.updated == report.removed == ()
    assert [s.source for s in report.skipped] == [str(bad)]
    assert kb.last_report == report
    assert current(index_dir) == gen and kb.documents() == docs and ids(kb.search(QUERIES[0])) == results
    missing = kb.add([tmp_path / "missing.txt"])
    assert "no such file" in missing.skipped[0].reason and current(index_dir) == gen


# ---- filters, modes and queries ---------------------------------------------------------------
def test_filter_by_source(filter_kb: KnowledgeBase) -> None:
    hits = filter_kb.search("killing of Soleimani", k=5, filters={"source": "Wire A"})
    assert {h.doc_id for h in hits} == {"wire-a1", "wire-a2"} and all(h.source == "Wire A" for h in hits)
    both = filter_kb.search("killing of Soleimani", k=5, filters={"source": ["wire a", "WIRE B"]})
    assert {h.doc_id for h in both} == {"wire-a1", "wire-a2", "wire-b1"}
    assert filter_kb.search("killing", filters=Filters(source=("Wire B",)))[0].doc_id == "wire-b1"


def test_filter_by_date(filter_kb: KnowledgeBase) -> None:
    dates = {d.doc_id: d.date for d in filter_kb.documents()}
    assert dates["001_a746e7c7017f5148"] == "2022-01-22" and dates["003_b9c30966dad3dc9a"] == "2021-01-18"
    assert dates["002_7275bfeef6728449"] == "2022-01-02"  # from its metadata sidecar
    hits = filter_kb.search("troops Iraq", k=10, filters={"date_from": "2020-01-04", "date_to": "2020-01-31"})
    assert {h.doc_id for h in hits} == {"wire-a2", "wire-b1"}
    late = filter_kb.search("troops Iraq", k=10, filters={"date_from": "2021-01-01"})
    assert {h.doc_id for h in late} == {"001_a746e7c7017f5148", "002_7275bfeef6728449", "003_b9c30966dad3dc9a"}
    assert all("2021-01-01" <= h.date for h in late)
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        filter_kb.search("troops", filters={"date_from": "Jan 2020"})


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_filter_matching_many_chunks_still_returns_k(filter_kb: KnowledgeBase, mode: str) -> None:
    doc_id = "003_b9c30966dad3dc9a"
    n_chunks = len(chunk_ids_of(filter_kb, doc_id))
    assert n_chunks >= 6
    hits = filter_kb.search("Iraq troops withdrawal", k=5, filters={"doc_ids": [doc_id]}, mode=mode)
    assert len(hits) == 5 and all(h.doc_id == doc_id for h in hits)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]


def test_filter_matching_nothing_and_unknown_filter(filter_kb: KnowledgeBase) -> None:
    assert filter_kb.search("Soleimani", filters={"doc_ids": ["no-such-doc"]}) == []
    assert filter_kb.search("Soleimani", filters={"source": "Nobody"}) == []
    assert filter_kb.search("Soleimani", filters={"date_to": "1990-01-01"}) == []
    with pytest.raises(ConfigError, match="colour"):
        filter_kb.search("Soleimani", filters={"colour": "red"})
    assert ids(filter_kb.search("Soleimani", filters={})) == ids(filter_kb.search("Soleimani"))


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_search_modes(filter_kb: KnowledgeBase, mode: str) -> None:
    hits = filter_kb.search("Iran fired ballistic missiles at bases housing US troops", k=4, mode=mode)
    assert len(hits) == 4 and [h.rank for h in hits] == [1, 2, 3, 4]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.chunk_id for h in hits}) == 4
    for h in hits:
        d = filter_kb.document(h.doc_id)
        assert d.text[h.start:h.end] == h.text and h.title == d.title
        if h.best_start >= 0:
            assert h.start <= h.best_start < h.best_end <= h.end
    if mode == "bm25":
        assert hits[0].doc_id == "wire-a2"
    with pytest.raises(ConfigError, match="mode"):
        filter_kb.search("Iran", mode="fuzzy")


@pytest.mark.parametrize("query", ["", "   ", "\n\t\u200b"])
def test_empty_query(filter_kb: KnowledgeBase, query: str) -> None:
    with pytest.raises(QueryError, match="empty"):
        filter_kb.search(query)


def test_bad_k(filter_kb: KnowledgeBase) -> None:
    for k in (0, -1, "3", True):
        with pytest.raises(ConfigError, match="k="):
            filter_kb.search("Iran", k=k)


def test_very_long_query_is_truncated_with_a_warning(filter_kb: KnowledgeBase) -> None:
    query = "Soleimani drone strike Baghdad airport " * 200
    assert len(query) > filter_kb.config.max_query_chars
    with pytest.warns(UserWarning, match="truncated"):
        hits = filter_kb.search(query, k=3)
    assert len(hits) == 3


def test_curly_quotes_and_case_do_not_change_bm25(filter_kb: KnowledgeBase) -> None:
    a = filter_kb.search("“Death to America” Soleimani’s killing", k=5, mode="bm25")
    b = filter_kb.search('"death to america" soleimani\'s KILLING', k=5, mode="bm25")
    assert ids(a) == ids(b)


# ---- the real model -------------------------------------------------------------------------
@pytest.mark.slow
def test_real_model_finds_who_was_killed_alongside_soleimani(demo_kb_real: KnowledgeBase) -> None:
    hits = demo_kb_real.search("Who was killed alongside Soleimani?", k=5)
    assert len(hits) == 5
    assert any("Muhandis" in h.text for h in hits)
    for h in hits:
        assert demo_kb_real.document(h.doc_id).text[h.start:h.end] == h.text


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_real_model_quote_and_case_insensitive(demo_kb_real: KnowledgeBase, mode: str) -> None:
    pairs = [("Who was killed alongside Soleimani?", "WHO WAS KILLED ALONGSIDE SOLEIMANI?"),
             ("the “imminent threat” claim about Soleimani’s plots",
              "the \"imminent threat\" claim about Soleimani's plots"),
             ("“Death to America” chants in Baghdad", '"death to america" chants in baghdad')]
    for a, b in pairs:
        assert ids(demo_kb_real.search(a, k=5, mode=mode)) == ids(demo_kb_real.search(b, k=5, mode=mode)), (a, b)


@pytest.mark.slow
def test_real_model_index_reopens_identically(demo_kb_real: KnowledgeBase, real_embedder) -> None:  # noqa: ANN001
    reopened = KnowledgeBase.open(demo_kb_real.index_dir, embedder=real_embedder)
    for q in QUERIES:
        again, first = reopened.search(q), demo_kb_real.search(q)
        assert [h.chunk_id for h in again] == [h.chunk_id for h in first]
        # Same stored vectors; the query's own vector may come from one thread or two (rag.embed
        # splits a query across idle cores), which changes float sums in the last bits only.
        assert [h.score for h in again] == pytest.approx([h.score for h in first], abs=1e-6)


def test_threshold_from_an_older_confidence_scale_is_not_reused(corpus: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """An index saved under another answer scale (the reader's logit margin before the verifier) keeps its
    build settings but not its answer threshold, which meant something else there."""
    KnowledgeBase.build([corpus], tmp_path / "new", Config(embedder="hash", answer_threshold=0.7))
    assert KnowledgeBase.open(tmp_path / "new").config.answer_threshold == 0.7
    monkeypatch.setattr(store, "CONFIDENCE_SCALE", "reader-1")
    KnowledgeBase.build([corpus], tmp_path / "old", Config(embedder="hash", answer_threshold=0.3, chunk_tokens=120))
    monkeypatch.undo()
    reopened = KnowledgeBase.open(tmp_path / "old")
    assert reopened.config.answer_threshold is None and reopened.config.chunk_tokens == 120
    assert KnowledgeBase.open(tmp_path / "old", answer_threshold=0.5).config.answer_threshold == 0.5


def test_manifest_of_the_rule_answerer_opens(corpus: Path, tmp_path: Path) -> None:
    """A manifest written before the reader (span_ranker, abstain_threshold) still opens."""
    KnowledgeBase.build([corpus], tmp_path / "idx", Config(embedder="hash"))
    assert Config.from_dict({"span_ranker": "learned", "abstain_threshold": 0.08}) == Config()
    with pytest.raises(ConfigError, match="answer_threshold"):
        Config(answer_threshold="high")  # type: ignore[arg-type]
    for margin in (1.5, -0.75, 0.0, 1.0):  # the reader's logit margins of the previous scale are not probabilities
        with pytest.raises(ConfigError, match="probability"):
            Config(answer_threshold=margin)
