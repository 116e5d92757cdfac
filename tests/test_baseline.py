"""The stock llama-index baseline over the seeds: finds the answer passage, in long chunks, offline, with no LLM."""

import json
import subprocess
import sys
import textwrap

import pytest

from .conftest import SEEDS
from .test_offline import offline_env

QUESTION = "沁水县2024年处罚金额多少？"


def _seed_documents():
    from assistant.ingest.loading import SourceDocument, discover, read_file

    files, _ = discover([SEEDS])
    return [d for f in files for d in read_file(f) if isinstance(d, SourceDocument)]


@pytest.fixture(scope="module")
def baseline():
    from assistant.eval.baseline import llamaindex_baseline
    from assistant.store.embedding import E5Embedder

    return llamaindex_baseline(_seed_documents(), E5Embedder())


def test_baseline_finds_the_penalty_passage_in_top_5(baseline):
    hits = baseline.retrieve(QUESTION)
    assert len(hits) == 5
    assert any("394.179" in h["text"] for h in hits), [h["text"][:40] for h in hits]
    assert set(hits[0]) == {"doc_id", "title", "text", "score"}
    assert all(h["doc_id"] in {"000_b6794b346518e693.txt", "001_86313f0a6bb92235.txt"} for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_k_can_be_chosen_per_question(baseline):
    assert len(baseline.retrieve(QUESTION, k=2)) == 2
    assert baseline.retrieve(QUESTION, k=2) == baseline.retrieve(QUESTION)[:2]


def test_stock_chunks_are_much_longer_than_ours(baseline):
    # Our chunks are ~150-300 characters; the stock SentenceSplitter packs up to 1024 tokens.
    hits = baseline.retrieve(QUESTION)
    assert sum(len(h["text"]) for h in hits) / len(hits) > 400
    nodes = baseline.nodes
    assert sum(len(n.get_content()) for n in nodes) / len(nodes) > 400


def test_no_default_llm_or_embedding_is_resolved(baseline):
    from llama_index.core import Settings

    baseline.retrieve(QUESTION)
    # Private fields: the public properties would construct the OpenAI defaults on access.
    assert Settings._llm is None
    assert Settings._embed_model is None


BUILD_AND_RETRIEVE = textwrap.dedent(
    """
    import json
    from pathlib import Path
    from assistant.eval.baseline import llamaindex_baseline
    from assistant.store.embedding import E5Embedder
    from assistant.ingest.loading import SourceDocument, discover, read_file

    files, _ = discover([Path(%r)])
    docs = [d for f in files for d in read_file(f) if isinstance(d, SourceDocument)]
    hits = llamaindex_baseline(docs, E5Embedder()).retrieve(%r)
    print(json.dumps([h["text"] for h in hits], ensure_ascii=False))
    """
)


@pytest.mark.parametrize("isolation", ["socket-guard", "unshare-n"])
def test_baseline_runs_with_no_network(tmp_path, isolation):
    env, prefix, log = offline_env(tmp_path, isolation)
    run = subprocess.run(
        [*prefix, sys.executable, "-c", BUILD_AND_RETRIEVE % (str(SEEDS), QUESTION)],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert any("394.179" in text for text in json.loads(run.stdout))
    assert log.read_text() == "", f"network was attempted: {log.read_text()}"
