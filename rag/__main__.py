"""``python -m rag``: the command line."""

from .cli import entry

entry()
