"""How the embedder spreads a small batch (a query) over the cores."""

from __future__ import annotations

import numpy as np
import pytest

import rag.embed as embed_module
from rag.embed import cores_idle


def test_cores_are_idle_only_when_nothing_else_runs() -> None:
    assert cores_idle(2, running=1, own=1)  # only the caller
    assert not cores_idle(2, running=2, own=1) and not cores_idle(2, running=5, own=1)
    assert not cores_idle(1, running=1, own=1)  # one core has nothing to split
    assert cores_idle(8, running=7, own=1) and not cores_idle(8, running=8, own=1)  # one core stays spare
    # Up to threads - 1 of this process's own runnable threads (OpenMP workers still spinning after
    # the last call) are not competition; one more of its own (a concurrent request) or any other
    # process's is.
    assert cores_idle(2, running=2, own=2)
    assert not cores_idle(2, running=3, own=3) and not cores_idle(2, running=3, own=2)
    assert cores_idle(4, running=4, own=4) and not cores_idle(4, running=7, own=7)


def test_this_process_running_threads_are_counted() -> None:
    import threading

    assert embed_module.own_running_threads() >= 1  # the caller
    stop = threading.Event()

    def spin() -> None:  # numpy releases the GIL: this thread stays runnable
        a = np.ones((400, 400))
        while not stop.is_set():
            a @ a

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        seen = max(embed_module.own_running_threads() for _ in range(200))
    finally:
        stop.set()
        worker.join()
    assert seen >= 2


def test_the_run_queue_is_read_from_proc_or_counts_as_busy(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    real_open = open

    def fake_proc(text: str | None):  # noqa: ANN202
        def opener(path, *args, **kwargs):  # noqa: ANN001, ANN202
            if path == "/proc/loadavg":
                if text is None:
                    raise FileNotFoundError(path)
                (tmp_path / "loadavg").write_text(text)
                return real_open(tmp_path / "loadavg", *args, **kwargs)
            return real_open(path, *args, **kwargs)
        return opener

    monkeypatch.setattr("builtins.open", fake_proc("0.52 0.61 0.70 1/312 4242\n"))
    assert embed_module.running_tasks() == 1 and cores_idle(2, own=1)
    monkeypatch.setattr("builtins.open", fake_proc("2.10 1.90 1.70 3/312 4242\n"))
    assert embed_module.running_tasks() == 3 and not cores_idle(2, own=1)
    monkeypatch.setattr("builtins.open", fake_proc("garbage\n"))
    assert embed_module.running_tasks() is None and not cores_idle(2, own=1)
    monkeypatch.setattr("builtins.open", fake_proc(None))  # no /proc (macOS, Windows)
    assert embed_module.running_tasks() is None and not cores_idle(2, own=1)


@pytest.mark.slow
def test_a_query_uses_every_core_only_when_they_are_idle(real_embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import torch

    if real_embedder.threads < 2:
        pytest.skip("a single-core machine has no second thread to split a query across")
    before = real_embedder.embed(["Who ordered the drone strike?"])
    monkeypatch.setattr(embed_module, "cores_idle", lambda threads, running=None: True)
    idle = real_embedder.embed(["Who ordered the drone strike?"])
    assert torch.get_num_threads() == real_embedder.threads
    monkeypatch.setattr(embed_module, "cores_idle", lambda threads, running=None: False)
    busy = real_embedder.embed(["Who ordered the drone strike?"])
    assert torch.get_num_threads() == 1
    real_embedder.embed([f"text {i}" for i in range(embed_module.SMALL_BATCH + 1)])  # a batch: all cores
    assert torch.get_num_threads() == real_embedder.threads
    assert np.allclose(idle, busy, atol=1e-5) and np.allclose(before, busy, atol=1e-5)  # same vectors either way


CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {extra}\nbogomips\t: 4200\n"


def test_bfloat16_is_chosen_only_where_the_cpu_has_it_in_hardware() -> None:
    from rag.embed import cpu_has_bf16, resolve_precision

    assert cpu_has_bf16(CPUINFO.format(extra="amx_bf16 amx_tile"))
    assert cpu_has_bf16(CPUINFO.format(extra="avx512_bf16"))
    assert not cpu_has_bf16(CPUINFO.format(extra="avx512bw"))  # emulated there: slower than float32
    assert not cpu_has_bf16("")
    assert resolve_precision("auto", CPUINFO.format(extra="amx_bf16")) == "bfloat16"
    assert resolve_precision("auto", CPUINFO.format(extra="")) == "float32"
    assert resolve_precision("float32", CPUINFO.format(extra="amx_bf16")) == "float32"
    with pytest.raises(ValueError, match="precision='fp8'"):
        resolve_precision("fp8")


def test_an_unknown_precision_is_a_config_error() -> None:
    from rag.config import Config
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="embed_precision='half'"):
        Config(embed_precision="half")


@pytest.mark.slow
def test_a_bfloat16_batch_matches_float32_and_a_query_stays_float32(real_embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001, E501
    from rag.embed import SentenceTransformerEmbedder

    monkeypatch.setattr(embed_module, "cores_idle", lambda threads, running=None: False)  # same threads each call

    texts = [f"Sentence number {i} says the strike killed {i + 2} people near Baghdad airport." for i in range(12)]
    low = SentenceTransformerEmbedder(real_embedder.spec, precision="bfloat16")
    low._model = real_embedder.model  # the same weights, loaded once
    full = SentenceTransformerEmbedder(real_embedder.spec, precision="float32")
    full._model = real_embedder.model
    a, b = low.embed(texts), full.embed(texts)
    cos = (a * b).sum(axis=1)
    assert cos.min() > 0.999 and not np.array_equal(a, b)  # bfloat16 really ran, and stayed close
    assert np.array_equal(low.embed(texts[:1]), full.embed(texts[:1]))  # a query: float32 either way


@pytest.mark.slow
def test_the_query_path_gives_the_vectors_encode_gives(real_embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import torch

    monkeypatch.setattr(embed_module, "cores_idle", lambda threads, running=None: False)
    texts = ["Who ordered the drone strike?", "How many missiles hit the Ain al-Asad air base in Iraq?"]
    fast = real_embedder.embed(texts)
    with torch.inference_mode():
        reference = real_embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert fast.dtype == np.float32 and fast.shape == reference.shape
    assert np.allclose(fast, reference, atol=1e-6)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-6)


@pytest.mark.slow
def test_one_query_runs_through_the_traced_graph_with_the_same_vector(real_embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001, E501
    import torch

    monkeypatch.setattr(embed_module, "cores_idle", lambda threads, running=None: False)
    for text in ("Who ordered the drone strike?", "Where " + "is the air base that Iran hit " * 40 + "?"):
        fast = real_embedder.embed([text])  # the long one is truncated to the model's 256 tokens
        with torch.inference_mode():
            reference = real_embedder.model.encode([text], normalize_embeddings=True, convert_to_numpy=True)
        assert np.allclose(fast, reference, atol=1e-5)
    assert isinstance(real_embedder._light_graph, torch.jit.ScriptModule)  # the graph served, not the fallback


@pytest.mark.slow
def test_a_query_needs_no_sentence_transformers_import() -> None:
    """A cold CLI question embeds its query with transformers alone (sentence-transformers costs 3-4 s)."""
    import subprocess
    import sys

    code = ("import sys; from rag.embed import make_embedder; e = make_embedder('bundled:all-MiniLM-L6-v2'); "
            "v = e.embed(['Who ordered the drone strike?']); "
            "print(v.shape, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split("\n")[-2].endswith("(1, 384) False"), out.stdout


def test_a_model_of_another_shape_gets_no_traced_graph() -> None:
    class Dense:  # a module list that is not encoder + mean pooling (+ normalise)
        pass

    assert embed_module._trace_query_graph([Dense(), Dense()], reference=None) is None


@pytest.mark.slow
def test_a_float32_batch_bypasses_encode_with_the_same_vectors(real_embedder) -> None:  # noqa: ANN001
    import torch

    from rag.embed import SentenceTransformerEmbedder

    full = SentenceTransformerEmbedder(real_embedder.spec, precision="float32", batch_size=4)
    full._model = real_embedder.model
    texts = [f"  Paragraph {i}: " + "the strike near Baghdad airport killed the general. " * (i * 7 % 40 + 1)
             for i in range(11)]
    got = full.embed(texts)
    assert full._direct is True  # the direct path served (checked against encode on its probes)
    with torch.inference_mode():
        want = real_embedder.model.encode(texts, batch_size=4, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(got, want, atol=1e-5)
