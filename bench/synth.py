"""Large synthetic indexes grown from a real one, for latency, memory and open-time runs.

The seed is a real index: the SQuAD v1.1 dev paragraphs built with ``KnowledgeBase.build``
(real chunks, sentences and embeddings; cached in ``bench/.cache``). An index of ``n``
chunks is made of whole copies of seed documents, cycled in order:

* copy 0 of a document is the real document (text, chunks, sentences, vectors);
* copy ``c > 0`` drops each word of each sentence with probability ``drop`` (seeded),
  keeps the sentence and chunk structure, and adds Gaussian noise to every chunk and
  sentence vector, renormalised. With ``noise=0.02`` a copy's vector has cosine about 0.93
  with its original, so copies are near but distinct neighbours, as rewrites of a story are.

The BM25 side is built by the library (``BM25Index.from_tokens``) over the copies' texts;
tokenisation is done once per distinct word and concatenated, which gives the same terms as
``rag.lexical.tokenize`` on the whole text (checked by ``check_tokens``). The FAISS index is
built by ``rag.vectors.build_index`` with the type ``Config.index_type="auto"`` resolves to.
The result is a ``rag.store.IndexData``, which ``rag.store.save`` persists exactly as a
built index, and ``KnowledgeBase(index_dir, data, embedder)`` serves.
"""

from __future__ import annotations

import gc
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SEED_INDEX = common.CACHE / "squad-index"  # KnowledgeBase.build over all SQuAD v1.1 dev paragraphs


def squad_index(spec: str, squad: Path = common.DEFAULT_SQUAD, limit: int = 0, embedder: Any = None,
                folder: Path | None = None, force: bool = False) -> tuple[Path, float]:
    """A KnowledgeBase index over the SQuAD paragraphs (built once, then reused); (path, build seconds).

    The embedder is loaded only when the index has to be built (``embedder`` may be given).
    """
    from rag import Config, KnowledgeBase, store

    tag = f"{'hash' if spec == 'hash' else 'minilm'}-{limit or 'all'}"
    folder = folder or (SEED_INDEX.parent / f"{SEED_INDEX.name}-{tag}")
    if not force:
        try:
            manifest = store.read_manifest(store.current_generation(folder))
            if manifest["embedder"]["spec"] == spec:
                return folder, float("nan")
        except Exception:  # noqa: BLE001 - anything wrong: rebuild
            pass
    paragraphs, _ = common.load_squad(squad, limit)
    corpus = common.write_corpus(paragraphs, common.CACHE / f"squad-{limit or 'all'}.jsonl")
    common.log(f"building the seed index over {len(paragraphs)} SQuAD paragraphs ({spec}) in {folder}")
    embedder = embedder or common.make_embedder(spec)
    t = time.perf_counter()
    KnowledgeBase.build([corpus], folder, Config(embedder=spec), embedder=embedder)
    return folder, time.perf_counter() - t


def _noisy(vectors: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    out = vectors + rng.standard_normal(vectors.shape, dtype=np.float32) * np.float32(noise)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _fill(out: np.ndarray, base: np.ndarray, src: list[int], noisy: list[bool], noise: float,
          rng: np.random.Generator, block: int = 65_536) -> None:
    """``out[i] = base[src[i]]``, with noise where ``noisy[i]``, in blocks."""
    src_a = np.asarray(src, dtype=np.int64)
    noisy_a = np.asarray(noisy, dtype=bool)
    for start in range(0, len(src_a), block):
        stop = min(len(src_a), start + block)
        part = base[src_a[start:stop]]
        mask = noisy_a[start:stop]
        if mask.any():
            part[mask] = _noisy(part[mask], noise, rng)
        out[start:stop] = part


class TokenCache:
    """``rag.lexical.tokenize`` per whitespace-separated word, memoised."""

    def __init__(self) -> None:
        from rag.lexical import tokenize

        self._tokenize = tokenize
        self._memo: dict[str, list[str]] = {}

    def __call__(self, text: str) -> list[str]:
        out: list[str] = []
        memo = self._memo
        for word in text.split():
            terms = memo.get(word)
            if terms is None:
                terms = memo[word] = self._tokenize(word)
            out.extend(terms)
        return out


def check_tokens(texts: list[str], cache: TokenCache) -> int:
    """Number of ``texts`` whose cached tokens differ from tokenising the whole text."""
    from rag.lexical import tokenize

    return sum(cache(t) != tokenize(t) for t in texts)


def synthetic_data(seed_dir: Path, n_chunks: int, *, noise: float = 0.02, drop: float = 0.1, seed: int = 0,
                   sentence_file: Path | None = None, index_type: str | None = None, build_faiss: bool = True):  # noqa: ANN201
    """An ``IndexData`` of about ``n_chunks`` chunks grown from the seed index (see module doc).

    ``sentence_file``: write the sentence vectors there and memory-map them (as a loaded index
    does) instead of holding them in memory. Returns (data, timings dict).
    """
    from rag import Config, store
    from rag import vectors as vec
    from rag.lexical import BM25Index, incidence
    from rag.store import IndexData
    from rag.types import Chunk, Document
    from rag.update import embed_text

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    base = store.load(seed_dir, verify=False)
    cfg = base.config if index_type is None else base.config.with_(index_type=index_type)
    # sentence vectors at today's default precision, whatever the seed index was built with
    cfg = cfg.with_(sentence_vector_dtype=Config().sentence_vector_dtype)
    sent_dtype = np.dtype(cfg.sentence_vector_dtype)
    base_docs = list(base.documents.values())
    chunks_of: dict[str, list[int]] = {}
    for row, c in enumerate(base.chunks):
        chunks_of.setdefault(c.doc_id, []).append(row)
    sents_of: dict[str, list[int]] = {}
    for row, (d, _, _) in enumerate(base.sentences):
        sents_of.setdefault(d, []).append(row)
    base_cv = np.asarray(base.chunk_vectors, dtype=np.float32)
    base_sv = np.asarray(base.sentence_vectors, dtype=np.float32)
    rng = np.random.default_rng(seed)

    # Plan: which (document, copy) pairs, until n_chunks chunks.
    plan: list[tuple[int, int]] = []
    total = 0
    copy = 0
    while total < n_chunks:
        for i, doc in enumerate(base_docs):
            plan.append((i, copy))
            total += len(chunks_of.get(doc.doc_id, []))
            if total >= n_chunks:
                break
        copy += 1
    n_sent = sum(len(sents_of.get(base_docs[i].doc_id, [])) for i, _ in plan)
    dim = base_cv.shape[1]

    documents: dict[str, Document] = {}
    doc_hashes: dict[str, str] = {}
    chunks: list[Chunk] = []
    chunk_sents: list[tuple[int, int]] = []
    chunk_hashes: list[str] = []
    sentences: list[tuple[str, int, int]] = []
    sentence_hashes: list[str] = []
    chunk_vectors = np.empty((total, dim), dtype=np.float32)
    if sentence_file is not None:
        sentence_file.parent.mkdir(parents=True, exist_ok=True)
        sentence_vectors = np.lib.format.open_memmap(sentence_file, mode="w+", dtype=sent_dtype, shape=(n_sent, dim))
    else:
        sentence_vectors = np.empty((n_sent, dim), dtype=sent_dtype)
    tokens = TokenCache()
    bm25_tokens: list[list[str]] = []
    chunk_src: list[int] = []  # base row of each new chunk / sentence vector, and whether it is a noisy copy
    chunk_copy: list[bool] = []
    sent_src: list[int] = []
    sent_copy: list[bool] = []
    gc.disable()  # millions of long-lived objects: the cyclic collector would rescan them over and over
    word_rng = np.random.default_rng(seed + 1)
    for i, c in plan:
        doc = base_docs[i]
        crow = chunks_of.get(doc.doc_id, [])
        srow = sents_of.get(doc.doc_id, [])
        doc_id = doc.doc_id if c == 0 else f"{doc.doc_id}~{c}"
        if c == 0:
            text = doc.text
            new_spans = [(s, e) for _, s, e in (base.sentences[r] for r in srow)]
        else:  # drop words inside each sentence; sentences joined by one space
            pieces, new_spans, pos = [], [], 0
            for r in srow:
                _, s, e = base.sentences[r]
                words = doc.text[s:e].split()
                keep = word_rng.random(len(words)) >= drop
                keep[0] = True
                sent = " ".join(w for w, k in zip(words, keep) if k)
                pieces.append(sent)
                new_spans.append((pos, pos + len(sent)))
                pos += len(sent) + 1
            text = " ".join(pieces)
        new_doc = Document(doc_id=doc_id, text=text, title=doc.title, date=doc.date, source=doc.source,
                           url=doc.url, author=doc.author, path=doc.path)
        documents[doc_id] = new_doc
        doc_hashes[doc_id] = f"synthetic-{doc_id}"
        first_sent = len(sentences)
        for k, (s, e) in enumerate(new_spans):
            sentences.append((doc_id, s, e))
            sentence_hashes.append(f"s{first_sent + k}")
        sent_src.extend(srow)
        sent_copy.extend([c > 0] * len(srow))
        for r in crow:
            bc = base.chunks[r]
            lo, hi = base.chunk_sents[r]
            k_lo = lo - srow[0] if srow else 0
            k_hi = hi - srow[0] if srow else 0
            spans = tuple(new_spans[k_lo:k_hi]) if c else bc.sentences
            start = spans[0][0] if spans else 0
            end = spans[-1][1] if spans else len(text)
            row = len(chunks)
            chunk = Chunk(chunk_id=bc.chunk_id if c == 0 else f"{doc_id}#{bc.ordinal}-s{row}", doc_id=doc_id,
                          ordinal=bc.ordinal, start=start, end=end, text=text[start:end], sentences=spans)
            chunks.append(chunk)
            chunk_sents.append((first_sent + k_lo, first_sent + k_hi))
            chunk_hashes.append(f"c{row}")
            chunk_src.append(r)
            chunk_copy.append(c > 0)
            bm25_tokens.append(tokens(embed_text(new_doc, chunk.text, cfg.embed_title)))
    gc.enable()
    gc.freeze()  # what was built stays; later collections skip it
    _fill(chunk_vectors, base_cv, chunk_src, chunk_copy, noise, rng)
    _fill(sentence_vectors, base_sv, sent_src, sent_copy, noise, rng)
    if isinstance(sentence_vectors, np.memmap):
        sentence_vectors.flush()
    timings["assemble_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    gc.disable()
    bm25 = BM25Index.from_tokens(bm25_tokens)
    del bm25_tokens
    bm25.sentence_terms = incidence((tokens(documents[d].text[s:e]) for d, s, e in sentences), bm25.vocab)
    gc.enable()
    timings["bm25_s"] = time.perf_counter() - t
    data = IndexData(config=cfg, embedder=base.embedder, documents=documents, doc_hashes=doc_hashes,
                     chunks=chunks, chunk_sents=chunk_sents, chunk_hashes=chunk_hashes,
                     chunk_vectors=chunk_vectors, sentences=sentences, sentence_hashes=sentence_hashes,
                     sentence_vectors=sentence_vectors, bm25=bm25, created_at=base.created_at)
    data.index_type = vec.resolve_index_type(cfg.index_type, len(chunks), cfg.ann_threshold)
    if build_faiss:
        t = time.perf_counter()
        data.faiss_index = vec.build_index(chunk_vectors, data.vids, data.index_type, hnsw_m=cfg.hnsw_m,
                                           ef_search=cfg.hnsw_ef_search, nlist=cfg.ivf_nlist,
                                           nprobe=cfg.ivf_nprobe, pq_m=cfg.pq_m, refine=cfg.ivf_refine)
        timings["faiss_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    return data, timings


def synthetic_index(seed_dir: Path, n_chunks: int, folder: Path, *, force: bool = False,
                    **kwargs: Any) -> tuple[Path, dict[str, Any]]:
    """``synthetic_data`` saved with ``rag.store.save`` into ``folder`` (reused when present)."""
    from rag import store

    info_file = folder / "synthetic.json"
    if not force and info_file.is_file():
        try:
            info = json.loads(info_file.read_text())
            store.current_generation(folder)
            if info.get("n_requested") == n_chunks and info.get("seed_dir") == str(seed_dir):
                return folder, info
        except Exception:  # noqa: BLE001 - rebuild
            pass
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    data, timings = synthetic_data(seed_dir, n_chunks, **kwargs)
    t = time.perf_counter()
    with store.write_lock(folder):
        store.save(folder, data)
    timings["save_s"] = time.perf_counter() - t
    info = {"n_requested": n_chunks, "seed_dir": str(seed_dir), "chunks": len(data.chunks),
            "sentences": len(data.sentences), "documents": len(data.documents), "index_type": data.index_type,
            "timings": timings}
    info_file.write_text(json.dumps(info, indent=2))
    return folder, info


def vector_pool(seed_dir: Path, with_sentences: bool = True) -> np.ndarray:
    """The seed index's real chunk vectors (and sentence vectors), one float32 array."""
    from rag import store

    base = store.load(seed_dir, verify=False)
    parts = [np.asarray(base.chunk_vectors, dtype=np.float32)]
    if with_sentences:
        parts.append(np.asarray(base.sentence_vectors, dtype=np.float32))
    return np.ascontiguousarray(np.vstack(parts))


def _grow(pool: np.ndarray, n: int, noise: float, seed: int, block: int, base: Any) -> np.ndarray:
    """The pool itself first, then ``_noisy(base(rng, start, stop))`` block by block up to ``n``."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, pool.shape[1]), dtype=np.float32)
    m = min(n, len(pool))
    out[:m] = pool[:m]
    for start in range(m, n, block):
        stop = min(n, start + block)
        out[start:stop] = _noisy(base(rng, start, stop), noise, rng)
    return out


def grow_vectors(pool: np.ndarray, n: int, noise: float = 0.02, seed: int = 0, block: int = 65_536) -> np.ndarray:
    """``n`` unit vectors: the pool itself first, then noisy renormalised copies of it, cycled."""
    return _grow(pool, n, noise, seed, block, lambda rng, start, stop: pool[np.arange(start, stop) % len(pool)])


def mix_vectors(pool: np.ndarray, n: int, noise: float = 0.02, seed: int = 0, block: int = 65_536) -> np.ndarray:
    """``n`` unit vectors: the pool, then ``normalise(pool[i] + 0.5 * pool[j] + noise)`` for random i, j."""
    def base(rng: np.random.Generator, start: int, stop: int) -> np.ndarray:
        i = rng.integers(0, len(pool), stop - start)
        j = rng.integers(0, len(pool), stop - start)
        return pool[i] + np.float32(0.5) * pool[j]

    return _grow(pool, n, noise, seed, block, base)


def question_vectors(embedder: Any, spec: str, questions: list[Any]) -> np.ndarray:
    """Embeddings of ``questions`` (cached in bench/.cache by embedder and question ids)."""
    import hashlib

    key = hashlib.sha1(("\n".join(q.qid for q in questions) + spec).encode()).hexdigest()[:12]
    path = common.CACHE / f"questions-{key}.npy"
    if path.is_file():
        return np.load(path)
    vectors = np.asarray(embedder.embed([q.text for q in questions]), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def synthetic_folder(n_chunks: int, spec: str) -> Path:
    return common.CACHE / f"synthetic-{'hash' if spec == 'hash' else 'minilm'}-{n_chunks}"


def ensure_index(seed_dir: Path, n_chunks: int, spec: str, force: bool = False) -> tuple[Path, dict[str, Any]]:
    """The saved synthetic index of ``n_chunks`` chunks, built in a subprocess when missing.

    The subprocess's peak RSS is the build's memory figure; it is kept, with the stage
    timings, in ``<folder>/synthetic.json``.
    """
    import subprocess

    folder = synthetic_folder(n_chunks, spec)
    info_file = folder / "synthetic.json"
    if not force and info_file.is_file():
        info = json.loads(info_file.read_text())
        if info.get("n_requested") == n_chunks and info.get("seed_dir") == str(seed_dir) and "peak_rss_bytes" in info:
            return folder, info
    common.log(f"building the synthetic index of {n_chunks:,} chunks in {folder} (subprocess)")
    subprocess.run([sys.executable, __file__, "build", str(seed_dir), str(n_chunks), str(folder)], check=True)
    return folder, json.loads(info_file.read_text())


def _build_child(seed_dir: str, n_chunks: str, folder: str) -> None:
    from rag import store

    start_rss = common.rss_bytes()
    path, info = synthetic_index(Path(seed_dir), int(n_chunks), Path(folder), force=True,
                                 sentence_file=Path(folder) / "sentence_vectors.tmp.npy")
    (Path(folder) / "sentence_vectors.tmp.npy").unlink(missing_ok=True)
    info["peak_rss_bytes"] = common.peak_rss_bytes()
    info["start_rss_bytes"] = start_rss
    gen = store.current_generation(path)
    info["files_bytes"] = {p.name: p.stat().st_size for p in sorted(gen.iterdir())}
    (path / "synthetic.json").write_text(json.dumps(info, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "build":
        _build_child(*sys.argv[2:])
    else:
        raise SystemExit("usage: synth.py build SEED_DIR N_CHUNKS FOLDER")
