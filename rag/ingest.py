"""Ingestion: files and folders in, cleaned :class:`Document` objects out.

Reads ``.txt``, ``.md``/``.markdown`` (YAML front matter as metadata, the body rendered to plain
text with markdown-it-py), ``.html``/``.htm`` (main text extracted with trafilatura) and
``.json``/``.jsonl`` records (``text`` or ``body``, plus optional ``id``, ``title``,
``date``/``published_at``, ``source``, ``url``, ``author``). A ``.txt``, ``.md`` or ``.html`` article
``name.ext`` may have a sidecar ``name.meta.json`` (an object with any of ``title``, ``date``,
``source``, ``url``, ``author``) whose fields win over what is found in the file; sidecars are not
articles themselves. An article with no headline is titled by its lead's first words. A file that cannot be read
is reported as :class:`~rag.types.Skipped` with the reason, and the rest of the batch
goes on. It does not chunk, embed or deduplicate.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .clean import clean_article, parse_date
from .errors import EmptyCorpusError, IngestError
from .normalize import normalize_text
from .types import Document, Skipped

TEXT_SUFFIXES = {".txt"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_META_KEYS = {"title": "title", "headline": "title", "date": "date", "published": "date", "published_at": "date",
              "source": "source", "publisher": "source", "site": "source", "author": "author", "by": "author",
              "url": "url", "link": "url", "canonical_url": "url"}
MAX_JSON_DEPTH = 32
_ID_SAFE = re.compile(r"[^\w.\-:]+")
SIDECAR = ".meta.json"
LEAD_TITLE_WORDS = 10


def decode_bytes(data: bytes, source: str) -> str:
    """Decode file bytes to text: UTF-8 (with or without BOM), UTF-16 with BOM, or a detected encoding.

    Raises :class:`IngestError` for binary content or undecodable bytes.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise IngestError(source, f"invalid UTF-16 text ({e.reason} at byte {e.start})") from e
    if b"\x00" in data[:8192]:
        raise IngestError(source, "looks like a binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        text = _mostly_utf8(data) or _western_8bit(data)
        if text is None:
            from charset_normalizer import from_bytes

            best = from_bytes(data).best()
            if best is None or best.encoding is None:
                raise IngestError(source, f"not valid UTF-8 (byte {e.start}) and no other encoding fits") from e
            text = str(best)
    controls = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if text and controls / min(len(text), 20000) > 0.05:
        raise IngestError(source, "looks like a binary file (many control characters), not text")
    return text


def _mostly_utf8(data: bytes) -> str | None:
    """``data`` as UTF-8 with its few invalid bytes replaced by U+FFFD, when valid multi-byte
    characters outnumber them, else ``None``.

    A UTF-8 article with one corrupt byte is still UTF-8: read as cp1252 every "é" would
    become "Ã©", and a detector may pick an unrelated encoding. A cp1252 or Latin-1 text,
    by contrast, almost never holds a valid UTF-8 multi-byte sequence.
    """
    text = data.decode("utf-8-sig", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    return text if good > bad else None


# What a Western (cp1252 / Latin-1) text plausibly contains beyond ASCII: accented letters
# and typographic punctuation, not symbols such as "¹" or "¥".
_WESTERN = set("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿŒœŠšŽžŸƒ"
               "“”‘’‚„–—…•€™†‡‰‹›«»°©®·§£¡¿\u00a0")


def _western_8bit(data: bytes) -> str | None:
    """``data`` as cp1252 when that reads as Western text, else ``None``.

    Statistical detectors often take short Western texts for Central European or Asian
    encodings; cp1252 (a superset of Latin-1's printable range) is by far the most common
    8-bit encoding of news text, so it is tried first and kept only when it looks right:
    no unusual symbols, and accented letters a minority (Cyrillic read as cp1252 is all
    accented letters).
    """
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    extra = [ch for ch in text if ord(ch) > 127]
    if any(ch not in _WESTERN for ch in extra):
        return None
    letters = sum(1 for ch in text if ch.isalpha())
    accented = sum(1 for ch in extra if ch.isalpha())
    return text if accented <= 0.3 * letters else None


def _safe_id(value: Any, source: str) -> str:
    doc_id = _ID_SAFE.sub("_", normalize_text(str(value))).strip("_")
    if not doc_id:
        raise IngestError(source, f"record id {value!r} is empty after removing unsafe characters")
    return doc_id[:200]


def lead_title(text: str, words: int = LEAD_TITLE_WORDS) -> str:
    """A readable title for an article without a headline: its lead's first words."""
    lead = text.split("\n", 1)[0].split()
    return " ".join(lead[:words]) + (" …" if len(lead) > words else "")


def read_sidecar(path: Path) -> dict[str, Any]:
    """The metadata in ``path``'s sidecar ``<stem>.meta.json``, or {} when there is none."""
    side = path.with_name(path.stem + SIDECAR)
    if not side.is_file():
        return {}
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IngestError(str(side), f"unreadable metadata sidecar: {e}") from e
    if not isinstance(data, dict):
        raise IngestError(str(side), "metadata sidecar must be a JSON object (title, date, source, url, author)")
    return {k: data[k] for k in ("title", "date", "source", "url", "author") if data.get(k) not in (None, "")}


def make_document(raw_text: str, doc_id: str, source_name: str, meta: dict[str, Any] | None = None,
                  path: str = "") -> Document:
    """Clean ``raw_text`` and build a :class:`Document`; explicit metadata wins over detected."""
    meta = meta or {}
    cleaned = clean_article(raw_text, title=normalize_text(str(meta.get("title") or "")))
    if not cleaned.text.strip():
        raise IngestError(source_name, "no article text left after cleaning (empty or only boilerplate)")
    raw_date = str(meta.get("date") or meta.get("published_at") or "")
    return Document(
        doc_id=doc_id,
        text=cleaned.text,
        title=cleaned.title or lead_title(cleaned.text),
        date=parse_date(raw_date) or cleaned.date,  # always ISO YYYY-MM-DD or ""
        source=normalize_text(str(meta.get("source") or "")),
        url=normalize_text(str(meta.get("url") or "")),
        author=normalize_text(str(meta.get("author") or "")) or cleaned.author,
        path=path,
    )


def _json_depth(value: Any, limit: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _parse_json(text: str, source: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        where = f"line {e.lineno} column {e.colno}" if "\n" in text.strip() else f"column {e.colno}"
        raise IngestError(source, f"malformed JSON at {where}: {e.msg}") from e
    except RecursionError as e:
        raise IngestError(source, f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from e
    if _json_depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise IngestError(source, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _record_document(record: Any, source: str, fallback_id: str, path: str) -> Document:
    if not isinstance(record, dict):
        raise IngestError(source, f"record is a JSON {type(record).__name__}, expected an object")
    body = record.get("text", record.get("body"))
    if not isinstance(body, str) or not body.strip():
        raise IngestError(source, "record has no non-empty 'text' or 'body' string field")
    doc_id = _safe_id(record["id"], source) if record.get("id") not in (None, "") else fallback_id
    return make_document(body, doc_id, source, record, path)


def _read_json_records(text: str, path: Path, suffix: str) -> Iterator[Document | Skipped]:
    stem = _safe_id(path.stem, str(path))
    if suffix == ".json":
        value = _parse_json(text, str(path))
        if isinstance(value, dict) and not any(k in value for k in ("text", "body")):
            value = value.get("articles", value.get("documents", value))
        records = value if isinstance(value, list) else [value]
        for i, record in enumerate(records):
            source = f"{path} record {i + 1}"
            try:
                yield _record_document(record, source, stem if len(records) == 1 else f"{stem}-{i + 1}", str(path))
            except IngestError as e:
                yield Skipped(e.source, e.reason)
        return
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        source = f"{path} line {line_no}"
        try:
            yield _record_document(_parse_json(line, source), source, f"{stem}-{line_no}", str(path))
        except IngestError as e:
            yield Skipped(e.source, e.reason)


def _missing(source: str, what: str, e: ImportError) -> IngestError:
    """A file that needs a package that is not installed: skipped, with the command that fixes it."""
    return IngestError(source, f"reading {what} needs the package {e.name or 'it imports'}, which is not installed: "
                               f"reinstall the project (`make setup`, or `pip install .`)")


def _html_document(text: str, path: Path) -> Document:
    try:
        import trafilatura

        extracted = trafilatura.bare_extraction(text, include_comments=False, include_tables=False,
                                                with_metadata=True)
    except ImportError as e:  # trafilatura, lxml, or lxml.html.clean (the separate lxml_html_clean)
        raise _missing(str(path), "HTML", e) from e
    if extracted is None or not (extracted.text or "").strip():
        raise IngestError(str(path), "no article text found in the HTML")
    meta = {"title": extracted.title or "", "date": extracted.date or "", "author": extracted.author or "",
            "source": extracted.sitename or "", "url": extracted.url or "", **read_sidecar(path)}
    return make_document(extracted.text, _safe_id(path.stem, str(path)), str(path), meta, str(path))


def front_matter(text: str, source: str) -> tuple[dict[str, str], str]:
    """YAML front matter (between ``---`` lines at the very top) as metadata, and the rest of the text."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    try:
        import yaml
    except ImportError as e:
        raise _missing(source, "Markdown front matter", e) from e

    try:
        data = yaml.safe_load(m.group(1) or "") or {}
    except yaml.YAMLError as e:
        raise IngestError(source, f"malformed YAML front matter: {str(e).splitlines()[0]}") from e
    if not isinstance(data, dict):
        raise IngestError(source, "front matter is not a mapping of fields (title: ..., date: ...)")
    meta: dict[str, str] = {}
    for key, value in data.items():
        field = _META_KEYS.get(str(key).strip().lower())
        if field and value not in (None, "") and field not in meta:
            meta[field] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return meta, text[m.end():]


def markdown_text(body: str) -> tuple[str, str]:
    """The Markdown ``body`` as plain text (one block a paragraph; links keep their text, emphasis marks,
    images and raw HTML go) and its first top-level heading ("" if none), which is left out of the text."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(body)
    blocks: list[str] = []
    title, in_h1 = "", False
    for tok in tokens:
        if tok.type == "heading_open":
            in_h1 = tok.tag == "h1" and not title
        elif tok.type in ("fence", "code_block"):
            blocks.append(tok.content.strip())
        elif tok.type == "inline":
            parts = []
            for child in tok.children or []:
                if child.type in ("text", "code_inline"):
                    parts.append(child.content)
                elif child.type == "softbreak":
                    parts.append(" ")
                elif child.type == "hardbreak":
                    parts.append("\n")
            text = "".join(parts).strip()
            if in_h1:
                title, in_h1 = text, False
            elif text:
                blocks.append(text)
    return "\n\n".join(b for b in blocks if b), title


def _markdown_document(text: str, path: Path) -> Document:
    meta, body = front_matter(text, str(path))
    try:
        plain, heading = markdown_text(body)
    except ImportError as e:
        raise _missing(str(path), "Markdown", e) from e
    if heading and not meta.get("title"):
        meta["title"] = heading
    meta.update(read_sidecar(path))
    return make_document(plain, _safe_id(path.stem, str(path)), str(path), meta, str(path))


def read_file(path: Path, max_bytes: int) -> Iterator[Document | Skipped]:
    """Yield the documents of one file, or :class:`Skipped` entries for what cannot be read."""
    suffix = path.suffix.lower()
    try:
        if suffix not in SUPPORTED_SUFFIXES:
            raise IngestError(str(path), f"unsupported file type {suffix or '(none)'}; "
                                         f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}")
        # Non-blocking open, then check what was opened: a FIFO or device named "x.txt" must
        # not hang or flood the batch (checking the path first would leave a race).
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise IngestError(str(path), "not a regular file (a pipe, device or socket); not read")
            if info.st_size > max_bytes:
                raise IngestError(str(path), f"file is {info.st_size:,} bytes, over the {max_bytes:,}-byte limit")
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise IngestError(str(path), f"file is over the {max_bytes:,}-byte limit")
        text = decode_bytes(data, str(path))
        if not text.strip():
            raise IngestError(str(path), "the file is empty")
        if suffix in JSON_SUFFIXES:
            yield from _read_json_records(text, path, suffix)
        elif suffix in HTML_SUFFIXES:
            yield _html_document(text, path)
        elif suffix in MARKDOWN_SUFFIXES:
            yield _markdown_document(text, path)
        else:
            yield make_document(text, _safe_id(path.stem, str(path)), str(path), read_sidecar(path), path=str(path))
    except IngestError as e:
        yield Skipped(e.source, e.reason)
    except OSError as e:
        yield Skipped(str(path), f"cannot read file: {e.strerror or e}")


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path | Skipped]:
    """Expand files and folders (recursively, hidden entries ignored) in a stable order.

    A symlink inside a folder that points outside that folder is skipped and reported.
    """
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            yield Skipped(str(path), "no such file or folder")
        elif path.is_dir():
            root = path.resolve()
            for sub in sorted(path.rglob("*")):
                rel = sub.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or sub.is_dir():
                    continue
                if sub.is_symlink():
                    try:
                        target = sub.resolve()
                    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
                        yield Skipped(str(sub), "symlink loop; not followed")
                        continue
                    if not target.is_relative_to(root):
                        yield Skipped(str(sub), "symlink points outside the folder; not followed")
                        continue
                if sub.name.lower().endswith(SIDECAR):
                    continue  # an article's metadata, read with the article
                if sub.suffix.lower() not in SUPPORTED_SUFFIXES:
                    yield Skipped(str(sub), f"unsupported file type {sub.suffix or '(none)'}")
                    continue
                yield sub
        else:
            yield path


def load_documents(paths: Iterable[str | os.PathLike[str]], max_bytes: int = 20_000_000,
                   require_any: bool = True) -> tuple[list[Document], list[Skipped]]:
    """Read every article under ``paths``; return the documents and what was skipped.

    Raises :class:`EmptyCorpusError` when ``require_any`` and nothing could be read.
    """
    docs: list[Document] = []
    skipped: list[Skipped] = []
    for item in iter_files(paths):
        if isinstance(item, Skipped):
            skipped.append(item)
            continue
        for result in read_file(item, max_bytes):
            (skipped if isinstance(result, Skipped) else docs).append(result)
    if require_any and not docs:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in skipped[:5]) or "no files given"
        raise EmptyCorpusError(f"no readable article found ({reasons})")
    return docs, skipped
