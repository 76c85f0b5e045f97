"""Ray Data ingestion writes the same index as a local build, survives a killed worker, and
reports a bad file once.

One local Ray instance (2 CPUs) serves the whole module. The demo-corpus comparison uses the
real all-MiniLM-L6-v2 model (each Ray actor loads its own copy); the ~200 SQuAD paragraphs,
the crash and the bad-file tests use the hash embedder to stay fast.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import Config, KnowledgeBase
from rag import store
from rag.embed import resolve_precision

pytest.importorskip("ray")

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad" / "dev-v1.1.reconstructed.json"
QUERIES = ["Who was killed alongside Soleimani?", "drone strike at Baghdad airport", "Iran missile retaliation",
           "Which team won Super Bowl 50?", "Denver Broncos defense", "where was the game played"]


@pytest.fixture(scope="module", autouse=True)
def ray_session():  # noqa: ANN201
    import ray

    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield
    ray.shutdown()


def assert_same_index(local: Path, distributed: Path, atol: float = 1e-5) -> None:
    a, b = store.load(local), store.load(distributed)
    assert [c.chunk_id for c in a.chunks] == [c.chunk_id for c in b.chunks]
    assert a.chunks == b.chunks  # texts, offsets, ordinals, sentence spans
    assert [tuple(map(int, s)) for s in a.chunk_sents] == [tuple(map(int, s)) for s in b.chunk_sents]
    assert a.sentences == b.sentences
    assert list(a.chunk_hashes) == list(b.chunk_hashes) and list(a.sentence_hashes) == list(b.sentence_hashes)
    assert a.documents == b.documents and a.doc_hashes == b.doc_hashes
    assert a.sentence_vectors.dtype == b.sentence_vectors.dtype
    for x, y in ((a.chunk_vectors, b.chunk_vectors), (a.sentence_vectors, b.sentence_vectors)):
        x32, y32 = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)  # float16 sentences
        assert np.allclose(x32, y32, atol=max(atol, 1e-3 if x.dtype == np.float16 else 0.0))
        assert (x32 * y32).sum(axis=1).min() > (0.999 if x.dtype == np.float16 else 0.9999)  # float16 rounding
    assert a.index_type == b.index_type and a.embedder == b.embedder
    for q in QUERIES:  # corpus-wide BM25 statistics: the same scores for every chunk
        assert np.array_equal(a.bm25.scores(q), b.bm25.scores(q)), q


def same_search(kb_a: KnowledgeBase, kb_b: KnowledgeBase, modes: tuple[str, ...], atol: float = 1e-4) -> None:
    for q in QUERIES:
        for mode in modes:
            ha, hb = kb_a.search(q, k=5, mode=mode), kb_b.search(q, k=5, mode=mode)
            assert [h.chunk_id for h in ha] == [h.chunk_id for h in hb], (q, mode)
            assert np.allclose([h.score for h in ha], [h.score for h in hb], atol=atol), (q, mode)


@pytest.fixture(scope="module")
def squad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 200 SQuAD v1.1 paragraphs as four .jsonl files (so several actors get work)."""
    if not SQUAD.is_file():
        pytest.fail(f"SQuAD file not found: {SQUAD} (expected ../shared/benchmarks beside the project)")
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    records = []
    for article in data["data"]:
        for j, p in enumerate(article["paragraphs"]):
            records.append({"id": f"sq-{len(records):04d}", "title": article["title"].replace("_", " "),
                            "text": p["context"], "source": "squad", "date": f"2020-01-{1 + j % 28:02d}"})
            if len(records) == 200:
                break
        if len(records) == 200:
            break
    folder = tmp_path_factory.mktemp("squad")
    for part in range(4):
        lines = [json.dumps(r) for r in records[part::4]]
        (folder / f"part{part}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_ray_build_equals_local_build_on_demo_with_real_model(tmp_path: Path, articles_dir: Path,
                                                              real_embedder) -> None:  # noqa: ANN001
    from rag.distributed import build_with_ray

    config = Config()
    local = KnowledgeBase.build([articles_dir], tmp_path / "local", config, embedder=real_embedder)
    ray_kb = build_with_ray([articles_dir], tmp_path / "ray", config, workers=2)
    # Where builds embed in bfloat16 (embed_precision "auto" on an AMX CPU), how texts are grouped
    # into batches moves vector components by up to ~5e-4 (cosine stays above 0.9999).
    low = resolve_precision(config.embed_precision) == "bfloat16"
    assert_same_index(tmp_path / "local", tmp_path / "ray", atol=2e-3 if low else 1e-5)
    assert ray_kb.last_report == local.last_report
    same_search(local, KnowledgeBase.open(tmp_path / "ray", embedder=real_embedder), ("hybrid", "dense", "bm25"),
                atol=2e-3 if low else 1e-4)


def test_ray_build_equals_local_build_on_squad(tmp_path: Path, squad_dir: Path) -> None:
    from rag.distributed import build_with_ray

    config = Config(embedder="hash")
    local = KnowledgeBase.build([squad_dir], tmp_path / "local", config)
    ray_kb = build_with_ray([squad_dir], tmp_path / "ray", config, workers=2)
    assert len(local.documents()) == 200 and ray_kb.stats()["chunks"] == local.stats()["chunks"]
    assert_same_index(tmp_path / "local", tmp_path / "ray", atol=1e-6)
    assert ray_kb.last_report == local.last_report
    same_search(local, ray_kb, ("hybrid", "dense", "bm25"))


def crash_once_factory(marker: str):  # noqa: ANN201
    """An embedder factory whose first embed call in a Ray worker kills that worker process.

    Defined in a function so cloudpickle ships it by value (workers cannot import tests/).
    """
    driver = os.getpid()

    def factory():  # noqa: ANN202
        from rag.embed import HashEmbedder

        class CrashOnce(HashEmbedder):
            def embed(self, texts, *, progress=False):  # noqa: ANN001, ANN202
                if texts and os.getpid() != driver:
                    try:
                        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                    except FileExistsError:
                        pass
                    else:
                        os.close(fd)
                        os._exit(1)  # a hard crash mid-batch: no exception, no cleanup
                return super().embed(texts, progress=progress)

        return CrashOnce(256)

    return factory


def test_a_killed_worker_is_restarted_and_the_build_completes(tmp_path: Path, articles_dir: Path) -> None:
    from rag.distributed import build_with_ray

    config = Config(embedder="hash")
    marker = tmp_path / "crashed"
    local = KnowledgeBase.build([articles_dir], tmp_path / "local", config)
    kb = build_with_ray([articles_dir], tmp_path / "ray", config, workers=2,
                        embedder_factory=crash_once_factory(str(marker)))
    assert marker.exists(), "the embed actor never crashed: the test proves nothing"
    assert_same_index(tmp_path / "local", tmp_path / "ray", atol=1e-6)
    assert kb.last_report == local.last_report


def test_a_bad_file_is_reported_once_in_skipped(tmp_path: Path, articles_dir: Path) -> None:
    from rag.distributed import build_with_ray

    corpus = tmp_path / "corpus"
    shutil.copytree(articles_dir, corpus)
    (corpus / "broken.json").write_text('{"text": "unterminated', encoding="utf-8")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    config = Config(embedder="hash")
    local = KnowledgeBase.build([corpus], tmp_path / "local", config)
    kb = build_with_ray([corpus], tmp_path / "ray", config, workers=2)
    sources = [Path(s.source).name for s in kb.last_report.skipped]
    assert sorted(sources) == ["binary.txt", "broken.json"], kb.last_report.skipped
    assert kb.last_report.skipped == local.last_report.skipped
    assert len(kb.documents()) == 5
    assert_same_index(tmp_path / "local", tmp_path / "ray", atol=1e-6)


def test_cli_index_with_the_ray_engine(tmp_path: Path, articles_dir: Path, capsys: pytest.CaptureFixture) -> None:
    from rag.cli import main

    index = tmp_path / "idx"
    assert main(["index", str(articles_dir), "--index", str(index), "--embedder", "hash", "--engine", "ray",
                 "--workers", "2"]) == 0
    assert "5 documents" in capsys.readouterr().out
    assert len(KnowledgeBase.open(index).documents()) == 5
