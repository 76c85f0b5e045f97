"""A writer process for the crash-safety and concurrency tests (run as a subprocess).

Modes::

    writer.py loop INDEX CORPUS LOG SEED   build, add and remove articles forever (until killed)
    writer.py add INDEX LOG FILE...        add the files one at a time, then exit
    writer.py hold INDEX SECONDS           hold the index's write lock, then exit

``LOG`` gets one JSON line per event, flushed before going on, so that a test that kills
the process knows which states the index may be in: ``start`` (the state found on
opening, ``docs`` null when there was no index), ``begin`` (the state an operation is
about to write) and ``end`` (it is written). ``ready`` / ``locked`` on stdout tell the
test the imports are done. The hash embedder keeps every operation quick.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rag import Config, IndexNotFoundError, KnowledgeBase
from rag import store

CONFIG = Config(embedder="hash")


def say(log: TextIO, **event: Any) -> None:
    log.write(json.dumps(event) + "\n")
    log.flush()
    os.fsync(log.fileno())


def loop(index: Path, corpus: Path, log: TextIO, seed: int) -> None:
    rng = random.Random(seed)
    files = {p.stem: p for p in sorted(corpus.glob("*.txt"))}
    try:
        kb: KnowledgeBase | None = KnowledgeBase.open(index)
        current = {d.doc_id for d in kb.documents()}
    except IndexNotFoundError:
        kb, current = None, set()
    say(log, event="start", docs=sorted(current) if kb is not None else None)
    print("ready", flush=True)
    for op in range(1_000_000):
        missing = sorted(set(files) - current)
        if kb is None or rng.random() < 0.2:
            target = set(rng.sample(sorted(files), rng.randint(2, 5)))
            say(log, event="begin", op=op, kind="build", docs=sorted(target))
            kb = KnowledgeBase.build([files[d] for d in sorted(target)], index, CONFIG)
        elif missing and (len(current) < 3 or rng.random() < 0.6):
            new = rng.sample(missing, min(len(missing), rng.randint(1, 2)))
            target = current | set(new)
            say(log, event="begin", op=op, kind="add", docs=sorted(target))
            kb.add([files[d] for d in new])
        else:
            gone = rng.choice(sorted(current))
            target = current - {gone}
            say(log, event="begin", op=op, kind="remove", docs=sorted(target))
            kb.remove([gone])
        current = target
        say(log, event="end", op=op, docs=sorted(current))


def add(index: Path, log: TextIO, paths: list[str]) -> None:
    kb = KnowledgeBase.open(index)
    print("ready", flush=True)
    for path in paths:
        report = kb.add([path])
        say(log, event="added", path=path, added=list(report.added), pid=os.getpid())


def hold(index: Path, seconds: float) -> None:
    with store.write_lock(index, timeout=5):
        print("locked", flush=True)
        time.sleep(seconds)


def warm_up() -> None:
    """Import what the first write would import lazily, so that "ready" means writing starts now."""
    import faiss  # noqa: F401
    import scipy.sparse  # noqa: F401
    import snowballstemmer  # noqa: F401
    import syntok.segmenter  # noqa: F401

    from rag.lexical import tokenize

    tokenize("warm up")


def main(argv: list[str]) -> int:
    mode = argv[0]
    warm_up()
    if mode == "loop":
        with open(argv[3], "a", encoding="utf-8") as log:
            loop(Path(argv[1]), Path(argv[2]), log, int(argv[4]))
    elif mode == "add":
        with open(argv[2], "a", encoding="utf-8") as log:
            add(Path(argv[1]), log, argv[3:])
    elif mode == "hold":
        hold(Path(argv[1]), float(argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
