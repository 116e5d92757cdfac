"""A real `assistant serve` for the operator's scripts (chaos, fuzz, load): a free port, the server started and
waited for, and its resident memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120  # a cold start imports gradio and opens the index: seconds, more on a loaded machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(index_dir: Path, port: int, log: Path, env: dict | None = None) -> subprocess.Popen:
    """`assistant serve` on `index_dir` at 127.0.0.1:`port`, its output in `log`, once /healthz answers 200 (the
    script stops with the log's tail if it never does)."""
    proc = subprocess.Popen([sys.executable, "-m", "assistant.app.cli", "serve", "--index-dir", str(index_dir), "--port",
                             str(port)], cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"the server did not start: {log.read_text(errors='replace')[-2000:]}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
