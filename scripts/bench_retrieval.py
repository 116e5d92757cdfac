"""Retrieval alone, warm, in one run: ours (Assistant.retrieve) against llama-index's BM25Retriever over stock
SentenceSplitter chunks of the same archive: p50 / p95 latency and hit@5 on the archive's gold questions.

    python scripts/bench_retrieval.py --index INDEX_DIR [--news ../shared/data/crud_news_dev]

The index is built from the archive's corpus.jsonl when missing (lexical only, as ASSISTANT_EMBEDDING=none: the
question's dense ranking is measured by bench_scale.py). Writes evals/reports/bench_retrieval.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "evals" / "reports"
WARM_UP = 3  # questions asked before timing: the index, BM25 and the segmenter's dictionary are loaded by then
K = 5


def _quantiles(ms: list[float]) -> tuple[float, float]:
    ordered = sorted(ms)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def ours(index_dir: Path, items) -> dict:
    from assistant import Assistant
    from assistant.eval.evaluation import passage_hit

    assistant = Assistant(index_dir=index_dir)
    for item in items[:WARM_UP]:
        assistant.retrieve(item.question, k=K)
    ms, hits = [], 0
    for item in items:
        started = time.perf_counter()
        passages = assistant.retrieve(item.question, k=K)
        ms.append((time.perf_counter() - started) * 1000)
        hits += any(passage_hit(p.title, p.text, p.doc_id, item) for p in passages)
    p50, p95 = _quantiles(ms)
    return {"p50_ms": p50, "p95_ms": p95, "hit@5": hits / len(items), "embedding": assistant.status().embedding}


# Stock BM25Retriever tokenizes with an English word pattern: a run of Chinese characters between two punctuation marks
# is one token, so a question shares almost no token with a passage. The second row reads each Chinese character as a
# token (its best setting that needs no Chinese segmenter), the rest as before.
CJK_PATTERN = r"(?u)[\u3400-\u9fff]|\b\w\w+\b"


def llama_bm25(corpus: Path, items, token_pattern: str | None = None) -> dict:
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.retrievers.bm25 import BM25Retriever

    from assistant.eval.baseline import to_llama_document
    from assistant.eval.evaluation import passage_hit
    from assistant.ingest.loading import SourceDocument, read_file

    docs = [d for d in read_file(corpus) if isinstance(d, SourceDocument)]
    started = time.perf_counter()
    nodes = SentenceSplitter().get_nodes_from_documents([to_llama_document(d) for d in docs])
    options = {"token_pattern": token_pattern, "skip_stemming": True} if token_pattern else {}
    retriever = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=K, **options)
    build_s = time.perf_counter() - started
    for item in items[:WARM_UP]:
        retriever.retrieve(item.question)
    ms, hits = [], 0
    for item in items:
        started = time.perf_counter()
        found = retriever.retrieve(item.question)
        ms.append((time.perf_counter() - started) * 1000)
        hits += any(passage_hit(h.node.metadata.get("title") or "", h.node.get_content(), h.node.metadata.get("doc_id", ""),
                                item) for h in found)
    p50, p95 = _quantiles(ms)
    return {"p50_ms": p50, "p95_ms": p95, "hit@5": hits / len(items), "nodes": len(nodes), "build_s": build_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--news", default=str(ROOT.parent / "shared" / "data" / "crud_news_dev"),
                        help="a folder with corpus.jsonl and questions.jsonl")
    parser.add_argument("--index", required=True, help="the archive's index (built, lexical only, when missing)")
    args = parser.parse_args()
    news, index_dir = Path(args.news), Path(args.index)
    from assistant.eval.evaluation import load_gold

    items = [i for i in load_gold(news / "questions.jsonl") if i.answerable]
    if not (index_dir / "catalog.sqlite3").exists():
        os.environ["ASSISTANT_EMBEDDING"] = "none"
        from assistant import Assistant

        Assistant(index_dir=index_dir).ingest(news / "corpus.jsonl")
    rows = {"ours": ours(index_dir, items),
            "llama-index BM25Retriever (stock)": llama_bm25(news / "corpus.jsonl", items),
            "llama-index BM25Retriever (one token a Chinese character)": llama_bm25(news / "corpus.jsonl", items, CJK_PATTERN)}
    meta = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "archive": news.name, "questions": len(items), "k": K}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "bench_retrieval.json").write_text(json.dumps({"meta": meta, "rows": rows}, ensure_ascii=False, indent=1))
    lines = [f"# Retrieval alone, warm ({meta['date']}, {meta['cpus']} cores, {news.name}, {len(items)} questions)", "",
             "| retriever | p50 | p95 | hit@5 |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {r['p50_ms']:.2f} ms | {r['p95_ms']:.2f} ms | {r['hit@5']:.3f} |" for name, r in rows.items()]
    (REPORTS / "bench_retrieval.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(json.dumps(rows, ensure_ascii=False), file=sys.stderr)


if __name__ == "__main__":
    main()
