"""What a result was computed from: content hashes of the inputs and the library versions.

What it does: sha256 of a file, sha256 of a corpus (sorted relative file names and their
bytes), and the versions of Python and the libraries that shape the numbers (read from the
installed distributions' metadata, so nothing heavy is imported).
"""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

# Distribution name for each reported library.
DISTRIBUTIONS = {"rag": "rag-news", "numpy": "numpy", "faiss": "faiss-cpu", "torch": "torch",
                 "sentence-transformers": "sentence-transformers", "transformers": "transformers"}
_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def corpus_files(corpus: str | Path) -> list[Path]:
    """The files of a corpus folder (recursively, hidden entries ignored), or the file itself."""
    corpus = Path(corpus)
    if corpus.is_file():
        return [corpus]
    return sorted(p for p in corpus.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(corpus).parts))


def corpus_sha256(corpus: str | Path) -> str:
    """Hex sha256 over the sorted relative file names and bytes of a corpus folder (or one file).

    Each file contributes its name, its length and its bytes, so that moving bytes between
    files or renaming a file changes the hash.
    """
    corpus = Path(corpus)
    base = corpus.parent if corpus.is_file() else corpus
    h = hashlib.sha256()
    for path in corpus_files(corpus):
        data = path.read_bytes()
        h.update(path.relative_to(base).as_posix().encode("utf-8") + b"\0")
        h.update(str(len(data)).encode("ascii") + b"\0")
        h.update(data)
    return h.hexdigest()


def versions() -> dict[str, str]:
    """Python and library versions ("not installed" when a library is absent)."""
    out = {"python": platform.python_version()}
    for name, dist in DISTRIBUTIONS.items():
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
