"""Write eval/splits/squad.json: SQuAD v1.1 + v2.0 dev split by article title (seeded, reproducible).

The union of titles (v2.0's 35 articles are among v1.1's 48) is split into train, dev and test. The
split is stratified so that each part holds articles that v2.0 covers (its unanswerable questions) and
articles only v1.1 has. Test is never used to fit or choose anything.

    python tools/make_squad_split.py            # writes eval/splits/squad.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad"
SEED = 24
# (dev, test) articles taken from each stratum; the rest is train
TAKE = {"v2": (4, 7), "v1_only": (2, 3)}


def titles(path: Path) -> list[str]:
    return [a["title"] for a in json.loads(path.read_text(encoding="utf-8"))["data"]]


def make_split(v1: list[str], v2: list[str], seed: int = SEED) -> dict[str, list[str]]:
    rng = random.Random(seed)
    in_v2 = set(v2)
    split: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for stratum, pool in (("v2", sorted(in_v2)), ("v1_only", sorted(t for t in v1 if t not in in_v2))):
        pool = list(pool)
        rng.shuffle(pool)
        n_dev, n_test = TAKE[stratum]
        split["dev"] += pool[:n_dev]
        split["test"] += pool[n_dev:n_dev + n_test]
        split["train"] += pool[n_dev + n_test:]
    return {k: sorted(v) for k, v in split.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--squad", type=Path, default=SQUAD)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "splits" / "squad.json")
    args = ap.parse_args()
    split = make_split(titles(args.squad / "dev-v1.1.reconstructed.json"),
                       titles(args.squad / "dev-v2.0.reconstructed.json"))
    args.out.write_text(json.dumps(split, indent=1) + "\n", encoding="utf-8")
    print({k: len(v) for k, v in split.items()}, "->", args.out)


if __name__ == "__main__":
    main()
