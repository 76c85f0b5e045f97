"""One exception hierarchy for the library.

Every error a user can cause derives from :class:`RagError`; messages name the bad
value and what would be valid. Low-level errors are wrapped with ``raise ... from e``.
"""

from __future__ import annotations


class RagError(Exception):
    """Root of every error raised by this library."""


class ConfigError(RagError, ValueError):
    """A configuration value is invalid."""


class QueryError(RagError, ValueError):
    """A query or question is empty or unusable."""


class IngestError(RagError):
    """A file or record could not be read as an article."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class EmptyCorpusError(RagError):
    """No readable article was found in the given paths."""


class IndexNotFoundError(RagError, FileNotFoundError):
    """The index directory does not hold an index."""


class IndexMismatchError(RagError):
    """The index was built with another embedder or format version."""


class IndexCorruptError(RagError):
    """An index file is truncated, altered or unreadable."""


class IndexLockedError(RagError):
    """Another process is writing the same index."""


class ModelNotFoundError(RagError):
    """A model could not be found locally (nothing is ever downloaded)."""


class ModelFormatError(RagError, ValueError):
    """A model or weights file is unreadable, corrupt or does not match this version of the code."""
