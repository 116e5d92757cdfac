"""The Python API: Assistant(index_dir=...).ingest / .ask / .retrieve / .status; the CLI and UI sit on top."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..answer.script import restore_script
from ..answer.turn import Answer, ReaderView, Turn, public_source, retrieve
from ..errors import IndexMissing, QuestionError
from ..ingest.pipeline import IngestReport, ingest
from ..retrieve.retrieval import Mode, Passage
from ..settings import Settings, get_settings
from ..store.index import Index
from ..store.records import DocumentInfo, IndexStatus, full_heading
from ..text.script import normalize_question, to_simplified

__all__ = ["Answer", "Assistant", "Status", "public_source"]

if TYPE_CHECKING:  # evaluation is imported when asked for: a question need not load it
    from ..eval.evaluation import EvalRun, FactsEvalRun


@dataclass(frozen=True)
class Status(IndexStatus):
    """What `assistant status`, the UI's status line and GET /v1/status show: the index's counts and the backend."""

    backend: str = "extractive"
    llm_base_url: str | None = None  # without credentials
    llm_model: str | None = None


class Assistant:
    """Question answering over an index directory. Cheap to create; the index opens on first use.

    A question's trip is one answer/turn.Turn: checked, condensed and analyzed once against one snapshot of the
    index, then answered by the offline reader or the LLM. This class opens the index and hands it over.
    """

    def __init__(self, index_dir: str | Path | None = None, settings: Settings | None = None):
        base = settings or get_settings()
        if index_dir is not None:
            base = base.model_copy(update={"index_dir": Path(index_dir)})
        self.settings = base
        self._index: Index | None = None
        self._llm_client = None
        self._opening = threading.Lock()

    # --- plumbing ------------------------------------------------------------------------

    @property
    def index_dir(self) -> Path:
        return Path(self.settings.index_dir)

    def _open(self, create: bool = False) -> Index:
        if self._index is None:
            with self._opening:  # the server's background embedder and its requests may open it at once
                if self._index is None:
                    self._index = Index.open(self.settings, self.index_dir, create=create)
        return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> "Assistant":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- public API ----------------------------------------------------------------------

    def ingest(self, *paths: str | Path, progress=None) -> IngestReport:
        return ingest(self._open(create=True), [Path(p) for p in paths], progress=progress)

    def status(self) -> "Status":
        """Index counts and which backend answers (never the API key)."""
        llm = self._llm()
        return Status(**asdict(self._open().status()), backend=self.backend,
                      llm_base_url=re.sub(r"//[^/@]*@", "//", str(llm.client.base_url)) if llm is not None else None,
                      llm_model=self.settings.llm_model if llm is not None else None)

    def degraded(self) -> str | None:
        """Why the index answers with less than it has (server mode: the Chroma server away), or None. Cheap enough
        for a load balancer's every probe: it asks the server at most once a second and counts nothing."""
        index = self._open()
        index.sync()
        return index.degraded

    def documents(self) -> list[DocumentInfo]:
        return self._open().documents()

    def pending_count(self) -> int:
        """Passages waiting for their vectors."""
        return self._open().pending_count()

    def embed_pending(self, progress=None, stop=None, lock=None) -> int:
        """Compute the vectors ingestion left pending (a slow embedder's); returns how many were added."""
        return self._open().embed_pending(progress=progress, stop=stop, lock=lock)

    @property
    def uploads_dir(self) -> Path:
        """Where the server keeps the files users upload (app/uploads.py): part of the index, gone with it."""
        return self.index_dir / "uploads"

    def delete(self, doc_id: str) -> bool:
        """Delete a document; an upload (a file under uploads_dir) goes with its last document."""
        index = self._open()
        source = index.document_source(doc_id)
        deleted = index.delete_document(doc_id)
        if deleted and source and not index.documents_from(source):
            path = Path(source)
            if path.resolve().parent == self.uploads_dir.resolve():
                path.unlink(missing_ok=True)
        return deleted

    def retrieve(self, question: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        """The ranked passages for a question, for people who bring their own LLM."""
        return retrieve(self._open(), self.settings, question, k or self.settings.top_k, mode)

    def _llm(self):
        """The LLM client when the settings call for one, else None (the extractive answerer answers)."""
        from ..llm.client import LLMClient

        mode = self.settings.answerer
        if mode == "extractive" or (mode == "auto" and not self.settings.llm_configured):
            return None
        if self._llm_client is None:
            self._llm_client = LLMClient(self.settings)
        return self._llm_client

    @property
    def backend(self) -> str:
        llm = self._llm()
        return llm.label if llm else "extractive"

    # --- one turn ------------------------------------------------------------------------

    def turn(self, question: str, history: list[str] | None = None, offline: bool = False) -> Turn:
        """A question checked, condensed with `history` (earlier questions, oldest first) and analyzed; answering it
        reads one snapshot of the index. `offline` answers it without the LLM."""
        index = self._open()
        return Turn(self.settings, index, question, history, None if offline else self._llm())

    def reader_view(self) -> ReaderView:
        """A fresh view of the index as the offline reader reads it (one a turn)."""
        return ReaderView(self._open().snapshot(), self.settings)

    def ask_offline(self, question: str) -> Answer:
        """The offline (extractive) answer, whatever LLM is configured: it costs no LLM call (the web UI checks its
        example questions with it at start-up)."""
        return self.turn(question, offline=True).offline()

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        """Answer a question; `history` holds earlier questions of the conversation, oldest first."""
        return self.turn(question, history).answer()

    def stream(self, question: str, history: list[str] | None = None) -> Iterator[str | Answer]:
        """The checked answer's text in pieces, then the final Answer (with citations) as the last item."""
        return self.turn(question, history).stream()

    def facts(self, subject: str | None = None, metric: str | None = None, year: int | None = None,
              limit: int | None = None, offset: int = 0) -> list:
        """The figures extracted from the articles, filtered by subject, metric (substrings) and year, or one page of
        them (`limit` rows from `offset`). Facts are extracted in simplified characters; a fact from a document in
        traditional script quotes it as written."""
        index = self._open()
        facts = index.facts(limit=limit, offset=offset, **self._fact_filters(subject, metric, year))
        written = {p.chunk_id: p for p in index.passages(sorted({f.chunk_id for f in facts if f.chunk_id}))}
        written = {cid: p for cid, p in written.items() if p.text != to_simplified(p.text)}
        for f in facts:
            p = written.get(f.chunk_id)
            if p is not None:
                f.span, f.context = restore_script(f.span, [p]), restore_script(f.context, [p])
                f.title = full_heading(p.title, p.subtitle)
        return facts

    def count_facts(self, subject: str | None = None, metric: str | None = None, year: int | None = None) -> int:
        """How many figures the same filters select (what a page of the facts table is out of)."""
        return self._open().count_facts(**self._fact_filters(subject, metric, year))

    @staticmethod
    def _fact_filters(subject: str | None, metric: str | None, year: int | None) -> dict:
        return {"subject": normalize_question(subject) if subject else None,
                "metric": normalize_question(metric) if metric else None, "year": year}

    def passages(self, chunk_ids: list[str]) -> list[Passage]:
        """Stored passages by id, in the order given (what a chart's bar or a fact's row opens)."""
        return self._open().passages(chunk_ids)

    def source_documents(self) -> list:
        """The ingested documents re-read from their source files (for the llama-index baseline)."""
        from ..ingest.loading import SourceDocument, read_file

        index = self._open()
        wanted = {d.doc_id: d for d in index.documents()}
        docs: dict[str, SourceDocument] = {}
        for source in sorted({d.source for d in wanted.values()}):
            path = Path(source)
            if path.exists():
                for item in read_file(path):
                    if isinstance(item, SourceDocument) and item.doc_id in wanted:
                        docs[item.doc_id] = item
        for doc_id, d in wanted.items():  # a source file that moved: fall back to the normalized text
            if doc_id not in docs:
                text = index.document_text(doc_id) or ""
                docs[doc_id] = SourceDocument(doc_id=doc_id, source=d.source, text=text, title=d.title)
        return list(docs.values())

    def evaluate(
        self,
        gold: str | Path,
        results: str | Path | None = None,
        report: str | Path | None = None,
        baseline: bool = False,
        progress=None,
    ) -> "EvalRun | FactsEvalRun":
        """Run a gold set; optionally write per-item results (.jsonl), a report (.md + .html), and the baseline. A
        facts gold file (hand-checked figures) gives a FactsEvalRun: extraction precision and recall."""
        from ..eval.evaluation import evaluate_baseline, evaluate_facts, is_facts_gold, load_facts_gold, load_gold, run_eval
        from ..eval.report import write_reports

        if is_facts_gold(gold):  # hand-checked figures: extraction precision and recall
            items = load_facts_gold(gold)
            if self._open().is_empty():
                raise IndexMissing(str(self.index_dir))
            return evaluate_facts(self.facts(), items)
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
