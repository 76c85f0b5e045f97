"""Open two or more indexes in turn, each in a fresh process, and answer twice: open time, answer times, RSS.

For comparing formats of the same index (e.g. a copy whose manifest lists no row tables, which opens
by the old path, against the index itself). The embedding model is loaded before the clock starts.

    python bench/open_compare.py /tmp/old-copy bench/.cache/synthetic-minilm-100000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

QUESTIONS = ("What did the committee decide about the budget?", "Who won the final?")


def child(folder: str) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common

    embedder = common.make_embedder("minilm")
    embedder.embed(["warm"])
    from rag import KnowledgeBase

    t = time.perf_counter()
    kb = KnowledgeBase.open(folder, embedder=embedder)
    out = {"open_s": time.perf_counter() - t, "rss_open_mib": common.mib(common.rss_bytes())}
    answers = []
    for i, q in enumerate(QUESTIONS):
        t = time.perf_counter()
        answers.append(kb.ask(q).text)
        out[f"ask{i + 1}_s"] = time.perf_counter() - t
    out["rss_answer_mib"] = common.mib(common.rss_bytes())
    out["answers"] = answers
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("indexes", nargs="*")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    print(f"load average at start: {open('/proc/loadavg').read().split()[:3]}")
    runs: dict[str, list[dict]] = {i: [] for i in args.indexes}
    for _ in range(args.repeats):
        for folder in args.indexes:
            res = subprocess.run([sys.executable, __file__, "--child", folder], capture_output=True, text=True,
                                 check=True)
            runs[folder].append(json.loads(res.stdout.strip().splitlines()[-1]))
    keys = ("open_s", "ask1_s", "ask2_s", "rss_open_mib", "rss_answer_mib")
    print("| index | " + " | ".join(keys) + " | same answers |")
    print("|---" * (len(keys) + 2) + "|")
    first = runs[args.indexes[0]][0]["answers"]
    for folder, rs in runs.items():
        cells = [f"{statistics.median(r[k] for r in rs):.3f}" for k in keys]
        print(f"| {folder} | " + " | ".join(cells) + f" | {all(r['answers'] == first for r in rs)} |")


if __name__ == "__main__":
    main()
