"""Vector writes to an embedded Chroma store run in a child process with a deadline: a write that never finishes
holds up neither the questions nor the process, and a write that failed leaves the store marked until it is checked
and made whole again, with no step by hand."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from assistant.errors import StoreUnavailable
from assistant.ingest.pipeline import ingest
from assistant.settings import Settings
from assistant.store.index import REPAIR_MARK, VECTORS_DIRTY, Index
from assistant.store.vectorstore import REOPEN_AFTER_WRITE_S, LocalChromaStore

from .conftest import SEEDS

pytestmark = pytest.mark.slow


def _vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _stuck(store: LocalChromaStore, deadline_s: float) -> int:
    """Freeze the store's writer child (as a write looping in chromadb would be) and shorten its deadline."""
    store._writer.timeout_s = deadline_s
    pid = store._writer._proc.pid
    os.kill(pid, signal.SIGSTOP)
    return pid


def test_a_write_that_never_finishes_is_stopped_at_its_deadline_while_questions_go_on(tmp_path):
    store = LocalChromaStore(tmp_path / "chroma", "chunks_test")
    try:
        store.upsert([f"a{i}" for i in range(50)], _vectors(50, 1), [{"doc_id": "d"}] * 50)
        pid = _stuck(store, deadline_s=3)
        answered, stop = [], threading.Event()

        def ask():
            while not stop.is_set():
                answered.append(store.query(_vectors(1, 7)[0], 3))

        reader = threading.Thread(target=ask)
        reader.start()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="向量库写入"):
            store.upsert(["b"], _vectors(1, 2), [{"doc_id": "d"}])
        waited = time.monotonic() - started
        stop.set()
        reader.join()
        assert len(answered) > 10 and all(len(found) == 3 for found in answered)  # questions were answered meanwhile
        assert waited < 30
        with pytest.raises(ProcessLookupError):  # the stuck child is gone
            os.kill(pid, 0)
        store.upsert(["c"], _vectors(1, 3), [{"doc_id": "d"}])  # a new child takes the next write
        assert {"a0", "a49", "c"} <= store.ids()
        deadline = time.monotonic() + 3 * REOPEN_AFTER_WRITE_S  # a question sees what the child wrote within seconds
        while store.query(_vectors(1, 3)[0], 1)[0][0] != "c" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert store.query(_vectors(1, 3)[0], 1)[0][0] == "c"
    finally:
        store.close()


def test_a_failed_vector_write_leaves_the_index_marked_and_the_next_open_makes_it_whole(tmp_path):
    settings = Settings(embedding="e5")
    index = Index.open(settings, tmp_path / "index", create=True)
    ingest(index, [SEEDS / "000_b6794b346518e693.txt"])
    index.embed_pending()
    assert index.pending_count() == 0
    ingest(index, [SEEDS / "001_86313f0a6bb92235.txt"])  # its vectors are pending
    store = index.vectors._store
    _stuck(store, deadline_s=2)
    with pytest.raises(StoreUnavailable):
        index.embed_pending()
    assert (index.dir / VECTORS_DIRTY).exists() and (index.dir / REPAIR_MARK).exists()  # not whole: still marked
    index.close()

    again = Index.open(settings, tmp_path / "index")  # a restart: nobody touches the folder by hand
    assert again.needs_repair()
    again.embed_pending()
    status = again.status()
    assert status.documents == 2 and status.vectors == status.chunks and status.vectors_pending == 0
    assert not (again.dir / VECTORS_DIRTY).exists()
    ingest(again, [SEEDS])  # the next ingest reconciles, and clears the mark
    assert not again.needs_repair()
    assert again.status().vectors == status.chunks
    again.close()
