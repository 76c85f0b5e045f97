"""Question answering over news articles with verified citations.

Public names: :class:`KnowledgeBase`, :class:`Config`, :class:`Filters`, the extractive
:class:`Reader`, the shared types and the exception hierarchy. Importing this package loads no model.
"""

from .config import Config
from .errors import (
    ConfigError,
    EmptyCorpusError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
    IngestError,
    ModelFormatError,
    ModelNotFoundError,
    QueryError,
    RagError,
)
from .kb import KnowledgeBase
from .normalize import normalize_quote, normalize_text
from .reader import Reader, ReaderPassage, ReaderSpan, Reading
from .retrieve import Filters
from .types import Answer, Chunk, Citation, Document, Hit, IngestReport, Skipped, Version

__all__ = [
    "Answer", "Chunk", "Citation", "Config", "ConfigError", "Document", "EmptyCorpusError", "Filters", "Hit",
    "IndexCorruptError", "IndexLockedError", "IndexMismatchError", "IndexNotFoundError", "IngestError",
    "IngestReport", "KnowledgeBase", "ModelFormatError", "ModelNotFoundError", "QueryError", "RagError", "Reader", "ReaderPassage", "ReaderSpan", "Reading", "Skipped", "Version", "normalize_quote",
    "normalize_text",
]
__version__ = "0.1.0"
