"""``python -m eval`` (also ``rag eval``): run, compare and squad.

    python -m eval run --gold eval/gold/demo.jsonl --corpus data/articles --out eval/results/demo.json
    python -m eval compare --gold eval/gold/demo.jsonl --corpus data/articles
    python -m eval squad --version 1.1 --split test      # the held-out split: open and gold paragraph

Errors (a bad gold line, a missing corpus, an unknown option) print ``error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eval.gold import GoldError
from eval.report import fmt, metrics_table, wide_table, write_json
from rag import RagError

MODES = ("hybrid", "dense", "bm25")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", help="index folder: opened if it holds an index, else built there "
                                   "(default: a temporary folder)")
    p.add_argument("--k", type=int, default=5, help="passages the answerer reads (default 5)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="Config field for building/searching, e.g. --set embedder=hash (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Evaluate the question-answering system.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="evaluate one configuration on a gold set")
    p.add_argument("--gold", required=True, help="gold JSONL file")
    p.add_argument("--corpus", required=True, help="article folder (or file) the gold set refers to")
    _common(p)
    p.add_argument("--mode", choices=MODES, help="retrieval mode (default: the config's, hybrid)")
    p.add_argument("--answer-mode", choices=("extractive", "llm"), default="extractive")
    p.add_argument("--out", help="write the result JSON here")

    p = sub.add_parser("compare", help="evaluate several configurations and calibrate the abstention threshold")
    p.add_argument("--gold", required=True)
    p.add_argument("--corpus", required=True)
    _common(p)
    p.add_argument("--out-dir", default="eval/results/compare", help="report folder (default %(default)s)")
    p.add_argument("--llm", action="store_true", help="also evaluate the generative answer mode")

    p = sub.add_parser("squad", help="open-corpus SQuAD: retrieval and official EM/F1 on a sample")
    p.add_argument("--version", choices=("1.1", "2.0"), required=True)
    p.add_argument("--data", help="SQuAD dev JSON file (default: ../shared/benchmarks/squad/dev-v<version>...)")
    p.add_argument("--split", choices=("train", "dev", "test"),
                   help="only this part of eval/splits/squad.json (split by article); adds gold-paragraph scores")
    p.add_argument("--sample", type=int, default=None,
                   help="questions to sample (default: all of a --split, else 1000)")
    p.add_argument("--seed", type=int, default=13, help="sampling seed (default %(default)s)")
    p.add_argument("--match", metavar="REGEX", help="only questions matching this regular expression "
                   "(case-insensitive), sampled after the match: --match '\\bwhy\\b' --sample 20000 takes every one")
    _common(p)
    p.add_argument("--mode", choices=MODES, default="hybrid", help="retrieval mode for answering")
    p.add_argument("--out", help="result JSON (default eval/results/squad-v<version>.json)")
    return parser


def _warn(notes: list[str]) -> None:
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)


def cmd_run(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    from eval.harness import run_eval

    result = run_eval(args.gold, args.corpus, index=args.index, k=args.k, mode=args.mode,
                      answer_mode=args.answer_mode, overrides=overrides, progress=not args.quiet)
    _warn(result["warnings"])
    if args.out:
        write_json(args.out, result)
    cfg = result["config"]
    print(f"{result['n_questions']} questions ({result['n_answerable']} answerable), search {cfg['search_mode']}, "
          f"answers {cfg['answer_mode']}, k={cfg['k']}, embedder {cfg['embedder']}")
    print(metrics_table(result["metrics"], result["ci"]))
    if cfg["answer_mode"] == "llm":
        fired = ", ".join(f"{kind} {n}" for kind, n in result["repairs"].items()) or "none"
        print(f"LLM-mode repairs (answers each fired on, of {result['n_questions']}): {fired}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def cmd_compare(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    from eval.compare import TABLE_COLUMNS, run_compare

    summary = run_compare(args.gold, args.corpus, args.out_dir, index=args.index, k=args.k, overrides=overrides,
                          llm=args.llm, progress=not args.quiet)
    print(wide_table(summary["table"], TABLE_COLUMNS))
    for name, error in summary["errors"].items():
        print(f"{name}: not run ({error})")
    best = summary["calibration"]["best"]
    ceiling = summary["calibration"]["max_false_abstention"]
    if best is None:
        print(f"abstention: no threshold keeps false_abstention_rate <= {ceiling}")
    else:
        print(f"abstention: best threshold {best['threshold']:.2f} (ties up to {best['range'][1]:.2f}): "
              f"abstain_recall {best['abstain_recall']:.3f}, false_abstention_rate "
              f"{best['false_abstention_rate']:.3f} (ceiling {ceiling}); the answerer abstains at or below "
              f"confidence {summary['abstain_threshold']} (its reader's calibrated threshold)")
    print(f"wrote {Path(args.out_dir) / 'compare.md'} and plots")
    return 0


def cmd_squad(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    from eval.squad import default_data, run_squad

    sample = args.sample if args.sample is not None else (1_000_000 if args.split else 1000)
    result = run_squad(args.version, args.data or default_data(args.version), sample=sample, seed=args.seed,
                       index=args.index, k=args.k, mode=args.mode, overrides=overrides, progress=not args.quiet,
                       match=args.match, split=args.split)
    _warn(result["warnings"])
    out = args.out or f"eval/results/squad-v{args.version}{'-' + args.split if args.split else ''}.json"
    write_json(out, result)
    ds = result["dataset"]
    print(f"SQuAD v{args.version}{' ' + args.split + ' split' if args.split else ''}: {ds['sampled']} of "
          f"{ds['questions']} questions (seed {ds['seed']}), "
          f"{ds['paragraphs']} paragraphs as documents, index {result['index']['dir']} "
          f"({'reused' if result['index']['reused'] else 'built'})")
    print(wide_table(result["retrieval"], ("hit@1", "hit@5", "mrr@10", "search_latency_p50_ms",
                                           "search_latency_p95_ms"), label="mode"))
    print("answers (" + args.mode + "): " + ", ".join(f"{k} {fmt(v)}" for k, v in result["answers"].items()))
    if "abstention" in result:
        print("abstention: " + ", ".join(f"{k} {fmt(v)}" for k, v in result["abstention"].items()))
    print(f"ask latency p50 {result['latency']['ask_p50_ms']:.1f} ms, p95 {result['latency']['ask_p95_ms']:.1f} ms")
    if "gold_paragraph" in result:
        gold = result["gold_paragraph"]
        print(f"reader, gold paragraph (threshold {gold['threshold']:.2f}): "
              + ", ".join(f"{k} {fmt(v)}" for k, v in gold["answers"].items()))
        print("reader, gold paragraph, never declining: "
              + ", ".join(f"{k} {fmt(v)}" for k, v in gold["always_answer"].items()))
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from eval.corpus import parse_settings

        overrides = parse_settings(args.set)
        return {"run": cmd_run, "compare": cmd_compare, "squad": cmd_squad}[args.command](args, overrides)
    except (RagError, GoldError, ValueError, KeyError, OSError, ImportError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
