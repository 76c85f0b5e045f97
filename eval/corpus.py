"""The index an evaluation runs on: open the given one, or build one from the corpus.

What it does: parses ``--set name=value`` options into a validated :class:`rag.Config`,
opens an existing index (applying the search-time options, and warning when its documents
do not match the corpus folder) or builds one, into the given folder or a temporary one
that is removed afterwards.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eval.provenance import corpus_files
from rag import Config, ConfigError, IndexNotFoundError, KnowledgeBase

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm"}
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
_ID_UNSAFE = re.compile(r"[^\w.\-:]+")


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
    """``["name=value", ...]`` as a dict of Config fields (values parsed as JSON when they are JSON)."""
    data: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} must look like name=value")
        key, raw = item.split("=", 1)
        try:
            data[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            data[key.strip()] = raw
    Config.from_dict(data)  # validate now: unknown names and bad values name themselves
    return data


def _record_ids(path: Path) -> list[str] | None:
    """Ids of a JSON/JSONL file's records, or None when some record has none (ids then derive from lines)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        if isinstance(value, dict) and not any(k in value for k in ("text", "body")):
            value = value.get("articles", value.get("documents", value))
        records = value if isinstance(value, list) else [value]
    else:
        try:
            records = [json.loads(line) for line in text.split("\n") if line.strip()]
        except json.JSONDecodeError:
            return None
    ids = [r.get("id") if isinstance(r, dict) else None for r in records]
    if any(i in (None, "") for i in ids):
        return None
    return [_ID_UNSAFE.sub("_", str(i)).strip("_") for i in ids]


def expected_doc_ids(corpus: str | Path) -> set[str] | None:
    """The document ids indexing ``corpus`` gives (file stems, record ids); None if not predictable."""
    ids: set[str] = set()
    for path in corpus_files(corpus):
        suffix = path.suffix.lower()
        if suffix in TEXT_SUFFIXES:
            ids.add(_ID_UNSAFE.sub("_", path.stem).strip("_"))
        elif suffix in JSON_SUFFIXES:
            records = _record_ids(path)
            if records is None:
                return None
            ids.update(records)
    return ids


def corpus_mismatch(kb: KnowledgeBase, corpus: str | Path) -> str:
    """A warning when the index's document ids differ from what ``corpus`` would give, else ""."""
    expected = expected_doc_ids(corpus)
    if expected is None:
        return ""
    indexed = {d.doc_id for d in kb.documents()}
    missing, extra = sorted(expected - indexed), sorted(indexed - expected)
    if not missing and not extra:
        return ""
    return (f"index {kb.index_dir} does not match corpus {corpus}: {len(missing)} document(s) not indexed "
            f"{missing[:5]}, {len(extra)} indexed document(s) not in the corpus {extra[:5]}")


def open_index(index_dir: str | Path, overrides: dict[str, Any]) -> KnowledgeBase:
    """Open an index, applying the options of ``overrides`` that differ from its config.

    Raises IndexNotFoundError when there is none, IndexMismatchError for another embedder,
    ConfigError when a differing option is fixed at build time.
    """
    kb = KnowledgeBase.open(index_dir, embedder=overrides.get("embedder"))
    changes = {k: v for k, v in overrides.items() if k != "embedder" and getattr(kb.config, k) != v}
    if changes:
        kb = KnowledgeBase.open(index_dir, embedder=kb.embedder, **changes)
    return kb


@contextmanager
def prepared_kb(corpus: str | Path, index_dir: str | Path | None, overrides: dict[str, Any], *,
                progress: bool = False, notes: list[str] | None = None) -> Iterator[KnowledgeBase]:
    """The knowledge base to evaluate: ``index_dir`` opened if it holds an index, else built.

    Without ``index_dir`` the index is built in a temporary folder removed on exit.
    Warnings (corpus mismatch) are appended to ``notes``.
    """
    notes = [] if notes is None else notes
    if not Path(corpus).exists():
        raise ConfigError(f"corpus {corpus} does not exist")
    tmp = None
    kb = None
    if index_dir is not None:
        try:
            kb = open_index(index_dir, overrides)
        except IndexNotFoundError:
            kb = None
        if kb is not None:
            warning = corpus_mismatch(kb, corpus)
            if warning:
                notes.append(warning)
    try:
        if kb is None:
            if index_dir is None:
                tmp = tempfile.mkdtemp(prefix="rag-eval-")
                index_dir = Path(tmp) / "index"
            kb = KnowledgeBase.build([corpus], index_dir, Config.from_dict(overrides), progress=progress)
            notes.extend(f"skipped {s.source}: {s.reason}" for s in kb.last_report.skipped)
        yield kb
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
