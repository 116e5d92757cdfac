"""A load test with locust (`make load`): USERS users ask the seeds' gold questions against a real `assistant serve`
for DURATION seconds, all starting at once; polite clients, told 503, wait the Retry-After and ask again. Reports
the statuses, the answered replies' p50/p95, errors other than 503, and the server's RSS before, right after and a
minute after (RSS "before" is read once every question has been asked one at a time, so that it counts the
models and indexes a first question loads). Writes evals/reports/load_test.{json,md}.

    python scripts/load_test.py [--index INDEX_DIR] [--users 200] [--duration 60] [--settle 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REPORTS = ROOT / "evals" / "reports"

sys.path.insert(0, str(ROOT / "scripts"))
from served import free_port, rss_mb, serve  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="a built index (default: the seeds, ingested and embedded here)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--settle", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=REPORTS / "load_test.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="load-"))
    try:
        index = args.index
        if index is None:
            index = work / "seeds"
            for step in (["ingest", str(ROOT / "seeds")], ["embed"]):
                subprocess.run([sys.executable, "-m", "assistant.app.cli", *step, "--index-dir", str(index)], cwd=ROOT,
                               check=True, capture_output=True)
        gold = [json.loads(line) for line in (ROOT / "evals" / "seeds_gold.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
        questions = [g["question"] for g in gold if not g.get("history")]
        port = free_port()
        log = work / "server.log"
        server = serve(index, port, log)
        import httpx

        url = f"http://127.0.0.1:{port}"
        for question in questions:  # a server that has answered before: its models and indexes are loaded
            httpx.post(f"{url}/v1/ask", json={"question": question}, timeout=120)
        rss_before = rss_mb(server.pid)
        results = work / "replies.json"
        locust = shutil.which("locust", path=str(Path(sys.executable).parent)) or "locust"
        started = time.perf_counter()
        done = subprocess.run([locust, "-f", str(ROOT / "scripts" / "load" / "locustfile.py"), "--headless", "--host", url,
                               "-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s", "--only-summary",
                               "--stop-timeout", "30"],
                              cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "LOAD_RESULTS": str(results),
                                   "LOAD_QUESTIONS": json.dumps(questions, ensure_ascii=False)})
        wall = time.perf_counter() - started
        rss_after = rss_mb(server.pid)
        time.sleep(args.settle)
        rss_settled = rss_mb(server.pid)
        server.terminate()
        server.wait(timeout=30)
        replies = json.loads(results.read_text()) if results.exists() else []
        tracebacks = log.read_text(encoding="utf-8", errors="replace").count("Traceback")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    statuses = Counter(status for status, _ in replies)
    answered = sorted(ms for status, ms in replies if status == 200)
    q = statistics.quantiles(answered, n=20) if len(answered) >= 20 else [0] * 19
    result = {
        "users": args.users, "duration_s": args.duration, "wall_s": round(wall, 1), "replies": len(replies),
        "statuses": dict(sorted(statuses.items())), "errors": sum(n for s, n in statuses.items() if s not in (200, 503)),
        "answered_per_s": round(len(answered) / args.duration, 1),
        "answered_p50_ms": round(statistics.median(answered), 1) if answered else None, "answered_p95_ms": round(q[18], 1),
        "rss_mb": [round(rss_before), round(rss_after), round(rss_settled)], "tracebacks_in_log": tracebacks,
        "locust_exit": done.returncode, "locust_tail": done.stderr[-1500:],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    table = "\n".join([
        f"# Load test: {args.users} locust users for {args.duration} s on the seeds ({time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores)",
        "",
        "| replies | statuses | errors other than 503 | answered a second | answered p50 / p95 | RSS before / right after / "
        f"{args.settle:.0f} s after | tracebacks |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {len(replies):,} | {', '.join(f'{s}: {n:,}' for s, n in result['statuses'].items())} | {result['errors']} | "
        f"{result['answered_per_s']} | {result['answered_p50_ms']} / {result['answered_p95_ms']} ms | "
        f"{' / '.join(str(x) for x in result['rss_mb'])} MB | {tracebacks} |",
    ])
    args.out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
