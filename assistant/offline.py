"""Process-wide switches that keep the assistant offline: local tiktoken encodings, no telemetry, no hub downloads."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def _llama_index_tiktoken_cache() -> str | None:
    """Where llama-index-core ships the cl100k/o200k encodings, found without importing llama-index."""
    try:  # a dotted name imports its parent: with no llama_index at all, find_spec raises instead of returning None
        spec = importlib.util.find_spec("llama_index.core")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    cache = Path(list(spec.submodule_search_locations)[0]) / "_static" / "tiktoken_cache"
    return str(cache) if cache.is_dir() else None


def configure() -> None:
    """Set the environment before any library that might reach the network is imported."""
    cache = _llama_index_tiktoken_cache()
    if cache and "TIKTOKEN_CACHE_DIR" not in os.environ:
        os.environ["TIKTOKEN_CACHE_DIR"] = cache
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb (posthog)
    os.environ.setdefault("CHROMA_TELEMETRY", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
