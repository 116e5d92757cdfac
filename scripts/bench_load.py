"""A flood of questions against a real `assistant serve`: N asks sent at once, their statuses (200, or 503 with
Retry-After when more than app/gate.MAX_ASKS_IN_FLIGHT are in the server), latency p50/p95 of the answered ones, and
the server's RSS before, right after and a minute after.

    python scripts/bench_load.py --index INDEX_DIR [--asks 200] [--settle 60]

Writes evals/reports/bench_load.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from served import free_port, rss_mb, serve  # noqa: E402

REPORTS = ROOT / "evals" / "reports"
QUESTION = "沁水县2024年处罚金额多少？"


async def _flood(url: str, n: int) -> list[tuple[int, float]]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        async def one():
            started = time.perf_counter()
            r = await client.post(f"{url}/v1/ask", json={"question": QUESTION})
            return r.status_code, (time.perf_counter() - started) * 1000
        return await asyncio.gather(*(one() for _ in range(n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--asks", type=int, default=200)
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to wait before the last RSS reading")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as work:  # the server's log, gone with the run
        proc = serve(Path(args.index), port, Path(work) / "server.log")
        url = f"http://127.0.0.1:{port}"
        try:
            httpx.post(f"{url}/v1/ask", json={"question": QUESTION}, timeout=120)  # the first question loads the models
            before = rss_mb(proc.pid)
            started = time.perf_counter()
            replies = asyncio.run(_flood(url, args.asks))
            wall = time.perf_counter() - started
            after = rss_mb(proc.pid)
            time.sleep(args.settle)
            settled = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    answered = sorted(ms for status, ms in replies if status == 200)
    statuses = {str(s): sum(1 for status, _ in replies if status == s) for s in sorted({s for s, _ in replies})}
    row = {"asks": args.asks, "statuses": statuses, "wall_s": round(wall, 2),
           "p50_ms": round(statistics.median(answered), 1) if answered else None,
           "p95_ms": round(answered[int(0.95 * (len(answered) - 1))], 1) if answered else None,
           "rss_before_mb": round(before), "rss_after_mb": round(after), "rss_settled_mb": round(settled),
           "settle_s": args.settle, "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "bench_load.json").write_text(json.dumps(row, indent=1))
    md = (f"# {args.asks} questions at once ({row['date']}, {row['cpus']} cores)\n\n"
          "| statuses | answered p50 / p95 | all answered after | RSS before / right after / a minute after |\n"
          "| --- | --- | --- | --- |\n"
          f"| {', '.join(f'{k}: {v}' for k, v in statuses.items())} | {row['p50_ms']} / {row['p95_ms']} ms | "
          f"{row['wall_s']} s | {row['rss_before_mb']} / {row['rss_after_mb']} / {row['rss_settled_mb']} MB |\n")
    (REPORTS / "bench_load.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
