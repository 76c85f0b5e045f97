"""The ``rag`` command line: index, add, remove, info, verify, search, ask, eval, app.

Every error the library knows (bad paths, empty queries, corrupt indexes, unknown
options) is printed as one line naming the problem, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from .config import Config
from .errors import ConfigError, IndexNotFoundError, RagError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INDEX = PROJECT_ROOT / "index" / "default"
DEFAULT_ARTICLES = PROJECT_ROOT / "data" / "articles"


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def load_config(path: str | None, settings: list[str]) -> Config:
    """A :class:`Config` from an optional JSON file and ``key=value`` overrides."""
    data: dict[str, Any] = {}
    if path:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(f"config file {path} does not exist") from e
        except json.JSONDecodeError as e:
            raise ConfigError(f"config file {path} is not valid JSON: line {e.lineno}: {e.msg}") from e
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read config file {path}: {e}") from e
    for item in settings:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} must look like name=value")
        key, value = item.split("=", 1)
        data[key.strip()] = _parse_value(value)
    return Config.from_dict(data)


def open_or_build(index: str | None, **options: Any):  # noqa: ANN201
    """Open ``index``; the default index is built from the bundled articles when absent."""
    from .kb import KnowledgeBase

    path = Path(index) if index else DEFAULT_INDEX
    try:
        return KnowledgeBase.open(path, **options)
    except IndexNotFoundError:
        if index and Path(index).resolve() != DEFAULT_INDEX.resolve():
            raise
        print(f"Building the default index in {path} from {DEFAULT_ARTICLES} (first run) ...", file=sys.stderr)
        KnowledgeBase.build([DEFAULT_ARTICLES], path, progress=True)
        return KnowledgeBase.open(path, **options)


def _filters(args: argparse.Namespace) -> dict[str, Any] | None:
    f = {"source": args.source or (), "date_from": args.date_from or "", "date_to": args.date_to or "",
         "doc_ids": args.doc_id or ()}
    return f if any(f.values()) else None


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", action="append", help="only articles from this source (repeatable)")
    p.add_argument("--date-from", help="only articles dated on or after YYYY-MM-DD")
    p.add_argument("--date-to", help="only articles dated on or before YYYY-MM-DD")
    p.add_argument("--doc-id", action="append", help="only this document id (repeatable)")


def _print_report(report: Any) -> None:
    r = report.to_dict()
    print(f"added {len(r['added'])}, updated {len(r['updated'])}, unchanged {len(r['unchanged'])}, "
          f"removed {len(r['removed'])}, chunks embedded {r['chunks_embedded']}")
    for s in r["skipped"]:
        print(f"  skipped {s['source']}: {s['reason']}")
    for dup, kept in r["duplicates"]:
        print(f"  duplicate {dup} of {kept}: not indexed again")
    for doc, other, sim in r["near_duplicates"]:
        print(f"  near-duplicate {doc} ~ {other} (similarity {sim:.2f})")


def cmd_index(args: argparse.Namespace) -> int:
    from .kb import KnowledgeBase

    config = load_config(args.config, args.set or [])
    if args.embedder:
        config = config.with_(embedder=args.embedder)
    index = Path(args.index or DEFAULT_INDEX)
    if args.engine == "ray":
        from .distributed import build_with_ray

        kb = build_with_ray(args.paths, index, config, address=args.address, workers=args.workers,
                            backend=args.backend, uri=args.uri)
    else:
        kb = KnowledgeBase.build(args.paths, index, config, progress=not args.quiet, backend=args.backend,
                                 uri=args.uri)
    _print_report(kb.last_report)
    s = kb.stats()
    print(f"index {index}: {s['documents']} documents, {s['chunks']} chunks, {s['index_type']}, {s['embedder']}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from .kb import KnowledgeBase

    kb = KnowledgeBase.open(args.index or DEFAULT_INDEX)
    _print_report(kb.add(args.paths, progress=not args.quiet))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from .kb import KnowledgeBase

    kb = KnowledgeBase.open(args.index or DEFAULT_INDEX)
    _print_report(kb.remove(args.doc_ids))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .kb import KnowledgeBase

    kb = KnowledgeBase.open(args.index or DEFAULT_INDEX)
    info = kb.stats()
    info["documents_list"] = [{"doc_id": d.doc_id, "title": d.title, "date": d.date, "source": d.source}
                              for d in kb.documents()]
    print(json.dumps(info, indent=2, ensure_ascii=False))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    kb = open_or_build(args.index)
    hits = kb.search(args.query, k=args.k, filters=_filters(args), mode=args.mode)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("no passages found")
    for h in hits:
        print(f"[{h.rank}] {h.score:.3f}  {h.doc_id}  {h.title or ''}  chars {h.start}-{h.end}")
        print(textwrap.indent(textwrap.fill(h.text, 100), "    "))
    return 0


def versions_table(answer: Any) -> str:
    """The answer's versions side by side (what, according to whom, published by, citations), then the
    sources that do not answer."""
    rows = [("says", "according to", "source", "cited")]
    rows += [(v.value, v.attribution or "-", ", ".join(v.sources), "".join(f"[{m}]" for m in v.markers))
             for v in answer.versions]
    widths = [min(40, max(len(r[i]) for r in rows)) for i in range(4)]
    lines = ["  ".join(cell[:40].ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if answer.unanswered_sources:
        lines.append(f"not answered by: {', '.join(answer.unanswered_sources)}")
    return "\n".join(lines)


def cmd_ask(args: argparse.Namespace) -> int:
    kb = open_or_build(args.index)
    answer = kb.ask(args.question, k=args.k, mode=args.mode, filters=_filters(args), search_mode=args.search_mode,
                    by_source=args.by_source)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(textwrap.fill(answer.text, 100))
    print()
    if answer.abstained:
        print("(abstained: the articles do not answer this)")
    else:
        print(f"short answer: {answer.short_answer}    confidence {answer.confidence:.2f}")
    if answer.disputed or args.by_source:
        print(versions_table(answer))
    for c in answer.citations:
        print(f"[{c.marker}] {c.doc_id} {c.title or ''} chars {c.start}-{c.end}")
        print(textwrap.indent(textwrap.fill(f"“{c.quote}”", 100), "    "))
    for note in answer.notes:
        print(f"note: {note}")
    print(f"({answer.timing.get('total_ms', 0):.0f} ms)")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .kb import KnowledgeBase

    index = Path(args.index or DEFAULT_INDEX)
    report = KnowledgeBase.verify(index)
    print(f"index {index}: generation {report['generation']}, {report['files']} files, "
          f"{report['bytes']:,} bytes: every checksum matches")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from eval.__main__ import main as eval_main

    return eval_main(args.rest)


def cmd_app(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(PROJECT_ROOT))
    from app import main as app_main

    argv = []
    if args.index:
        argv += ["--index", args.index]
    argv += ["--host", args.host, "--port", str(args.port)]
    return app_main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Question answering over news articles with "
                                     "verified citations.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="build an index from article files or folders (replaces an existing one)")
    p.add_argument("paths", nargs="+", help=".txt, .md, .html, .json or .jsonl files, or folders of them")
    p.add_argument("--index", help=f"index folder (default {DEFAULT_INDEX.relative_to(PROJECT_ROOT)})")
    p.add_argument("--config", help="JSON file with Config fields")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override one Config field (repeatable)")
    p.add_argument("--embedder", help="'bundled:all-MiniLM-L6-v2' (default), a local model folder, or 'hash'")
    p.add_argument("--engine", choices=["local", "ray"], default="local", help="where to embed (default local)")
    p.add_argument("--address", help="Ray cluster address to join (with --engine ray)")
    p.add_argument("--workers", type=int, default=2, help="Ray embedding workers (with --engine ray)")
    p.add_argument("--backend", choices=["faiss", "milvus"], default="faiss",
                   help="where chunk vectors are served from (default faiss, in the index folder)")
    p.add_argument("--uri", help="Milvus URI (with --backend milvus; default a milvus-lite file in the index folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("add", help="add or update articles in an existing index")
    p.add_argument("paths", nargs="+")
    p.add_argument("--index", help="index folder")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="remove documents by id")
    p.add_argument("doc_ids", nargs="+")
    p.add_argument("--index", help="index folder")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("info", help="show an index's counts, embedder and documents as JSON")
    p.add_argument("--index", help="index folder")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("search", help="show the passages that best match a query")
    p.add_argument("query")
    p.add_argument("--index", help="index folder (default: the bundled articles' index, built if absent)")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], help="retrieval mode (default hybrid)")
    _add_filter_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question with cited evidence")
    p.add_argument("question")
    p.add_argument("--index", help="index folder (default: the bundled articles' index, built if absent)")
    p.add_argument("-k", type=int, default=5, help="passages to read (default 5)")
    p.add_argument("--mode", choices=["extractive", "llm"], default="extractive", help="answer mode")
    p.add_argument("--search-mode", choices=["hybrid", "dense", "bm25"], help="retrieval mode")
    _add_filter_args(p)
    p.add_argument("--by-source", action="store_true",
                   help="answer once per source that has the answer, and list the sources that do not")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("verify", help="check every byte of an index against its checksums (opening checks "
                       "only sizes and quick fingerprints)")
    p.add_argument("--index", help="index folder (default: the bundled articles' index)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("eval", help="run the evaluation suite (same as python -m eval)", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("app", help="start the Gradio web app")
    p.add_argument("--index", help="index folder (default: the bundled articles' index, built if absent)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.set_defaults(func=cmd_app)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (RagError, KeyError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our output went away (`rag info | head`): not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    """The ``rag`` command: :func:`main`, then exit without the interpreter's teardown.

    Unloading torch and transformers at exit takes about 0.8 s on two cores, a fifth of a cold
    ``rag ask``; everything a command writes is complete (indexes are fsynced and published before
    ``main`` returns), so only the standard streams need flushing first.
    """
    try:
        code = main()
    except SystemExit as e:  # argparse's --help and usage errors
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        if not isinstance(e.code, int) and e.code is not None:
            print(e.code, file=sys.stderr)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)
