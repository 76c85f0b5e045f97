"""The encoder under a sentence embedder, in plain torch: loading it without sentence-transformers,
mean pooling, and tracing a one-text forward pass with TorchScript.

:mod:`rag.embed` uses these for queries: a cold command line then imports ``transformers`` alone
(``sentence_transformers`` costs 3-4 s more on two cores), and a server's later queries run through
the traced graph. It does not embed batches or choose threads (that is :mod:`rag.embed`).
"""

from __future__ import annotations

import json
from pathlib import Path
import numpy as np

# Texts a traced graph must reproduce the eager vectors on (a short one and a long one).
PROBES = ("Who ordered the strike?", "How many people were killed when the convoy left Baghdad airport "
                                      "shortly after midnight on 3 January 2020?")


def load_plain_encoder(path: str):  # noqa: ANN202 - (tokenizer, torch module, int) or None
    """The tokenizer, encoder and max length of a sentence-transformers folder that is a plain encoder with
    mean pooling (and normalisation), loaded with ``transformers`` alone; None for any other shape."""
    folder = Path(path)
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        settings = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if (kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
            or modules[0].get("path", "") != "" or modes != {"pooling_mode_mean_tokens"}
            or settings.get("do_lower_case") or "max_seq_length" not in settings):
        return None
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        encoder = AutoModel.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32).eval()
    except Exception:  # noqa: BLE001 - any load failure: sentence-transformers serves instead
        return None
    if "token_type_ids" not in tokenizer("probe"):
        return None
    return tokenizer, encoder, int(settings["max_seq_length"])


def mean_pool_normalise(encoder, ids, mask, types):  # noqa: ANN001, ANN202 - torch tensors
    """The encoder's token vectors averaged over the attention mask, L2-normalised (one row a text)."""
    import torch

    hidden = encoder(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    weight = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weight).sum(1) / weight.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def trace_encoder(encoder, tokenize, reference, model) -> object | None:  # noqa: ANN001
    """``encoder``'s one-text forward pass with mean pooling and normalisation, traced, frozen and
    optimised by TorchScript, and checked against ``reference(model, [text])`` on probe texts; None
    when tracing fails or does not reproduce it."""
    import warnings

    import torch

    class OneText(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
            return mean_pool_normalise(self.encoder, ids, mask, types)

    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # tracing reads config attributes transformers warns about
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            features = tokenize([PROBES[0]])
            args = (features["input_ids"], features["attention_mask"], features["token_type_ids"])
            graph = torch.jit.trace(OneText(encoder).eval(), args, check_trace=False)
            graph = torch.jit.optimize_for_inference(torch.jit.freeze(graph))
            for _ in range(3):  # TorchScript profiles the first calls, then optimises
                for probe in PROBES:
                    f = tokenize([probe])
                    got = graph(f["input_ids"], f["attention_mask"], f["token_type_ids"]).numpy()
                    if not np.allclose(got, reference(model, [probe]), atol=1e-5):
                        return None
    except Exception:  # noqa: BLE001 - any tracing failure: the eager path serves
        return None
    finally:
        hf_logging.set_verbosity(verbosity)
    return graph
