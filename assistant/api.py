"""The Python API: Assistant(index_dir=...).ingest / .ask / .retrieve / .status; the CLI and UI sit on top."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .answer import ExtractiveAnswerer
from .questions import QuestionAnswerer
from .index import Index, IndexMissing, IngestReport
from .retrieval import Mode, Passage, Retriever
from .settings import Settings, get_settings


class QuestionError(ValueError):
    """The question itself is unusable (empty, too long); the message is one sentence for the user."""


@dataclass
class Answer:
    """What the assistant says, and the passages that prove it."""

    question: str
    answer: str
    answered: bool
    citations: list[Passage] = field(default_factory=list)
    backend: str = "extractive"
    latency_ms: float = 0.0
    evidence: str = ""  # the sentence the short answer was taken from
    warnings: list[str] = field(default_factory=list)
    standalone: str = ""  # the question as answered (follow-ups condensed, normalized)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "standalone_question": self.standalone,
            "answer": self.answer,
            "answered": self.answered,
            "evidence": self.evidence,
            "citations": [
                {k: c.to_dict()[k] for k in ("source", "title", "text", "doc_id", "chunk_id", "score")}
                for c in self.citations
            ],
            "backend": self.backend,
            "warnings": self.warnings,
            "latency_ms": round(self.latency_ms, 1),
        }


class Assistant:
    """Question answering over an index directory. Cheap to create; the index opens on first use."""

    def __init__(self, index_dir: str | Path | None = None, settings: Settings | None = None):
        base = settings or get_settings()
        if index_dir is not None:
            base = base.model_copy(update={"index_dir": Path(index_dir)})
        self.settings = base
        self._index: Index | None = None
        self._articles: dict[tuple[str, int], dict] = {}
        self._articles_generation = -1

    # --- plumbing ------------------------------------------------------------------------

    @property
    def index_dir(self) -> Path:
        return Path(self.settings.index_dir)

    def _open(self, create: bool = False) -> Index:
        if self._index is None:
            self._index = Index.open(self.settings, self.index_dir, create=create)
        return self._index

    def _article(self, passage: Passage) -> tuple[str, str, str | None, int]:
        index = self._open()
        if index.generation != self._articles_generation:
            self._articles.clear()
            self._articles_generation = index.generation
        key = (passage.doc_id, passage.article)
        if key not in self._articles:
            self._articles[key] = index.article(*key) or {"title": passage.title, "byline": None, "start": passage.start, "text": passage.text}
        art = self._articles[key]
        return art["title"], art["text"], art["byline"], passage.start - art["start"]

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    # --- public API ----------------------------------------------------------------------

    def ingest(self, *paths: str | Path, progress=None) -> IngestReport:
        return self._open(create=True).ingest([Path(p) for p in paths], progress=progress)

    def status(self) -> dict:
        return self._open().status()

    def documents(self) -> list[dict]:
        return self._open().documents()

    def delete(self, doc_id: str) -> bool:
        return self._open().delete_document(doc_id)

    def _check(self, question: str) -> str:
        if question is None or not str(question).strip():
            raise QuestionError("问题不能为空。")
        question = str(question).strip()
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(f"问题过长（{len(question)} 字），上限为 {self.settings.max_question_chars} 字。")
        return question

    def retrieve(self, question: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        """The ranked passages for a question, for people who bring their own LLM."""
        question = self._check(question)
        retriever = Retriever(
            self._open(), self.settings.candidates, self.settings.rrf_k, self.settings.effective_dense_weight
        )
        return retriever.retrieve(question, k or self.settings.top_k, mode)

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        """Answer a question; `history` holds earlier questions of the conversation, oldest first."""
        started = time.perf_counter()
        question = self._check(question)
        if self._open().is_empty():
            raise IndexMissing(str(self.index_dir))
        answerer = QuestionAnswerer(
            ExtractiveAnswerer(self._article), lambda q: self.retrieve(q, max(self.settings.top_k, 8))
        )
        composite = answerer.answer(question, history)
        result = composite.result
        return Answer(
            question=question,
            answer=result.answer,
            answered=result.answered,
            citations=result.passages,
            backend="extractive",
            latency_ms=(time.perf_counter() - started) * 1000,
            evidence=result.sentence,
            warnings=result.warnings,
            standalone=composite.standalone,
        )

    def source_documents(self) -> list:
        """The ingested documents re-read from their source files (for the llama-index baseline)."""
        from .loading import SourceDocument, read_file

        index = self._open()
        wanted = {d["doc_id"]: d for d in index.documents()}
        docs: dict[str, SourceDocument] = {}
        for source in sorted({d["source"] for d in wanted.values()}):
            path = Path(source)
            if path.exists():
                for item in read_file(path):
                    if isinstance(item, SourceDocument) and item.doc_id in wanted:
                        docs[item.doc_id] = item
        for doc_id, d in wanted.items():  # a source file that moved: fall back to the normalized text
            if doc_id not in docs:
                text = index.db.execute("SELECT text FROM documents WHERE doc_id=?", (doc_id,)).fetchone()[0]
                docs[doc_id] = SourceDocument(doc_id=doc_id, source=d["source"], text=text, title=d["title"])
        return list(docs.values())

    def evaluate(
        self,
        gold: str | Path,
        results: str | Path | None = None,
        report: str | Path | None = None,
        baseline: bool = False,
        progress=None,
    ):
        """Run a gold set; optionally write per-item results (.jsonl), a report (.md + .html), and the baseline."""
        from .evaluation import evaluate_baseline, load_gold, run_eval
        from .report import write_reports

        load_gold(gold)  # a malformed gold file is reported before anything else
        if self._open().is_empty():
            raise IndexMissing(str(self.index_dir))
        run = run_eval(self, gold, results, progress=progress)
        if baseline and not run.partial:
            run.baseline = evaluate_baseline(self.source_documents(), self._open().embedder, load_gold(gold))
        if report:
            write_reports(run, report)
        return run

    def chat(self, messages: list[dict]) -> Answer:
        """Answer the last user message of an OpenAI-style message list, with the earlier ones as context."""
        users = [m["content"] for m in messages if m.get("role") == "user" and str(m.get("content", "")).strip()]
        if not users:
            raise QuestionError("对话中没有用户问题。")
        return self.ask(users[-1], history=users[:-1])
