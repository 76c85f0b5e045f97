"""What-if: query latency with sentence scoring's tokenisation memoised per word.

``Retriever.sentence_scores`` tokenises every sentence of every fused candidate on every
query (``rag.lexical.tokenize``: Unicode folding, regexes and Snowball stemming per word).
This script times ``kb.search`` (hybrid, k=5) as the library is, and with ``tokenize`` in
``rag.retrieve`` replaced by a per-word memo that returns the same terms (checked), query by
query in alternation, on one index. It changes nothing in the library; it sizes the gain of
caching sentence terms.

    python bench/whatif_tokenize.py --size 10000 --queries 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import synth  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--embedder", choices=("minilm", "hash"), default="minilm")
    ap.add_argument("--out", type=Path, default=common.RESULTS)
    args = ap.parse_args(argv)
    import rag.retrieve as retrieve
    from rag import KnowledgeBase

    spec = common.embedder_spec(args.embedder)
    seed_dir, _ = synth.squad_index(spec)
    folder, _ = synth.ensure_index(seed_dir, args.size, spec)
    embedder = common.make_embedder(args.embedder)
    kb = KnowledgeBase.open(folder, embedder=embedder, verify=False)
    _, questions = common.load_squad()
    qs = [q.text for q in common.sample_questions(questions, args.queries + 5)]
    original = retrieve.tokenize
    memo = synth.TokenCache()
    data = kb._snapshot.data
    sample = [data.documents[d].text[s:e] for d, s, e in data.sentences[:2000]]
    mismatches = synth.check_tokens(sample, memo)
    for q in qs[:5]:
        kb.search(q)
        retrieve.tokenize = memo
        kb.search(q)
        retrieve.tokenize = original
    times = {"library": [], "memoised": []}
    same = 0
    for q in qs[5:]:
        t = time.perf_counter()
        a = kb.search(q)
        times["library"].append(time.perf_counter() - t)
        retrieve.tokenize = memo
        t = time.perf_counter()
        b = kb.search(q)
        times["memoised"].append(time.perf_counter() - t)
        retrieve.tokenize = original
        same += [h.chunk_id for h in a] == [h.chunk_id for h in b]
    result = {"size": args.size, "queries": len(qs) - 5, "token_mismatches_in_2000_sentences": mismatches,
              "same_results": same, **{k: common.latency_summary(v) for k, v in times.items()},
              "speedup_median": statistics.median(times["library"]) / statistics.median(times["memoised"])}
    path = common.write_result("whatif_tokenize", result, args.out)
    print(common.table([{"variant": k, **result[k]} for k in times], ["variant", "n", "median_ms", "p95_ms"], "{:.1f}"))
    print(f"same top-5 on {same}/{len(qs) - 5} queries; median speed-up x{result['speedup_median']:.1f}; "
          f"token mismatches {mismatches}/2000\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
