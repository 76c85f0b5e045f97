"""Shared fixtures: the demo articles, a fast model-free config, and the real model loaded once.

Fast tests use ``Config(embedder="hash")`` (deterministic feature hashing, no model). Tests
marked ``slow`` share one real all-MiniLM-L6-v2 embedder and one demo index built with it,
both created at most once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Config, KnowledgeBase

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT / "data" / "articles"
REAL_EMBEDDER = "bundled:all-MiniLM-L6-v2"


@pytest.fixture
def articles_dir() -> Path:
    """The five demo articles (read-only files; doc ids are the file stems)."""
    assert len(list(ARTICLES.glob("*.txt"))) == 5, f"expected the 5 demo articles in {ARTICLES}"
    return ARTICLES


@pytest.fixture
def hash_config() -> Config:
    """A config with the fast, model-free hash embedder."""
    return Config(embedder="hash")


@pytest.fixture(scope="session")
def real_embedder():  # noqa: ANN201 - rag.embed.SentenceTransformerEmbedder
    """The bundled all-MiniLM-L6-v2 embedder, loaded once per test session."""
    from rag.embed import make_embedder

    embedder = make_embedder(REAL_EMBEDDER)
    embedder.embed(["warm up"])  # load the model now, not inside the first timed test
    return embedder


@pytest.fixture(scope="session")
def demo_kb_real(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> KnowledgeBase:  # noqa: ANN001
    """The demo articles indexed once with the real model, in a session temp folder."""
    index_dir = tmp_path_factory.mktemp("demo_kb_real") / "index"
    return KnowledgeBase.build([ARTICLES], index_dir, Config(embedder=REAL_EMBEDDER), embedder=real_embedder)
