"""Opens a Chroma store in a child process and reads it (count, one stored vector, one query): the parent learns
whether the store is whole without risking its own life on a torn segment (chromadb can crash the process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE_TIMEOUT_S = 300  # a whole store loads in seconds; a torn one may hang instead of crashing


def store_is_whole(chroma_dir: Path, collection: str) -> bool:
    """True if a child process can open, count and query the collection (or the store holds no such collection)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "assistant.store.probe", str(chroma_dir), collection],
            capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def _probe(chroma_dir: str, collection: str) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=chroma_dir, settings=ChromaSettings(anonymized_telemetry=False))
    if collection not in [c.name for c in client.list_collections()]:
        return
    store = client.get_collection(collection, embedding_function=None)
    if store.count():
        first = store.get(limit=1, include=["embeddings"])["embeddings"][0]
        store.query(query_embeddings=[list(first)], n_results=1, include=["distances"])


if __name__ == "__main__":
    _probe(sys.argv[1], sys.argv[2])
