"""Shared fixtures: every test gets its own index dir; the seeds index is built once per session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
GOLD = ROOT / "evals" / "seeds_gold.jsonl"
PAGE_000 = SEEDS / "000_b6794b346518e693.txt"
PAGE_001 = SEEDS / "001_86313f0a6bb92235.txt"

# The fast lane (`make test-fast`): the unit and rule tests. A test is slow, and left to `make test` and CI, when it
# builds or serves an index (these fixtures), or when its module drives whole processes: servers, browsers, the CLI,
# other processes' crashes, the e5 model, the packaged install.
SLOW_FIXTURES = {"seeds_index", "seeds_assistant", "seeds_copy", "browser", "api", "server", "chroma_server"}
SLOW_MODULES = {
    "test_baseline", "test_chroma_server", "test_cli", "test_embedding_e5", "test_embeddings_endpoint", "test_eval",
    "test_hostile", "test_http_api", "test_ingest", "test_llm", "test_offline", "test_packaging", "test_retrieval", "test_robustness",
    "test_ui",
}


def pytest_collection_modifyitems(items):
    for item in items:
        module = item.module.__name__.rpartition(".")[2]
        if module in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _isolated_index(tmp_path, monkeypatch):
    """No test touches ./index: ASSISTANT_INDEX_DIR points at a fresh temp dir."""
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "index"))
    # A developer's own LLM settings must not leak into tests: offline unless a test configures a server.
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "ASSISTANT_LLM_", "ASSISTANT_EMBEDDING")) or name == "ASSISTANT_ANSWERER":
            monkeypatch.delenv(name, raising=False)
    from assistant.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory) -> Path:
    """An index of seeds/ with its e5 vectors (as `make run` leaves it a few seconds after start), built once and shared
    read-only."""
    from assistant import Assistant

    index_dir = tmp_path_factory.mktemp("seeds") / "index"
    assistant = Assistant(index_dir=index_dir)
    report = assistant.ingest(SEEDS)
    assert len(report.added) == 2 and report.vectors_pending == assistant.status().chunks
    assert assistant.embed_pending() == report.vectors_pending
    assistant.close()
    return index_dir


@pytest.fixture(scope="session")
def seeds_assistant(seeds_index):
    from assistant import Assistant

    assistant = Assistant(index_dir=seeds_index)
    yield assistant
    assistant.close()


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    """A writable copy of seeds/ for tests that change files."""
    dst = tmp_path / "seeds"
    shutil.copytree(SEEDS, dst)
    return dst


def load_gold(path: Path = GOLD) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed `assistant` entry point as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "assistant.app.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(cwd or ROOT),
        timeout=timeout,
    )
