#!/usr/bin/env python3
"""Validate a gold question set (JSONL) against the article corpus.

Usage::

    python eval/check_gold.py [--gold eval/gold/demo.jsonl] [--corpus data/articles]

Each line of the gold file is one JSON object with exactly these fields::

    {"id": str, "question": str, "answers": [str, ...],
     "evidence": [{"doc_id": str, "quote": str}, ...],
     "answerable": bool, "type": one of TYPES}

and, for type "conflict" only, an optional ``"versions": [{"answers": [str, ...], "doc_ids": [str, ...],
"by": str}, ...]``: each side of the disagreement (two or more), its acceptable phrasings (each also in
``answers``), the documents stating it and, optionally, who says it (the attributed speaker, else the
outlet). Scored by conflict recall (:mod:`eval.harness`).

Errors (exit status 1): invalid JSON, missing/extra fields or wrong types, duplicate ids,
unknown type, ``answerable`` inconsistent with answers/evidence (or with type
"unanswerable"), an evidence ``doc_id`` that is not a .txt/.md file stem in the corpus
folder, or a quote that, after ``rag.normalize.normalize_quote``, is not a substring of the
whitespace-folded normalised article text.

Warnings (reported, not failures): no gold answer occurs (case-insensitive) in any of the
question's evidence quotes (date-format variants make this legitimate), quotes outside
6-30 words, multi-doc/conflict questions citing fewer than two documents, duplicate answers.

Standard library only; ``rag.normalize`` is imported from the project root (the parent of
this script's folder).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    from rag.normalize import normalize_quote, normalize_text
except ImportError:  # e.g. a rag/__init__.py needing third-party packages: load the file itself
    _spec = importlib.util.spec_from_file_location("_gold_normalize", ROOT / "rag" / "normalize.py")
    _mod = importlib.util.module_from_spec(_spec)
    assert _spec.loader is not None
    _spec.loader.exec_module(_mod)
    normalize_quote, normalize_text = _mod.normalize_quote, _mod.normalize_text

TYPES = ("factoid", "numeric", "date", "paraphrase", "multi-doc", "conflict", "unanswerable")
FIELDS = {"id": str, "question": str, "answers": list, "evidence": list, "answerable": bool, "type": str}
OPTIONAL_FIELDS = {"versions": list}
VERSION_FIELDS = {"answers": list, "doc_ids": list, "by": str}
EVIDENCE_FIELDS = {"doc_id": str, "quote": str}
CORPUS_SUFFIXES = (".txt", ".md")
DEFAULT_GOLD = ROOT / "eval" / "gold" / "demo.jsonl"
DEFAULT_CORPUS = ROOT / "data" / "articles"
QUOTE_WORDS = (6, 30)


def fold_document(text: str) -> str:
    """A document text as quotes are matched against: normalised, whitespace folded."""
    return re.sub(r"\s+", " ", normalize_text(text))


def load_corpus(corpus_dir: str | Path) -> dict[str, str]:
    """doc_id (file stem) -> whitespace-folded normalised text, for .txt/.md files."""
    docs: dict[str, str] = {}
    for path in sorted(Path(corpus_dir).iterdir()):
        if path.is_file() and path.suffix.lower() in CORPUS_SUFFIXES:
            docs[path.stem] = fold_document(path.read_text(encoding="utf-8"))
    return docs


def _type_name(value: object) -> str:
    return type(value).__name__


def _check_record(n: int, rec: object, docs: dict[str, str] | None, seen_ids: dict[str, int],
                  errors: list[str], warnings: list[str], raw: dict[str, str] | None = None) -> None:
    """Append the errors and warnings of record ``rec`` (line ``n``); ``docs`` None skips corpus checks."""
    if not isinstance(rec, dict):
        errors.append(f"line {n}: record: expected a JSON object, got {_type_name(rec)}")
        return
    for field in sorted(set(FIELDS) - set(rec)):
        errors.append(f"line {n}: field {field}: missing")
    for field in sorted(set(rec) - set(FIELDS) - set(OPTIONAL_FIELDS)):
        errors.append(f"line {n}: field {field}: unexpected field")
    for field, expected in FIELDS.items():
        if field in rec and not isinstance(rec[field], expected):
            errors.append(f"line {n}: field {field}: expected {expected.__name__}, got {_type_name(rec[field])}")

    rid = rec.get("id")
    if isinstance(rid, str):
        if not rid.strip():
            errors.append(f"line {n}: field id: empty")
        elif rid in seen_ids:
            errors.append(f"line {n}: field id: duplicate id {rid!r} (first on line {seen_ids[rid]})")
        else:
            seen_ids[rid] = n

    if isinstance(rec.get("question"), str) and not rec["question"].strip():
        errors.append(f"line {n}: field question: empty")

    qtype = rec.get("type")
    if isinstance(qtype, str) and qtype not in TYPES:
        errors.append(f"line {n}: field type: {qtype!r} not one of {', '.join(TYPES)}")

    answers = rec.get("answers") if isinstance(rec.get("answers"), list) else None
    if answers is not None:
        for i, ans in enumerate(answers):
            if not isinstance(ans, str):
                errors.append(f"line {n}: field answers[{i}]: expected str, got {_type_name(ans)}")
            elif not ans.strip():
                errors.append(f"line {n}: field answers[{i}]: empty string")
        dupes = [a for a, c in Counter(a for a in answers if isinstance(a, str)).items() if c > 1]
        if dupes:
            warnings.append(f"line {n}: field answers: duplicate answer(s) {dupes}")

    evidence = rec.get("evidence") if isinstance(rec.get("evidence"), list) else None
    good_quotes: list[str] = []
    cited_docs: set[str] = set()
    if evidence is not None:
        for i, ev in enumerate(evidence):
            where = f"line {n}: field evidence[{i}]"
            if not isinstance(ev, dict):
                errors.append(f"{where}: expected object, got {_type_name(ev)}")
                continue
            for field in sorted(set(EVIDENCE_FIELDS) - set(ev)):
                errors.append(f"{where}.{field}: missing")
            for field in sorted(set(ev) - set(EVIDENCE_FIELDS)):
                errors.append(f"{where}.{field}: unexpected field")
            bad = False
            for field, expected in EVIDENCE_FIELDS.items():
                if field in ev and not isinstance(ev[field], expected):
                    errors.append(f"{where}.{field}: expected {expected.__name__}, got {_type_name(ev[field])}")
                    bad = True
            if bad or set(EVIDENCE_FIELDS) - set(ev):
                continue
            doc_id, quote = ev["doc_id"], ev["quote"]
            if docs is not None and doc_id not in docs:
                errors.append(f"{where}.doc_id: {doc_id!r} is not a document in the corpus folder")
                continue
            cited_docs.add(doc_id)
            q = normalize_quote(quote)
            if not q:
                errors.append(f"{where}.quote: empty")
                continue
            if docs is not None and q not in docs[doc_id]:
                if raw is not None and q in raw.get(doc_id, ""):
                    warnings.append(f"{where}.quote: in the raw article or metadata of {doc_id} but not in its "
                                    f"cleaned text (cleaning moved it); evidence metrics skip it: {quote[:80]!r}")
                else:
                    errors.append(f"{where}.quote: not found verbatim in {doc_id}: {quote[:80]!r}")
                continue
            good_quotes.append(q)
            n_words = len(q.split())
            if not QUOTE_WORDS[0] <= n_words <= QUOTE_WORDS[1]:
                warnings.append(f"{where}.quote: {n_words} words (expected {QUOTE_WORDS[0]}-{QUOTE_WORDS[1]})")

    answerable = rec.get("answerable")
    if isinstance(answerable, bool) and answers is not None and evidence is not None:
        if answerable and (not answers or not evidence):
            errors.append(f"line {n}: field answerable: true but answers/evidence empty "
                          f"({len(answers)} answers, {len(evidence)} evidence)")
        if not answerable and (answers or evidence):
            errors.append(f"line {n}: field answerable: false but answers/evidence not empty "
                          f"({len(answers)} answers, {len(evidence)} evidence)")
    if isinstance(answerable, bool) and isinstance(qtype, str) and qtype in TYPES:
        if (qtype == "unanswerable") == answerable:
            errors.append(f"line {n}: field answerable: {str(answerable).lower()} inconsistent with type {qtype!r}")

    if answerable is True and answers and good_quotes:
        folded = [normalize_quote(a).casefold() for a in answers if isinstance(a, str)]
        if not any(a and a in q.casefold() for a in folded for q in good_quotes):
            warnings.append(f"line {n}: field answers: no answer occurs in any evidence quote {answers}")
    if "versions" in rec:
        _check_versions(n, rec, docs, errors)
    if qtype in ("multi-doc", "conflict") and evidence is not None and len(cited_docs) < 2:
        warnings.append(f"line {n}: field evidence: type {qtype} cites {len(cited_docs)} document(s), expected 2+")


def _check_versions(n: int, rec: dict, docs: dict[str, str] | None, errors: list[str]) -> None:
    """Append the errors of a record's ``versions`` field (see the module docstring)."""
    versions = rec["versions"]
    if rec.get("type") != "conflict":
        errors.append(f"line {n}: field versions: only a conflict question has versions (type {rec.get('type')!r})")
    if not isinstance(versions, list) or len(versions) < 2:
        errors.append(f"line {n}: field versions: expected a list of two or more versions")
        return
    answers = {a for a in rec.get("answers") or [] if isinstance(a, str)}
    for i, version in enumerate(versions):
        where = f"line {n}: field versions[{i}]"
        if not isinstance(version, dict):
            errors.append(f"{where}: expected object, got {_type_name(version)}")
            continue
        for field in sorted({"answers", "doc_ids"} - set(version)):
            errors.append(f"{where}.{field}: missing")
        for field in sorted(set(version) - set(VERSION_FIELDS)):
            errors.append(f"{where}.{field}: unexpected field")
        for field, expected in VERSION_FIELDS.items():
            value = version.get(field)
            if field in version and not isinstance(value, expected):
                errors.append(f"{where}.{field}: expected {expected.__name__}, got {_type_name(value)}")
            elif expected is list and isinstance(value, list) and (
                    not value or not all(isinstance(x, str) and x.strip() for x in value)):
                errors.append(f"{where}.{field}: expected a non-empty list of non-empty strings")
        for a in version.get("answers") or []:
            if isinstance(a, str) and a not in answers:
                errors.append(f"{where}.answers: {a!r} is not in the question's answers")
        for d in version.get("doc_ids") or []:
            if docs is not None and isinstance(d, str) and d not in docs:
                errors.append(f"{where}.doc_ids: {d!r} is not a document in the corpus folder")


def check_gold(gold_path: str | Path, corpus_dir: str | Path,
               warnings: list[str] | None = None) -> list[str]:
    """Validate ``gold_path`` against ``corpus_dir``; return error strings (empty if valid).

    Non-fatal findings are appended to ``warnings`` when a list is given.
    """
    errors: list[str] = []
    warns: list[str] = [] if warnings is None else warnings
    gold_path, corpus_dir = Path(gold_path), Path(corpus_dir)
    if not corpus_dir.is_dir():
        return [f"corpus: {corpus_dir} is not a directory"]
    if not gold_path.is_file():
        return [f"gold: {gold_path} is not a file"]
    docs = load_corpus(corpus_dir)
    if not docs:
        errors.append(f"corpus: no .txt/.md files in {corpus_dir}")
    try:
        lines = gold_path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        return [f"gold: not valid UTF-8: {exc}"]
    _, line_errors = validate_lines(lines, docs, warns)
    return errors + line_errors


def validate_lines(lines: list[str], docs: dict[str, str] | None = None,
                   warnings: list[str] | None = None,
                   raw: dict[str, str] | None = None) -> tuple[list[tuple[int, dict]], list[str]]:
    """Validate gold JSONL ``lines``; return ``([(line number, record)], errors)``.

    ``docs`` maps doc_id -> text folded as :func:`fold_document` does; ``None`` checks the
    format only (no evidence lookup). ``raw`` maps doc_id -> the raw article and metadata, folded: a
    quote found there but not in ``docs`` is a warning, not an error. Records are returned only when
    there is no error at all.
    """
    errors: list[str] = []
    warns: list[str] = [] if warnings is None else warnings
    records: list[tuple[int, dict]] = []
    seen_ids: dict[str, int] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            errors.append(f"line {n}: record: empty line")
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: record: invalid JSON: {exc}")
            continue
        _check_record(n, rec, docs, seen_ids, errors, warns, raw)
        if isinstance(rec, dict):
            records.append((n, rec))
    if not seen_ids and not errors:
        errors.append("gold: no records")
    return ([] if errors else records), errors


def summarize(gold_path: str | Path) -> str:
    """Counts per type, per evidence document and answerable/unanswerable (valid lines only)."""
    by_type: Counter[str] = Counter()
    by_doc: Counter[str] = Counter()
    answerable = total = 0
    for line in Path(gold_path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(rec, dict):
            continue
        total += 1
        by_type[str(rec.get("type"))] += 1
        answerable += rec.get("answerable") is True
        docs = {ev.get("doc_id") for ev in rec.get("evidence") or [] if isinstance(ev, dict)}
        for d in docs:
            by_doc[str(d)] += 1
    out = [f"{total} questions ({answerable} answerable, {total - answerable} unanswerable)", "by type:"]
    out += [f"  {t:<13} {by_type[t]}" for t in TYPES if by_type[t]]
    out += [f"  {t:<13} {c}  (unknown type)" for t, c in sorted(by_type.items()) if t not in TYPES]
    out.append("by document (questions citing it):")
    out += [f"  {d:<24} {c}" for d, c in sorted(by_doc.items())]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gold", default=str(DEFAULT_GOLD), help="gold JSONL file (default: %(default)s)")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="article folder (default: %(default)s)")
    args = parser.parse_args(argv)
    warnings: list[str] = []
    errors = check_gold(args.gold, args.corpus, warnings)
    if Path(args.gold).is_file():
        print(summarize(args.gold))
    for w in warnings:
        print(f"WARNING {w}")
    for e in errors:
        print(f"ERROR {e}", file=sys.stderr)
    print(f"{len(errors)} error(s), {len(warnings)} warning(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
