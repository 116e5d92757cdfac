"""The Python API: Assistant(index_dir=...).ingest / .ask / .retrieve / .status; the CLI and UI sit on top."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Iterator

from ..answer.composite import QuestionAnswerer, split_parts, understand
from ..answer.crosslingual import CrossLingualReader
from ..answer.extractive import DECLINE_PREFIX, ExtractiveAnswerer
from ..answer.frame import QuestionFrame, analyze
from ..answer.generative import LLMPrompt, condense_prompt, interpret, qa_prompt
from ..answer.knobs import KNOBS
from ..answer.reader_model import load_model
from ..answer.script import folded_article, folded_passage, restore_script
from ..errors import IndexMissing, LLMError, QuestionError
from ..retrieve.retrieval import Mode, Passage, Retriever
from ..settings import Settings, get_settings
from ..ingest.pipeline import IngestReport, ingest
from ..store.index import Index
from ..store.records import ArticleText, DocumentInfo, full_heading
from ..text.chars import has_words
from ..text.script import normalize_question, to_simplified

if TYPE_CHECKING:  # evaluation is imported when asked for: a question need not load it
    from ..eval.evaluation import EvalRun, FactsEvalRun


def public_source(source: str) -> str:
    """A document's source as an answer or a list shows it to a client: the path as it was ingested when that was
    relative ("seeds/a.txt", any leading "../" dropped), the file's name when it was absolute. A reply never tells a
    client where the server keeps its files."""
    path = PurePath(source)
    if path.is_absolute():
        return path.name
    parts = [part for part in path.parts if part != ".."]
    return str(PurePath(*parts)) if parts else path.name


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
    markers: list[int] = field(default_factory=list)  # for LLM answers: the [n] of each citation
    timings: dict = field(default_factory=dict)
    kind: str = "other"  # what the question asks for (figure, date, person...), from its frame
    confidence: float | None = None  # the offline reader's calibrated confidence in its span (None: not read so)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "standalone_question": self.standalone,
            "answer": self.answer,
            "answered": self.answered,
            "evidence": self.evidence,
            "citations": [
                {
                    **{k: c.to_dict()[k] for k in ("title", "subtitle", "text", "doc_id", "chunk_id", "score")},
                    "source": public_source(c.source),
                    **({"marker": self.markers[i]} if i < len(self.markers) else {}),
                }
                for i, c in enumerate(self.citations)
            ],
            "backend": self.backend,
            "warnings": self.warnings,
            "confidence": None if self.confidence is None else round(self.confidence, 3),
            "latency_ms": round(self.latency_ms, 1),
            **({"timings": {k: round(v, 1) for k, v in self.timings.items() if v is not None}} if self.timings else {}),
        }


@dataclass
class _Turn:
    """One question on its way through: checked, condensed and analyzed once."""

    question: str  # as the user typed it (checked)
    llm: object | None  # the LLM client, or None when the extractive answerer answers
    frame: QuestionFrame
    warnings: list[str]
    timings: dict
    started: float


class ReaderView:
    """What the offline reader reads in one turn: passages folded to simplified characters (the ones as written kept
    by chunk id, to cite), and each article folded once (the reader asks for a passage's article many times a turn)."""

    def __init__(self, assistant: "Assistant"):
        self._assistant = assistant
        self._written: dict[str, Passage] = {}
        self._articles: dict[tuple[str, int], ArticleText] = {}

    def read(self, passages: list[Passage]) -> list[Passage]:
        self._written.update((p.chunk_id, p) for p in passages)
        return [folded_passage(p) for p in passages]

    def retrieve(self, question: str) -> list[Passage]:
        """The passages the reader reads for a question: the top ASSISTANT_TOP_K, or reader_passages if more."""
        s = self._assistant.settings
        return self.read(self._assistant._retrieve(question, max(s.top_k, KNOBS.reader_passages)))

    def article(self, passage: Passage) -> ArticleText:
        key = (passage.doc_id, passage.article)
        if key not in self._articles:
            self._articles[key] = folded_article(self._assistant._article(passage))
        return self._articles[key]

    def as_written(self, passage: Passage) -> Passage:
        """A passage the reader quotes, in its document's own script."""
        return self._written.get(passage.chunk_id, passage)


class Assistant:
    """Question answering over an index directory. Cheap to create; the index opens on first use.

    A question's trip, once each: checked, condensed with its history (by the LLM when there is one, else
    offline), analyzed into a frame; then either the extractive answerer or the LLM (with the extractive answer
    as the fallback) answers that frame.
    """

    def __init__(self, index_dir: str | Path | None = None, settings: Settings | None = None):
        base = settings or get_settings()
        if index_dir is not None:
            base = base.model_copy(update={"index_dir": Path(index_dir)})
        self.settings = base
        self._index: Index | None = None
        self._articles: dict[tuple[str, int], ArticleText] = {}
        self._llm_client = None
        self._articles_generation = -1
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

    def _article(self, passage: Passage) -> ArticleText:
        """The whole article a passage belongs to (cached until the index changes)."""
        index = self._open()
        if index.generation != self._articles_generation:
            self._articles.clear()
            self._articles_generation = index.generation
        key = (passage.doc_id, passage.article)
        if key not in self._articles:
            self._articles[key] = index.article(*key) or ArticleText(
                passage.title, None, passage.start, passage.end, passage.text, passage.subtitle
            )
        return self._articles[key]

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

    def status(self) -> dict:
        """Index counts and which backend answers (never the API key)."""
        info = self._open().status()
        info["backend"] = self.backend
        llm = self._llm()
        if llm is not None:
            info["llm_base_url"] = re.sub(r"//[^/@]*@", "//", str(llm.client.base_url))
            info["llm_model"] = self.settings.llm_model
        return info

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

    def _check(self, question: str) -> str:
        if question is None or not str(question).strip():
            raise QuestionError("问题不能为空。")
        question = str(question).strip()
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(f"问题过长（{len(question)} 字），上限为 {self.settings.max_question_chars} 字。")
        if not has_words(question):
            raise QuestionError("问题里没有可以检索的词（一个汉字词或一个英文单词），请写出要问的事，例如“沁水县2024年处罚金额多少？”")
        return question

    def retrieve(self, question: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        """The ranked passages for a question, for people who bring their own LLM."""
        return self._retrieve(self._check(question), k or self.settings.top_k, mode)

    def _retrieve(self, question: str, k: int, mode: Mode = "hybrid") -> list[Passage]:
        s = self.settings
        return Retriever(self._open(), s.candidates, s.rrf_k, s.effective_dense_weight).retrieve(question, k, mode)

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

    def _prepare(self, question: str) -> str:
        question = self._check(question)
        if self._open().is_empty():
            raise IndexMissing(str(self.index_dir))
        return question

    # --- one turn ------------------------------------------------------------------------

    def _understand(self, llm, question: str, history: list[str] | None) -> tuple[QuestionFrame, list[str]]:
        """The turn's frame: the follow-up condensed by the LLM when there is one (offline otherwise, or when
        the LLM fails), then analyzed once."""
        if llm is None or not history:
            return understand(question, history), []
        try:
            reply = llm.complete(condense_prompt(question, history, self.settings.prompts_directory), max_tokens=200)
        except LLMError as exc:
            return understand(question, history), [f"{exc}，已离线改写追问。"]
        rewritten = reply.strip().splitlines()[0].strip()  # the client never returns a blank reply
        return (analyze(normalize_question(rewritten)) if rewritten else understand(question, history)), []

    def reader_view(self) -> ReaderView:
        """A fresh view of the index as the offline reader reads it (one a turn)."""
        return ReaderView(self)

    def reader(self, view: ReaderView) -> ExtractiveAnswerer:
        """The offline reader the settings ask for (ASSISTANT_READER), reading through this view."""
        model = load_model() if self.settings.reader == "learned" else None
        return ExtractiveAnswerer(view.article, model=model, min_confidence=self.settings.reader_min_confidence)

    def _extractive(self, t: _Turn, *extra_warnings: str) -> Answer:
        """The offline answer to the turn's frame (also the LLM path's fallback, with a warning saying why)."""
        # The reader reads passages folded to simplified characters; the citations and the quotes it answers
        # with are given back in each document's own script.
        view = self.reader_view()
        index = self._open()
        embedder = index.embedder
        answerer = QuestionAnswerer(
            self.reader(view),
            view.retrieve,
            facts=index.facts,
            passages_for=lambda ids: view.read(index.passages(ids)),
            crosslingual=CrossLingualReader(embedder.embed_query, embedder.embed_documents, view.article)
            if embedder.semantic else None,
            vectors_pending=index.pending_count,
        )
        result = answerer.answer(t.frame).result
        citations = [view.as_written(p) for p in result.passages]
        return Answer(
            question=t.question,
            answer=restore_script(result.answer, citations),
            answered=result.answered,
            citations=citations,
            backend="extractive",
            latency_ms=(time.perf_counter() - t.started) * 1000,
            evidence=restore_script(result.sentence, citations),
            warnings=[*t.warnings, *extra_warnings, *result.warnings],
            standalone=result.answered_as or t.frame.question,
            timings=t.timings,
            kind=t.frame.kind,
            confidence=result.confidence,
        )

    def _llm_prompt(self, frame: QuestionFrame, timings: dict) -> LLMPrompt:
        s = self.settings
        t1 = time.perf_counter()
        parts = split_parts(frame.question)
        if len(parts) > 1:
            # A question of several parts gets the best passages of each part, taken in turn: one ranking of the
            # whole question can leave a part's passage out of the prompt.
            ranked = [self._retrieve(part, s.llm_passages) for part in parts]
            seen: dict[str, Passage] = {}
            for row in zip_longest(*ranked):
                for p in row:
                    if p is not None and p.chunk_id not in seen and len(seen) < s.llm_passages:
                        seen[p.chunk_id] = p
            passages = list(seen.values())
        else:
            passages = self._retrieve(frame.question, s.llm_passages)
        t2 = time.perf_counter()
        prompt = qa_prompt(frame.question, passages, s.llm_context_tokens, s.llm_max_answer_tokens, s.prompts_directory)
        t3 = time.perf_counter()
        timings.update(retrieval_ms=(t2 - t1) * 1000, prompt_ms=(t3 - t2) * 1000)
        return prompt

    def _from_reply(self, t: _Turn, prompt: LLMPrompt, text: str) -> Answer:
        """The LLM's answer when every figure it states is in a passage it cites; else the extractive one."""
        reply = interpret(text, prompt.passages, t.frame)
        if reply.ungrounded:
            note = f"大模型回答中的数字“{'、'.join(reply.ungrounded)}”不在引用段落中，已改用抽取式答案。"
            return self._extractive(t, note)
        if reply.wrong_kind:
            note = f"大模型回答中的数字“{'、'.join(reply.wrong_kind)}”不是所问的单位，已改用抽取式答案。"
            return self._extractive(t, note)
        return Answer(
            question=t.question,
            answer=f"{DECLINE_PREFIX}。" if reply.text.strip() == DECLINE_PREFIX else reply.text,
            answered=not reply.declined,
            citations=reply.citations,
            markers=reply.markers,
            backend=t.llm.label,
            latency_ms=(time.perf_counter() - t.started) * 1000,
            warnings=t.warnings,
            standalone=t.frame.question,
            timings=t.timings,
            kind=t.frame.kind,
        )

    def _turn(self, question: str, history: list[str] | None) -> _Turn:
        """Check, condense and analyze a turn, once."""
        started = time.perf_counter()
        question = self._prepare(question)
        llm = self._llm()
        frame, warnings = self._understand(llm, question, history)
        timings = {"condense_ms": (time.perf_counter() - started) * 1000} if llm is not None else {}
        return _Turn(question, llm, frame, warnings, timings, started)

    def ask_offline(self, question: str) -> Answer:
        """The offline (extractive) answer, whatever LLM is configured: it costs no LLM call (the web UI checks its
        example questions with it at start-up)."""
        return self._extractive(self._turn(question, None))

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        """Answer a question; `history` holds earlier questions of the conversation, oldest first."""
        t = self._turn(question, history)
        if t.llm is None:
            return self._extractive(t)
        prompt = self._llm_prompt(t.frame, t.timings)
        try:
            text = t.llm.complete(prompt.text)
        except LLMError as exc:
            return self._extractive(t, f"{exc}，已改用抽取式答案。")
        return self._from_reply(t, prompt, text)

    def stream(self, question: str, history: list[str] | None = None) -> Iterator[str | Answer]:
        """Yield the answer text as it arrives, then the final Answer (with citations) as the last item.

        If the streamed answer fails the grounding guard or the stream breaks, the final Answer is the
        extractive one with a warning saying why.
        """
        t = self._turn(question, history)
        if t.llm is None:
            answer = self._extractive(t)
            yield answer.answer
            yield answer
            return
        prompt = self._llm_prompt(t.frame, t.timings)
        pieces: list[str] = []
        try:
            for piece in t.llm.stream(prompt.text):
                if not pieces:
                    t.timings["first_token_ms"] = (time.perf_counter() - t.started) * 1000
                pieces.append(piece)
                yield piece
        except LLMError as exc:
            yield self._extractive(t, f"{exc}，已改用抽取式答案。")
            return
        yield self._from_reply(t, prompt, "".join(pieces))

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
