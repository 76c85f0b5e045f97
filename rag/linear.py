"""Small linear models shipped as plain JSON numbers: the answer verifier and the span ranker.

A model is its feature names, the standardisation (mean, scale) and the weights; the file also
names its format and version, and anything else in it (how it was trained) is kept as ``meta``.
Loading checks everything and raises :class:`~rag.errors.ModelFormatError` naming the file and
what is wrong, or :class:`~rag.errors.ModelNotFoundError` when the file is missing. Nothing in
the file is executable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFormatError, ModelNotFoundError

_FIELDS = ("format", "version", "features", "mean", "scale", "coef", "intercept")


@dataclass(frozen=True)
class LinearModel:
    """Weights over standardised features: ``intercept + sum(coef * (x - mean) / scale)``."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    meta: Mapping[str, Any]

    def logit(self, values: Mapping[str, float]) -> float:
        """The linear score of one feature mapping."""
        z = self.intercept
        for name, m, s, w in zip(self.features, self.mean, self.scale, self.coef):
            z += w * (float(values[name]) - m) / s
        return z

    def probability(self, values: Mapping[str, float]) -> float:
        """The logistic of :meth:`logit`."""
        z = self.logit(values)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Linear scores of the rows of a matrix whose columns are :attr:`features`."""
        mean, scale, coef = (np.asarray(v, dtype=np.float64) for v in (self.mean, self.scale, self.coef))
        return ((np.asarray(x, dtype=np.float64) - mean) / scale) @ coef + self.intercept

    def to_dict(self, fmt: str, version: int) -> dict[str, Any]:
        return {"format": fmt, "version": version, "features": list(self.features), "mean": list(self.mean),
                "scale": list(self.scale), "coef": list(self.coef), "intercept": self.intercept, **dict(self.meta)}


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def linear_from_dict(data: Any, source: str, fmt: str, version: int, features: tuple[str, ...], what: str,
                     trainer: str) -> dict[str, Any]:
    """Validated constructor arguments of a :class:`LinearModel` from parsed JSON."""
    if not isinstance(data, dict):
        raise ModelFormatError(f"{source}: {what} must be a JSON object, got {type(data).__name__}")
    if data.get("format") != fmt or data.get("version") != version:
        raise ModelFormatError(f"{source}: format {data.get('format')!r} version {data.get('version')!r} is not "
                               f"{fmt!r} version {version}")
    names = data.get("features")
    if not isinstance(names, list) or tuple(names) != features:
        raise ModelFormatError(f"{source}: features {names!r} do not match this version's {list(features)}; "
                               f"retrain with {trainer}")
    arrays = {}
    for name in ("mean", "scale", "coef"):
        values = data.get(name)
        if not isinstance(values, list) or len(values) != len(features) or not all(_finite(v) for v in values):
            raise ModelFormatError(f"{source}: {name!r} must be {len(features)} finite numbers")
        arrays[name] = tuple(float(v) for v in values)
    if any(s <= 0 for s in arrays["scale"]):
        raise ModelFormatError(f"{source}: every 'scale' must be positive")
    if not _finite(data.get("intercept")):
        raise ModelFormatError(f"{source}: 'intercept' must be a finite number")
    meta = {k: v for k, v in data.items() if k not in _FIELDS}
    return {"features": tuple(names), **arrays, "intercept": float(data["intercept"]), "meta": meta}


def read_model_json(path: str | Path, what: str, trainer: str) -> Any:
    """The parsed JSON of a model file; missing or unreadable files raise the library's errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ModelNotFoundError(f"{what} {path} is missing (reinstall the package, or retrain it "
                                 f"with {trainer})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ModelFormatError(f"cannot read {what} {path}: {e}") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"{what} {path} is not valid JSON: {e}") from e


def load_linear(path: str | Path, fmt: str, version: int, features: tuple[str, ...], what: str,
                trainer: str) -> LinearModel:
    """Read and validate a linear model file."""
    data = read_model_json(path, what, trainer)
    return LinearModel(**linear_from_dict(data, str(path), fmt, version, features, what, trainer))
