"""The OpenAI-compatible embeddings backend, against a real local HTTP server."""

import json

from assistant import Assistant
from assistant.settings import Settings

from .conftest import SEEDS, run_cli
from .fake_openai import FakeOpenAI


def test_openai_embeddings_are_used_for_ingest_and_questions(tmp_path):
    with FakeOpenAI() as server:
        settings = Settings(
            index_dir=tmp_path / "idx", embedding="openai", embedding_base_url=server.base_url,
            embedding_api_key="sk-test-secret", embedding_model="bge-m3",
        )
        a = Assistant(settings=settings)
        a.ingest(SEEDS)
        calls = len(server.requests)
        assert calls >= 1
        assert all(r["path"] == "/v1/embeddings" and r["json"]["model"] == "bge-m3" for r in server.requests)
        assert server.requests[0]["headers"]["Authorization"] == "Bearer sk-test-secret"
        passages = a.retrieve("沁水县处罚金额", k=3, mode="dense")
        assert len(server.requests) == calls + 1  # the question was embedded by the server
        assert passages and "沁水" in passages[0].heading
        assert a.ask("沁水县2024年处罚金额多少？").answer == "394.179万元"
        status = a.status()
        assert status.embedding == "openai-bge-m3"
        assert "sk-test-secret" not in json.dumps(status.to_dict())


def test_an_unreachable_embeddings_server_is_one_clear_error(tmp_path):
    with FakeOpenAI() as server:
        url = server.base_url
    # The server is gone: nothing listens on that port any more.
    proc = run_cli(
        "ingest", str(SEEDS), "--index-dir", str(tmp_path / "idx"),
        env={"ASSISTANT_EMBEDDING": "openai", "ASSISTANT_EMBEDDING_BASE_URL": url, "ASSISTANT_EMBEDDING_API_KEY": "sk-x"},
    )
    assert proc.returncode == 1
    assert "嵌入服务" in proc.stderr and "Traceback" not in proc.stderr
    assert "sk-x" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
