"""Benchmarks for the closing notes: cold CLI ask, warm ask latency, ingestion throughput, retrieval hit@k.

Usage: python scripts/bench.py [--gold evals/seeds_gold.jsonl] [--corpus ../shared/data/cmrc2018/cmrc_dev_corpus.jsonl]
Writes evals/reports/bench.json (untracked) after every step and prints a summary; a step that fails or lacks its
data is named and skipped, the others still run. Timings are wall-clock on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant.eval.evaluation import GoldItem, load_gold, passage_hit, percentile  # noqa: E402


MODES = ("hybrid", "passages", "articles", "bm25", "dense")  # ours, then each signal alone
UI_ANSWER_TIMEOUT_MS = 120_000  # one answer rendered in Chromium; a slower one is counted as timed out, not fatal


def retrieval_hits(assistant: Assistant, items: list[GoldItem], mode: str) -> dict:
    """hit@1, hit@5 and MRR@5 with the evaluation's hit rule: the gold evidence, the answer in the gold
    document, or (for document-level gold such as CMRC) any passage of the gold document."""
    items = [g for g in items if g.answerable]
    hit1 = hit5 = distinct = 0
    rr = 0.0
    for item in items:
        passages = assistant.retrieve(item.question, k=5, mode=mode)
        ranks = [i for i, p in enumerate(passages, start=1) if passage_hit(p.title, p.text, p.doc_id, item)]
        hit1 += bool(ranks and ranks[0] == 1)
        hit5 += bool(ranks)
        rr += 1.0 / ranks[0] if ranks else 0.0
        distinct += len({(p.doc_id, p.article) for p in passages})
    n = len(items)
    return {"n": n, "hit@1": hit1 / n, "hit@5": hit5 / n, "mrr@5": rr / n, "articles@5": distinct / n}


def llm_overhead(index_dir: Path, gold: list[dict], repeats: int) -> dict:
    """What our pipeline adds before the first LLM token (retrieval + prompt build), against a local
    OpenAI-compatible server that streams at once (tests/fake_openai.py)."""
    sys.path.insert(0, str(ROOT))
    from assistant.settings import Settings
    from tests.fake_openai import FakeOpenAI

    ours, first = [], []
    with FakeOpenAI(script=[{"content": "资料中未提及。"}]) as server:
        a = Assistant(settings=Settings(index_dir=index_dir, llm_base_url=server.base_url, llm_api_key="x"))
        list(a.stream(gold[0].question))  # warm-up
        for _ in range(repeats):
            for item in gold:
                final = list(a.stream(item.question))[-1]
                t = final.timings
                ours.append(t["retrieval_ms"] + t["prompt_ms"] + t.get("condense_ms", 0.0))
                if t.get("first_token_ms") is not None:
                    first.append(t["first_token_ms"])
        a.close()
    return {
        "n": len(ours),
        "pipeline_p50": percentile(ours, 50), "pipeline_p95": percentile(ours, 95),
        "first_token_p50": percentile(first, 50), "first_token_p95": percentile(first, 95),
    }


def cold_cli(index_dir: Path, question: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "assistant.app.cli", "ask", question, "--json", "--index-dir", str(index_dir)],
            capture_output=True, text=True, cwd=str(ROOT),
        )
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"cold ask failed: {proc.stderr.strip()}")
    return times


def ui_latency(index_dir: Path, gold: list, n: int) -> dict | None:
    """`assistant serve`: seconds until the page answers, then in Chromium the time from clicking 提问 to the
    rendered answer, and the gradio_client /ask round trip. None when Debian's chromium is not installed."""
    import socket
    import urllib.request

    if not Path("/usr/bin/chromium").exists():
        return None
    from gradio_client import Client
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "assistant.app.cli", "serve", "--port", str(port), "--index-dir",
                             str(index_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT))
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        startup = time.perf_counter() - started
        questions = [g.question for g in gold if not g.history][:n]
        clicks = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run"])
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#question textarea")
            slow = 0
            bots = "#chatbot [data-testid='bot']"
            for q in questions:
                # The next question goes in only once the last one is done (its last update clears the box), and
                # the wait is for one more answer than are shown, so one lost question does not fail the rest.
                shown = page.locator(bots).count()
                page.fill("#question textarea", q)
                page.wait_for_function("q => document.querySelector('#question textarea').value === q", arg=q)
                t0 = time.perf_counter()
                page.click("#send")
                try:
                    page.wait_for_function(
                        "([sel, n]) => { const b = document.querySelectorAll(sel);"
                        " const t = b.length >= n ? b[n-1].innerText.trim() : '';"
                        " return t.length > 1 && !t.startsWith('…'); }", arg=[bots, shown + 1],
                        timeout=UI_ANSWER_TIMEOUT_MS)
                except PlaywrightTimeout:  # counted, not fatal: one slow answer must not lose the other figures
                    slow += 1
                    continue
                clicks.append((time.perf_counter() - t0) * 1000)
                page.wait_for_function(  # the event has finished: the status tracker is hidden again
                    "() => { const s = document.querySelector(\"#chatbot [data-testid='status-tracker']\");"
                    " return !s || s.classList.contains('hide'); }", timeout=UI_ANSWER_TIMEOUT_MS)
            browser.close()
        client = Client(url, verbose=False)
        calls = []
        for q in questions:
            t0 = time.perf_counter()
            client.predict(q, [], api_name="/ask")
            calls.append((time.perf_counter() - t0) * 1000)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "startup_s": startup,
        "browser_answer_ms": {"n": len(clicks), "p50": percentile(clicks, 50), "p95": percentile(clicks, 95),
                              "timed_out": slow},
        "gradio_client_ask_ms": {"n": len(calls), "p50": percentile(calls, 50), "p95": percentile(calls, 95)},
    }


class Steps:
    """The benchmark's steps: each result is written to the report the moment it is known, and a step that fails
    is recorded as one line (the others still run), so a slow or broken step never loses the rest."""

    def __init__(self, out: Path):
        self.out = out
        self.results: dict = {"machine": {"cores": os.cpu_count()}}
        out.parent.mkdir(parents=True, exist_ok=True)

    def run(self, name: str, fn):
        print(f"[bench] {name} …", file=sys.stderr, flush=True)
        try:
            self.results[name] = fn()
        except Exception as exc:  # noqa: BLE001 - recorded, and the next step runs
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            self.results[name] = {"error": f"{type(exc).__name__}: {first}"}
            print(f"[bench] {name} failed: {self.results[name]['error']}", file=sys.stderr, flush=True)
        self.out.write_text(json.dumps(self.results, ensure_ascii=False, indent=2), encoding="utf-8")
        return self.results[name]

    def skip(self, name: str, why: str) -> None:
        print(f"[bench] {name} skipped: {why}", file=sys.stderr, flush=True)
        self.results[name] = {"skipped": why}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gold", type=Path, default=ROOT / "evals" / "seeds_gold.jsonl")
    ap.add_argument("--seeds", type=Path, default=ROOT / "seeds")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "data" / "cmrc2018" / "cmrc_dev_corpus.jsonl")
    ap.add_argument("--news", type=Path, default=ROOT.parent / "shared" / "data" / "crud_news_dev",
                    help="a folder with corpus.jsonl and questions.jsonl (ingesting crud_news_dev takes ~5 min)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "evals" / "reports" / "bench.json",
                    help="the report, rewritten after every step (not tracked by git: it changes on every run)")
    args = ap.parse_args()

    gold = load_gold(args.gold)
    steps = Steps(args.out)
    results = steps.results
    with tempfile.TemporaryDirectory() as tmp:
        seeds_index = Path(tmp) / "seeds-index"
        assistant = Assistant(index_dir=seeds_index)
        steps.run("seeds_ingest_s", lambda: assistant.ingest(args.seeds).seconds)

        def embed() -> float:
            started = time.perf_counter()
            assistant.embed_pending()  # what `make run` leaves a few seconds after it starts: questions use the vectors
            return time.perf_counter() - started

        steps.run("seeds_embed_s", embed)

        def cold() -> dict:
            times = cold_cli(seeds_index, gold[0].question, args.repeats)
            return {"median": statistics.median(times), "min": min(times), "max": max(times)}

        steps.run("cold_cli_ask_s", cold)

        def warm() -> dict:
            assistant.ask(gold[0].question)  # warm-up: loads jieba, Chroma, BM25
            latencies = []
            for _ in range(args.repeats):
                for item in gold:
                    started = time.perf_counter()
                    assistant.ask(item.question)
                    latencies.append((time.perf_counter() - started) * 1000)
            return {"n": len(latencies), "p50": percentile(latencies, 50), "p95": percentile(latencies, 95)}

        steps.run("warm_ask_ms", warm)
        steps.run("retrieval", lambda: {mode: retrieval_hits(assistant, gold, mode) for mode in MODES})
        assistant.close()
        steps.run("llm_overhead_ms", lambda: llm_overhead(seeds_index, gold, args.repeats))
        steps.run("ui", lambda: ui_latency(seeds_index, gold, 30))

        if args.corpus.exists():
            def corpus() -> dict:
                big = Assistant(index_dir=Path(tmp) / "corpus-index")
                rep = big.ingest(args.corpus)
                big.embed_pending()  # about 5 minutes: the dense ranking is one of the modes compared
                size_mb = args.corpus.stat().st_size / 1e6
                out = {"file": args.corpus.name, "mb": size_mb, "seconds": rep.seconds, "mb_per_s": size_mb / rep.seconds,
                       "documents": len(rep.added), "chunks": big.status().chunks}
                questions = args.corpus.with_name("cmrc_dev_open.jsonl")
                if questions.exists():
                    cmrc = load_gold(questions)  # context_id is the gold document
                    out["retrieval"] = {m: retrieval_hits(big, cmrc, m) for m in MODES}
                big.close()
                return out

            steps.run("corpus_ingest", corpus)
        else:
            steps.skip("corpus_ingest", f"{args.corpus} is missing (CMRC 2018: ../shared/data is not in the repository)")

        if (args.news / "corpus.jsonl").exists():
            def news_archive() -> dict:
                # A real news archive: retrieval by signal, and warm ask at its size (its e5 vectors would take an hour
                # here: they stay pending, and the dense mode ranks nothing; see bench_scale.py)
                news = Assistant(index_dir=Path(tmp) / "news-index")
                rep = news.ingest(args.news / "corpus.jsonl")
                questions = load_gold(args.news / "questions.jsonl")
                news.ask(questions[0].question)
                lat = []
                for item in questions:
                    started = time.perf_counter()
                    news.ask(item.question)
                    lat.append((time.perf_counter() - started) * 1000)
                out = {"file": str(args.news.name), "documents": len(rep.added), "chunks": news.status().chunks,
                       "ingest_s": rep.seconds,
                       "warm_ask_ms": {"n": len(lat), "p50": percentile(lat, 50), "p95": percentile(lat, 95)},
                       "retrieval": {m: retrieval_hits(news, questions, m) for m in MODES}}
                news.close()
                return out

            steps.run("news", news_archive)
        else:
            steps.skip("news", f"{args.news}/corpus.jsonl is missing (crud_news_dev: ../shared/data is not in the repository)")
    steps.out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print_summary(results, args)


def print_summary(results: dict, args) -> None:
    """What the steps measured; a failed or skipped step is named instead of its figures."""
    def ok(name: str):
        value = results.get(name)
        if isinstance(value, dict) and ("error" in value or "skipped" in value):
            print(f"{name}: {value.get('error') or 'skipped: ' + value['skipped']}")
            return None
        return value

    if c := ok("cold_cli_ask_s"):
        print(f"cold `assistant ask`: median {c['median']:.2f} s (n={args.repeats})")
    if w := ok("warm_ask_ms"):
        print(f"warm Assistant.ask: p50 {w['p50']:.1f} ms, p95 {w['p95']:.1f} ms (n={w['n']})")
    if lo := ok("llm_overhead_ms"):
        print(f"before the first LLM token, our pipeline (retrieval + prompt): p50 {lo['pipeline_p50']:.1f} ms, "
              f"p95 {lo['pipeline_p95']:.1f} ms; first token from a local server: p50 {lo['first_token_p50']:.1f} ms, "
              f"p95 {lo['first_token_p95']:.1f} ms (n={lo['n']})")
    if u := ok("ui"):
        b, g = u["browser_answer_ms"], u["gradio_client_ask_ms"]
        print(f"web UI: serving after {u['startup_s']:.1f} s; click to rendered answer in Chromium p50 {b['p50']:.0f} ms, "
              f"p95 {b['p95']:.0f} ms (n={b['n']}, {b.get('timed_out', 0)} timed out); gradio_client /ask p50 "
              f"{g['p50']:.0f} ms, p95 {g['p95']:.0f} ms")
    if c := ok("corpus_ingest"):
        print(f"ingest {c['file']}: {c['mb']:.2f} MB in {c['seconds']:.1f} s = {c['mb_per_s']:.3f} MB/s "
              f"({c['documents']} docs, {c['chunks']} chunks)")
        for mode, m in c.get("retrieval", {}).items():
            print(f"CMRC dev ({m['n']} questions, document hit) {mode}: hit@1 {m['hit@1']:.3f}, hit@5 {m['hit@5']:.3f}, "
                  f"MRR@5 {m['mrr@5']:.3f}, articles in top 5 {m['articles@5']:.2f}")
    if n := ok("news"):
        print(f"news archive {n['file']} ({n['documents']} docs, {n['chunks']} chunks, ingest {n['ingest_s']:.0f} s): "
              f"warm ask p50 {n['warm_ask_ms']['p50']:.1f} ms, p95 {n['warm_ask_ms']['p95']:.1f} ms")
        for mode, m in n["retrieval"].items():
            print(f"  {mode}: hit@1 {m['hit@1']:.3f}, hit@5 {m['hit@5']:.3f}, MRR@5 {m['mrr@5']:.3f}, "
                  f"articles in top 5 {m['articles@5']:.2f}")
    if r := ok("retrieval"):
        print("| retrieval on " + args.gold.name + " | hit@1 | hit@5 | MRR@5 | articles in top 5 |")
        print("| --- | --- | --- | --- | --- |")
        for mode, m in r.items():
            print(f"| {mode} (n={m['n']}) | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['mrr@5']:.3f} | {m['articles@5']:.2f} |")


if __name__ == "__main__":
    main()
