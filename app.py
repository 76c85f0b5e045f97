"""The Gradio web app: ask questions, read the cited evidence, add and remove articles.

``build_app(kb)`` returns the Blocks for an open :class:`~rag.KnowledgeBase` (tests use a
small one); ``main(argv)`` opens or builds the index and serves it (``python app.py``,
``rag app``). Nothing loads at import time.

Every piece of article text, title, file name or message is passed through
``html.escape`` before it becomes HTML: the pages are built here from escaped pieces,
and highlights are placed by character offsets (the text before, inside and after a
span is escaped separately), so an article containing markup shows it as text and runs
nothing. Named API endpoints: ``ask``, ``search``, ``add_articles``, ``list_articles``,
``remove_articles`` and ``index_info``.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from rag import Answer, Citation, Hit, IndexNotFoundError, IngestReport, KnowledgeBase, RagError

log = logging.getLogger("rag.app")

ROOT = Path(__file__).resolve().parent
DEFAULT_INDEX = ROOT / "index" / "default"
DEFAULT_ARTICLES = ROOT / "data" / "articles"
DEMO_QUESTIONS = (
    "Who was killed alongside Soleimani?",
    "How many US troops remain in Iraq?",
    "When was Soleimani killed?",
    "Where was Soleimani killed?",
)
SEARCH_MODES = ("hybrid", "dense", "bm25")
ANSWER_MODES = ("extractive", "llm")
ANY_SOURCE = ""
UPLOAD_TYPES = ".txt, .md, .html, .json, .jsonl"
GENERIC_ERROR = "Something went wrong on the server ({kind}); the details are in the server log."

CSS = """
.rag-header h1, .rag-title, .rag-badge, .rag-section, .rag-answer strong, .rag-stats b {
  font-family: ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
.rag-header h1 { margin: 0 0 .2em 0; font-size: 1.6em; font-weight: 600; }
.rag-header p { margin: 0; color: var(--body-text-color-subdued); }
.rag-answer { border: 1px solid var(--border-color-primary); border-left: 5px solid #2f7d4f;
  border-radius: 8px; padding: 14px 18px; margin: 4px 0 14px 0; background: var(--background-fill-secondary); }
.rag-answer.rag-abstained { border-left-color: #b7791f; }
.rag-answer.rag-draft { border-left-color: #6b7280; }
.rag-answer .rag-answer-text { font-size: 1.25em; line-height: 1.5; }
.rag-answer strong, .rag-card b { font-weight: 600; }
.rag-answer .rag-question { color: var(--body-text-color-subdued); font-size: .9em; margin-bottom: 4px; }
.rag-meta-line { color: var(--body-text-color-subdued); font-size: .85em; margin-top: 6px; }
a.rag-marker { text-decoration: none; font-weight: 600; padding: 0 2px; border-radius: 4px;
  background: #dbeafe; color: #1d4ed8; }
a.rag-marker:hover { background: #bfdbfe; }
.rag-note { color: #92400e; font-size: .9em; margin-top: 6px; }
.rag-versions { border-collapse: collapse; margin-top: 8px; font-size: .92em; }
.rag-versions th, .rag-versions td { border: 1px solid var(--border-color-primary); padding: 3px 8px; text-align: left; }
.rag-silent { color: var(--body-text-color-subdued); font-size: .88em; margin-top: 4px; }
.rag-section { font-weight: 600; margin: 8px 0 6px 0; font-size: 1.05em; }
.rag-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 14px;
  margin: 0 0 10px 0; background: var(--background-fill-primary); scroll-margin-top: 16px; }
.rag-card:target { box-shadow: 0 0 0 3px #93c5fd; }
.rag-card-head { display: flex; gap: 8px; align-items: baseline; }
.rag-badge { font-weight: 600; color: #1d4ed8; }
.rag-title { font-weight: 600; }
.rag-meta { color: var(--body-text-color-subdued); font-size: .82em; margin: 2px 0 6px 0; }
.rag-passage { margin: 4px 0; line-height: 1.55; white-space: pre-wrap; }
.rag-card mark, .rag-article-text mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.rag-article { margin-top: 6px; }
.rag-article summary { cursor: pointer; color: var(--body-text-color-subdued); font-size: .9em; }
.rag-article-text { white-space: pre-wrap; line-height: 1.55; max-height: 22em; overflow-y: auto;
  border-top: 1px dashed var(--border-color-primary); margin-top: 6px; padding-top: 6px; }
.rag-article-text mark { scroll-margin: 40px; }
a.rag-open { font-size: .85em; }
.rag-status { border-radius: 8px; padding: 10px 14px; margin: 4px 0 10px 0; }
.rag-error { background: #fef2f2; border: 1px solid #fca5a5; color: #991b1b; }
.rag-ok { background: #f0fdf4; border: 1px solid #86efac; color: #166534; }
.rag-warn { background: #fffbeb; border: 1px solid #fcd34d; color: #92400e; }
.rag-status ul { margin: 4px 0 0 1.2em; padding: 0; }
.rag-stats { display: flex; flex-wrap: wrap; gap: 8px 28px; padding: 4px 2px; }
.rag-stats div { color: var(--body-text-color-subdued); font-size: .85em; }
.rag-stats div b { display: block; font-size: 1.15em; font-weight: 600; color: var(--body-text-color); }
"""


# ---- HTML pieces (pure functions over escaped text) -------------------------------------------------------------
def esc(value: Any) -> str:
    """``value`` as text that is safe inside HTML content and attribute values."""
    return html.escape(str(value), quote=True)


def highlight(text: str, start: int, end: int, mark_id: str = "") -> str:
    """``text`` escaped, with ``text[start:end]`` in a ``<mark>`` (offsets are clamped)."""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    if end <= start:
        return esc(text)
    attr = f' id="{esc(mark_id)}"' if mark_id else ""
    return f"{esc(text[:start])}<mark{attr}>{esc(text[start:end])}</mark>{esc(text[end:])}"


def status_html(message: str, kind: str = "error", items: Sequence[str] = ()) -> str:
    """A message box (``kind``: error, ok or warn); ``items`` become a list below it."""
    lis = "".join(f"<li>{esc(i)}</li>" for i in items)
    return (f'<div class="rag-status rag-{esc(kind)}" role="{"alert" if kind == "error" else "status"}">'
            f"{esc(message)}{f'<ul>{lis}</ul>' if lis else ''}</div>")


def linkify_markers(text: str, markers: set[int]) -> str:
    """``text`` escaped, each ``[n]`` of a known citation turned into a link to its card ``#cite-n``."""
    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return f'<a class="rag-marker" href="#cite-{n}">[{n}]</a>' if n in markers else m.group(0)

    return re.sub(r"\[(\d{1,3})\]", link, esc(text))


def _document(kb: KnowledgeBase, doc_id: str) -> Any:
    try:
        return kb.document(doc_id)
    except KeyError:  # removed since the answer was made
        return None


def _meta_line(doc: Any, doc_id: str, extra: str = "") -> str:
    parts = [p for p in (getattr(doc, "source", ""), getattr(doc, "date", "")) if p]
    parts.append(f"id {doc_id}")
    if extra:
        parts.append(extra)
    return " · ".join(esc(p) for p in parts)


def _window(text: str, start: int, end: int, chars: int = 260) -> tuple[int, int]:
    """A passage of about ``chars`` characters either side of a span, cut at whitespace."""
    lo, hi = max(0, start - chars), min(len(text), end + chars)
    if lo > 0:
        cut = text.find(" ", lo)
        lo = cut + 1 if 0 <= cut < start else lo
    if hi < len(text):
        cut = text.rfind(" ", end, hi)
        hi = cut if cut > end else hi
    return lo, hi


def card_html(kb: KnowledgeBase, *, anchor: str, badge: str, doc_id: str, title: str, span: tuple[int, int],
              passage: tuple[int, int, str] | None, extra: str = "") -> str:
    """A passage card: title, source, date, the passage with ``span`` marked, and the whole article.

    ``span`` and ``passage`` (start, end, text) are offsets into the document's text. The
    article view is a ``<details>`` with the span in ``<mark id="{anchor}-span">``; the
    "show in article" link targets that mark, and the browser opens the details and
    scrolls it into view (no script).
    """
    doc = _document(kb, doc_id)
    start, end = span
    if passage is None and doc is not None:
        lo, hi = _window(doc.text, start, end)
        passage = (lo, hi, doc.text[lo:hi])
    if passage is None:
        body = esc("(this article is no longer in the index)")
    else:
        p_start, p_end, p_text = passage
        dots_before = "… " if p_start > 0 else ""
        dots_after = " …" if doc is not None and p_end < len(doc.text) else ""
        body = dots_before + highlight(p_text, start - p_start, end - p_start) + dots_after
    parts = [f'<article class="rag-card" id="{esc(anchor)}">',
             f'<div class="rag-card-head"><span class="rag-badge">{esc(badge)}</span>'
             f'<span class="rag-title">{esc(title or getattr(doc, "title", "") or doc_id)}</span></div>',
             f'<div class="rag-meta">{_meta_line(doc, doc_id, extra)}</div>',
             f'<div class="rag-passage">{body}</div>']
    if doc is not None:
        mark_id = f"{anchor}-span"
        parts.append(f'<details class="rag-article"><summary>Whole article ({len(doc.text):,} characters)</summary>'
                     f'<div class="rag-article-text">{highlight(doc.text, start, end, mark_id)}</div></details>'
                     f'<a class="rag-open" href="#{esc(mark_id)}">Show this passage in the whole article</a>')
    parts.append("</article>")
    return "".join(parts)


def citation_card(kb: KnowledgeBase, c: Citation, passages: Sequence[Hit]) -> str:
    hit = next((h for h in passages if h.chunk_id == c.chunk_id and h.start <= c.start and c.end <= h.end), None)
    passage = (hit.start, hit.end, hit.text) if hit is not None else None
    return card_html(kb, anchor=f"cite-{c.marker}", badge=f"[{c.marker}]", doc_id=c.doc_id, title=c.title,
                     span=(c.start, c.end), passage=passage)


def hit_card(kb: KnowledgeBase, h: Hit, i: int) -> str:
    span = (h.best_start, h.best_end) if h.start <= h.best_start < h.best_end <= h.end else (h.start, h.end)
    return card_html(kb, anchor=f"passage-{i}", badge=f"#{i}", doc_id=h.doc_id, title=h.title, span=span,
                     passage=(h.start, h.end, h.text), extra=f"score {h.score:.3f}")


def answer_html(kb: KnowledgeBase, answer: Answer) -> str:
    """The answer box with linked ``[n]`` markers, then the cited passages (or the closest ones)."""
    meta = [f"{answer.mode} answer", f"confidence {answer.confidence:.2f}"]
    if "total_ms" in answer.timing:
        meta.append(f"{answer.timing['total_ms']:.0f} ms")
    if answer.abstained:
        text = f"<strong>No answer found.</strong> {esc(answer.text)}"
        cards = "".join(hit_card(kb, h, i) for i, h in enumerate(answer.passages, start=1))
        section = "Closest passages (they do not answer the question)" if cards else "No passage matched."
    else:
        text = linkify_markers(answer.text, {c.marker for c in answer.citations})
        cards = "".join(citation_card(kb, c, answer.passages) for c in answer.citations)
        section = "Cited passages"
    notes = "".join(f'<div class="rag-note">Note: {esc(n)}</div>' for n in answer.notes)
    return (f'<div class="rag-answer{" rag-abstained" if answer.abstained else ""}" id="rag-answer">'
            f'<div class="rag-question">Q: {esc(answer.question)}</div><div class="rag-answer-text">{text}</div>'
            f'{versions_html(answer)}{notes}<div class="rag-meta-line">{esc(" · ".join(meta))}</div></div>'
            f'<div class="rag-section">{esc(section)}</div>{cards}')


def versions_html(answer: Answer) -> str:
    """The answer's versions side by side (what, according to whom, which source, which citations), then
    the sources that do not answer; "" for an answer the sources agree on."""
    if not answer.versions or (len(answer.versions) < 2 and not answer.unanswered_sources):
        return ""
    markers = {c.marker for c in answer.citations}
    rows = "".join(
        f"<tr><td>{esc(v.value)}</td><td>{esc(v.attribution or '—')}</td><td>{esc(', '.join(v.sources))}</td>"
        f"<td>{linkify_markers(''.join(f'[{m}]' for m in v.markers), markers)}</td></tr>" for v in answer.versions)
    silent = (f'<div class="rag-silent">Not answered by: {esc(", ".join(answer.unanswered_sources))}</div>'
              if answer.unanswered_sources else "")
    return (f'<table class="rag-versions" id="rag-versions"><thead><tr><th>Says</th><th>According to</th>'
            f'<th>Source</th><th>Cited</th></tr></thead><tbody>{rows}</tbody></table>{silent}')


def hits_html(kb: KnowledgeBase, query: str, hits: Sequence[Hit]) -> str:
    if not hits:
        return status_html(f"No passage matched {query!r} with these filters.", "warn")
    cards = "".join(hit_card(kb, h, i) for i, h in enumerate(hits, start=1))
    return f'<div class="rag-section">Passages for “{esc(query)}”</div>{cards}'


def draft_html(question: str, draft: str) -> str:
    return (f'<div class="rag-answer rag-draft" id="rag-answer"><div class="rag-question">Q: {esc(question)}</div>'
            f'<div class="rag-answer-text">{esc(draft) or "…"}</div>'
            f'<div class="rag-meta-line">drafting; citations are checked when the answer is complete</div></div>')


def report_html(r: IngestReport) -> str:
    """An :class:`IngestReport` as a status box (error style when nothing changed and files were skipped)."""
    summary = (f"added {len(r.added)}, updated {len(r.updated)}, unchanged {len(r.unchanged)}, "
               f"removed {len(r.removed)}, skipped {len(r.skipped)}; {r.chunks_embedded} passages embedded.")
    items = [f"added {d}" for d in r.added] + [f"updated {d}" for d in r.updated]
    items += [f"unchanged {d} (already indexed)" for d in r.unchanged] + [f"removed {d}" for d in r.removed]
    items += [f"rejected {s.source}: {s.reason}" for s in r.skipped]
    items += [f"not added {dup}: an exact copy of {kept}" for dup, kept in r.duplicates]
    items += [f"{doc} is a near-duplicate of {other} (similarity {sim:.2f})" for doc, other, sim in r.near_duplicates]
    changed = r.added or r.updated or r.removed
    kind = "ok" if changed and not r.skipped else "warn" if changed or r.unchanged or r.duplicates else "error"
    return status_html(summary, kind, items)


def stats_html(stats: dict[str, Any]) -> str:
    cells = [("articles", stats.get("documents")), ("passages", stats.get("chunks")),
             ("embedder", f"{stats.get('embedder')} (dim {stats.get('dim')})"), ("index type", stats.get("index_type")),
             ("created", stats.get("created_at")), ("updated", stats.get("updated_at")),
             ("folder", stats.get("index_dir"))]
    return '<div class="rag-stats">' + "".join(f"<div>{esc(k)}<b>{esc(v)}</b></div>" for k, v in cells) + "</div>"


# ---- uploads ----------------------------------------------------------------------------------------------------
def safe_name(name: str, taken: set[str]) -> str:
    """A file name made from the basename of an untrusted ``name``: no folders, no leading dots, unique."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = re.sub(r"[^\w.\-]+", "_", base).lstrip("._") or "upload"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem, suffix = stem[:100] or "upload", suffix[:10]
    candidate, n = f"{stem}.{suffix}" if suffix else stem, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}.{suffix}" if suffix else f"{stem}-{n}"
    taken.add(candidate.lower())
    return candidate


def _upload_paths(files: Any) -> list[str]:
    if not files:
        return []
    items = files if isinstance(files, (list, tuple)) else [files]
    return [str(getattr(f, "path", None) or getattr(f, "name", None) or f) for f in items]


def _clean_report(report: IngestReport, folder: Path) -> IngestReport:
    """The report with the temporary folder removed from skipped file names."""
    prefix = str(folder) + os.sep
    skipped = tuple(type(s)(s.source.replace(prefix, ""), s.reason.replace(prefix, "")) for s in report.skipped)
    return IngestReport(**{**report.__dict__, "skipped": skipped})


# ---- the app ----------------------------------------------------------------------------------------------------
def _filters(source: Any, date_from: Any, date_to: Any) -> dict[str, Any] | None:
    f = {"source": str(source or "").strip(), "date_from": str(date_from or "").strip(),
         "date_to": str(date_to or "").strip()}
    return {k: v for k, v in f.items() if v} or None


def _int(value: Any, default: int, lo: int = 1, hi: int = 50) -> int:
    try:
        return max(lo, min(hi, int(float(value))))
    except (TypeError, ValueError):
        return default


def _failure(e: BaseException, doing: str) -> str:
    """A one-line message for an exception: the library's own message, else a generic one (and a log entry)."""
    if isinstance(e, RagError):
        return str(e)
    if isinstance(e, KeyError):
        return str(e.args[0]) if e.args else "unknown document"
    log.exception("unexpected error while %s", doing)
    return GENERIC_ERROR.format(kind=type(e).__name__)


def build_app(kb: KnowledgeBase, *, examples: Sequence[str] | None = None) -> gr.Blocks:
    """The Gradio Blocks serving ``kb``; queueing is enabled, ``launch()`` is left to the caller."""
    examples = list(DEMO_QUESTIONS if examples is None else examples)

    def ask(question: str, k: float = 5, mode: str = "extractive", search_mode: str = "hybrid", source: str = "",
            date_from: str = "", date_to: str = "", by_source: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
        """Answer a question with cited passages; yields drafts in LLM mode, then the checked answer.
        ``by_source`` answers once per source (extractive only)."""
        mode = mode if mode in ANSWER_MODES else "extractive"
        if by_source:
            mode = "extractive"
        options = {"k": _int(k, 5), "filters": None, "search_mode": search_mode if search_mode in SEARCH_MODES
                   else None}
        try:
            options["filters"] = _filters(source, date_from, date_to)
            if mode == "llm" and hasattr(kb, "ask_stream"):
                draft = ""
                for item in kb.ask_stream(question, **options):
                    if isinstance(item, str):
                        draft += item
                        yield draft_html(question, draft), {"draft": draft}
                    else:
                        yield answer_html(kb, item), item.to_dict()
                return
            if mode == "llm":
                yield draft_html(question, ""), {"draft": ""}
            answer = kb.ask(question, mode=mode, **options, by_source=bool(by_source))
            yield answer_html(kb, answer), answer.to_dict()
        except ImportError as e:
            message = f"The {mode} answer mode is not available: {e}"
            yield status_html(message), {"error": message}
        except Exception as e:  # noqa: BLE001 - every failure becomes a message in the page
            message = _failure(e, "answering")
            if mode == "llm" and not isinstance(e, RagError):
                message = f"LLM mode failed: {type(e).__name__}: {e}"
            yield status_html(message), {"error": message}

    def search(query: str, k: float = 5, search_mode: str = "hybrid", source: str = "", date_from: str = "",
               date_to: str = "") -> tuple[str, Any]:
        """The best passages for a query (no answer)."""
        try:
            hits = kb.search(query, k=_int(k, 5), filters=_filters(source, date_from, date_to),
                             mode=search_mode if search_mode in SEARCH_MODES else None)
            return hits_html(kb, query, hits), [h.to_dict() for h in hits]
        except Exception as e:  # noqa: BLE001
            message = _failure(e, "searching")
            return status_html(message), {"error": message}

    def add_articles(files: Any) -> tuple[str, dict[str, Any]]:
        """Add uploaded article files to the open index; returns the ingest report."""
        paths = _upload_paths(files)
        if not paths:
            message = f"Choose one or more article files first ({UPLOAD_TYPES})."
            return status_html(message), {"error": message}
        folder = Path(tempfile.mkdtemp(prefix="rag-upload-"))
        try:
            taken: set[str] = set()
            staged = []
            for path in paths:
                target = folder / safe_name(Path(path).name, taken)
                shutil.copyfile(path, target)  # the path is Gradio's own upload; only the name is untrusted
                staged.append(target)
            report = _clean_report(kb.add(staged), folder)
            return report_html(report), report.to_dict()
        except Exception as e:  # noqa: BLE001
            message = _failure(e, "adding articles")
            return status_html(f"No article was added: {message}"), {"error": message}
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def list_articles() -> list[dict[str, str]]:
        """Every article in the index: doc id, title, date, source."""
        return [{"doc_id": d.doc_id, "title": d.title, "date": d.date, "source": d.source} for d in kb.documents()]

    def table_rows() -> list[list[str]]:
        return [[d.doc_id, d.title, d.date, d.source] for d in kb.documents()]

    def remove_articles(doc_ids: Any) -> tuple[str, dict[str, Any]]:
        """Remove articles by doc id; returns the report."""
        ids = [doc_ids] if isinstance(doc_ids, str) else [str(d) for d in doc_ids or []]
        ids = [d for d in ids if d]
        if not ids:
            message = "Select one or more articles to remove."
            return status_html(message), {"error": message}
        try:
            report = kb.remove(ids)
            return report_html(report), report.to_dict()
        except Exception as e:  # noqa: BLE001
            message = _failure(e, "removing articles")
            return status_html(f"Nothing was removed: {message}"), {"error": message}

    def index_info() -> tuple[str, dict[str, Any]]:
        """Counts, embedder, index type and dates of the open index."""
        stats = kb.stats()
        return stats_html(stats), stats

    def refresh() -> tuple[Any, ...]:
        docs = kb.documents()
        sources = sorted({d.source for d in docs if d.source}, key=str.casefold)
        stats = kb.stats()
        return (stats_html(stats), stats, table_rows(),
                gr.Dropdown(choices=[(f"{d.doc_id} · {d.title}" if d.title else d.doc_id, d.doc_id) for d in docs],
                            value=[]),
                gr.Dropdown(choices=[("any source", ANY_SOURCE)] + [(s, s) for s in sources]))

    with gr.Blocks(title="News QA with citations", analytics_enabled=False) as demo:
        gr.HTML(f"<style>{CSS}</style><div class='rag-header'><h1>News QA with verified citations</h1>"
                f"<p>Ask about the indexed news articles. Every answer cites the exact sentences it rests on; "
                f"when the articles do not say, the app says so.</p></div>", js_on_load=None)
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row(equal_height=True):
                    with gr.Column(scale=5):
                        question = gr.Textbox(label="Question", placeholder="Ask about the articles, e.g. "
                                              + (examples[0] if examples else "Who was killed alongside Soleimani?"),
                                              lines=1, max_lines=3, elem_id="question")
                    with gr.Column(scale=1, min_width=170):
                        ask_btn = gr.Button("Ask", variant="primary", elem_id="ask-button")
                        search_btn = gr.Button("Search passages", variant="secondary", size="sm",
                                               elem_id="search-button")
                if examples:
                    gr.Examples(examples=[[q] for q in examples], inputs=[question], label="Example questions")
                with gr.Accordion("Settings and filters", open=True):
                    with gr.Row():
                        mode = gr.Radio(list(ANSWER_MODES), value="extractive", label="Answer mode",
                                        info="llm needs the optional local model")
                        search_mode = gr.Radio(list(SEARCH_MODES), value="hybrid", label="Search mode",
                                               info="dense + BM25, or one of them")
                        k = gr.Slider(1, 20, value=5, step=1, label="Passages (k)")
                        by_source = gr.Checkbox(False, label="Answer per source", elem_id="by-source",
                                                info="what each source says, and which say nothing")
                    with gr.Row():
                        source = gr.Dropdown([("any source", ANY_SOURCE)], value=ANY_SOURCE, label="Source",
                                             allow_custom_value=True)
                        date_from = gr.Textbox(label="Date from", placeholder="YYYY-MM-DD", max_lines=1)
                        date_to = gr.Textbox(label="Date to", placeholder="YYYY-MM-DD", max_lines=1)
                answer_out = gr.HTML("", label="Answer (HTML)", elem_id="answer", js_on_load=None)
                with gr.Accordion("Answer as JSON", open=False):
                    answer_json = gr.JSON(label="Answer (JSON)")
            with gr.Tab("Add articles", id="add"):
                gr.Markdown("Upload articles into the open index; they can be asked about as soon as the report "
                            "below appears. A file named like an indexed article (same name without the extension) "
                            "replaces it; exact copies of indexed articles are not added again.")
                files = gr.File(label=f"Article files ({UPLOAD_TYPES})", file_count="multiple", elem_id="upload")
                add_btn = gr.Button("Add to the index", variant="primary", elem_id="add-button")
                add_out = gr.HTML("", label="Report (HTML)", elem_id="add-report", js_on_load=None)
                with gr.Accordion("Report as JSON", open=False):
                    add_json = gr.JSON(label="Report (JSON)")
            with gr.Tab("Index", id="index"):
                info_out = gr.HTML(stats_html(kb.stats()), label="Index (HTML)", elem_id="index-info", js_on_load=None)
                with gr.Accordion("Index details as JSON", open=False):
                    info_json = gr.JSON(label="Index (JSON)")
                table = gr.Dataframe(table_rows(), headers=["doc id", "title", "date", "source"],
                                     datatype=["str", "str", "str", "str"], interactive=False, label="Articles",
                                     elem_id="articles", wrap=True, column_widths=["24%", "50%", "12%", "14%"])
                with gr.Row():
                    to_remove = gr.Dropdown([], value=[], multiselect=True, label="Articles to remove",
                                            allow_custom_value=True, scale=3, elem_id="remove-select")
                    remove_btn = gr.Button("Remove selected", variant="stop", scale=1, elem_id="remove-button")
                remove_out = gr.HTML("", label="Removal report (HTML)", elem_id="remove-report", js_on_load=None)
                with gr.Accordion("Report as JSON", open=False):
                    remove_json = gr.JSON(label="Removal report (JSON)")
                refresh_btn = gr.Button("Refresh", size="sm")

        query_inputs = [question, k, mode, search_mode, source, date_from, date_to, by_source]
        panel = [info_out, info_json, table, to_remove, source]
        gr.on([ask_btn.click, question.submit], ask, inputs=query_inputs, outputs=[answer_out, answer_json],
              api_name="ask", show_progress="minimal")
        search_btn.click(search, inputs=[question, k, search_mode, source, date_from, date_to],
                         outputs=[answer_out, answer_json], api_name="search", show_progress="minimal")
        add_btn.click(add_articles, inputs=files, outputs=[add_out, add_json], api_name="add_articles",
                      concurrency_limit=1).then(refresh, outputs=panel, api_visibility="private").then(
            lambda: None, outputs=files, api_visibility="private")
        remove_btn.click(remove_articles, inputs=to_remove, outputs=[remove_out, remove_json],
                         api_name="remove_articles", concurrency_limit=1).then(
            refresh, outputs=panel, api_visibility="private")
        refresh_btn.click(refresh, outputs=panel, api_visibility="private")
        demo.load(refresh, outputs=panel, api_visibility="private")
        # API-only endpoints, bound to invisible triggers.
        articles_json = gr.JSON(visible=False, label="Articles")
        api_trigger = gr.Button(visible=False)
        api_trigger.click(list_articles, outputs=articles_json, api_name="list_articles")
        api_trigger.click(index_info, outputs=[info_out, info_json], api_name="index_info")
    demo.queue(default_concurrency_limit=4)
    return demo


# ---- command line -----------------------------------------------------------------------------------------------
def open_or_build(index: str | None) -> KnowledgeBase:
    """Open ``index``; the default index is built from the bundled articles when absent."""
    path = Path(index) if index else DEFAULT_INDEX
    try:
        return KnowledgeBase.open(path)
    except IndexNotFoundError:
        if path.resolve() != DEFAULT_INDEX.resolve():
            raise
        print(f"Building the default index in {path} from {DEFAULT_ARTICLES} (first run) ...", file=sys.stderr)
        KnowledgeBase.build([DEFAULT_ARTICLES], path, progress=True)
        return KnowledgeBase.open(path)


def main(argv: list[str] | None = None) -> int:
    """Serve the app: ``python app.py [--index DIR] [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(prog="app.py", description="The news QA web app.")
    parser.add_argument("--index", help=f"index folder (default {DEFAULT_INDEX.relative_to(ROOT)}, built from "
                                        f"{DEFAULT_ARTICLES.relative_to(ROOT)} when absent)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    try:
        kb = open_or_build(args.index)
        demo = build_app(kb)
        demo.launch(server_name=args.host, server_port=args.port, max_file_size=kb.config.max_file_bytes,
                    ssr_mode=False, footer_links=["api", "settings"])
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
