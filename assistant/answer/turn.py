"""One turn of a conversation, start to end: the question checked, condensed and analyzed once; one snapshot of the
index; the offline reader, or the LLM with its answer checked against the passages it cites; and one streaming
policy for every interface (CLI, web UI, HTTP API): only checked text is ever sent."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import PurePath
from typing import TYPE_CHECKING, Iterator

from ..errors import IndexMissing, LLMError, QuestionError
from ..retrieve.retrieval import Mode, Retriever
from ..settings import Settings
from ..store.records import ArticleText, Passage
from ..store.snapshot import IndexSnapshot
from ..text.chars import has_words, is_text
from ..text.script import normalize_question
from .composite import QuestionAnswerer, split_parts, understand
from .crosslingual import CrossLingualReader
from .extractive import DECLINE_PREFIX, ExtractiveAnswerer
from .frame import QuestionFrame, analyze
from .generative import LLMPrompt, condense_prompt, interpret, qa_prompt
from .knobs import KNOBS
from .reader_model import load_model
from .script import folded_article, folded_passage, restore_script

if TYPE_CHECKING:  # the client (and openai) is imported when an LLM is configured
    from ..llm.client import LLMClient
    from ..store.index import Index

# A streamed answer is sent in pieces of this many characters, once it has passed every check: a figure the passages
# do not state is never shown, not even for a moment (the LLM's own tokens are gathered, then checked).
STREAM_PIECE_CHARS = 24
# A turn is condensed with at most this many earlier questions (the latest): a follow-up leans on the last few, and a
# client that sends thousands must not cost seconds of work. The HTTP API refuses a longer history outright.
MAX_HISTORY = 50


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


def checked_pieces(text: str) -> Iterator[str]:
    """A checked answer's text as a stream sends it."""
    for i in range(0, len(text), STREAM_PIECE_CHARS):
        yield text[i : i + STREAM_PIECE_CHARS]


def check_question(question: str, settings: Settings) -> str:
    """The question, stripped; QuestionError (one Chinese sentence) when there is nothing to look up."""
    if question is None or not str(question).strip():
        raise QuestionError("问题不能为空。")
    question = str(question).strip()
    if len(question) > settings.max_question_chars:
        raise QuestionError(f"问题过长（{len(question)} 字），上限为 {settings.max_question_chars} 字。")
    if not is_text(question):
        raise QuestionError("问题中有无法识别的字符（不成对的代理码位），请重新输入。")
    if not has_words(question):
        raise QuestionError("问题里没有可以检索的词（一个汉字词或一个英文单词），请写出要问的事，例如“沁水县2024年处罚金额多少？”")
    return question


def retriever(snapshot: IndexSnapshot, settings: Settings) -> Retriever:
    return Retriever(snapshot, settings.candidates, settings.rrf_k, settings.effective_dense_weight)


class ReaderView:
    """What the offline reader reads in one turn, through one snapshot: passages folded to simplified characters (the
    ones as written kept by chunk id, to cite), and each article folded once (the reader asks for a passage's article
    many times a turn). It is the answerer's corpus (composite.Corpus)."""

    def __init__(self, snapshot: IndexSnapshot, settings: Settings):
        self.snapshot = snapshot
        self.settings = settings
        self._retriever = retriever(snapshot, settings)
        self._written: dict[str, Passage] = {}
        self._articles: dict[tuple[str, int], ArticleText] = {}

    def read(self, passages: list[Passage]) -> list[Passage]:
        self._written.update((p.chunk_id, p) for p in passages)
        return [folded_passage(p) for p in passages]

    def retrieve(self, question: str) -> list[Passage]:
        """The passages the reader reads for a question: the top ASSISTANT_TOP_K, or reader_passages if more."""
        return self.read(self._retriever.retrieve(question, max(self.settings.top_k, KNOBS.reader_passages)))

    def passages(self, chunk_ids: list[str]) -> list[Passage]:
        return self.read(self.snapshot.passages(chunk_ids))

    def facts(self, subject: str | None = None, metric: str | None = None, year: int | None = None,
              subject_prefix: str | None = None) -> list:
        return self.snapshot.facts(subject=subject, metric=metric, year=year, subject_prefix=subject_prefix)

    def vectors_pending(self) -> int:
        return self.snapshot.pending_count()

    def article(self, passage: Passage) -> ArticleText:
        key = (passage.doc_id, passage.article)
        if key not in self._articles:
            whole = self.snapshot.article(*key) or ArticleText(
                passage.title, None, passage.start, passage.end, passage.text, passage.subtitle)
            self._articles[key] = folded_article(whole)
        return self._articles[key]

    def as_written(self, passage: Passage) -> Passage:
        """A passage the reader quotes, in its document's own script."""
        return self._written.get(passage.chunk_id, passage)

    def reader(self) -> ExtractiveAnswerer:
        """The offline reader the settings ask for (ASSISTANT_READER), reading through this view."""
        model = load_model() if self.settings.reader == "learned" else None
        return ExtractiveAnswerer(self.article, model=model, min_confidence=self.settings.reader_min_confidence)


class Turn:
    """One question on its way through: checked, condensed with its history (by the LLM when there is one, else
    offline) and analyzed once, against one snapshot of the index; then answer() or stream() answers that frame, by
    the offline reader or by the LLM (with the offline answer as the fallback, and a warning saying why)."""

    def __init__(self, settings: Settings, index: "Index", question: str,
                 history: list[str] | None = None, llm: "LLMClient | None" = None):
        self.started = time.perf_counter()
        self.settings = settings
        self.index = index
        self.snapshot: IndexSnapshot | None = None  # taken when the turn reads the index (_reading)
        self.question = check_question(question, settings)
        if history and not all(is_text(h) for h in history):
            raise QuestionError("对话历史中有无法识别的字符（不成对的代理码位）。")
        # An earlier message longer than a question could be was never answered: it cannot be what a follow-up means.
        history = [h for h in (history or [])[-MAX_HISTORY:] if len(h) <= settings.max_question_chars]
        if index.is_empty():
            raise IndexMissing(str(index.dir))
        self.llm = llm
        self.frame, self.warnings = self._understand(history)
        self.timings = {"condense_ms": (time.perf_counter() - self.started) * 1000} if llm is not None else {}

    def _understand(self, history: list[str] | None) -> tuple[QuestionFrame, list[str]]:
        if self.llm is None or not history:
            return understand(self.question, history), []
        try:
            prompt = condense_prompt(self.question, history, self.settings.prompts_directory)
            reply = self.llm.complete(prompt, max_tokens=200)
        except LLMError as exc:
            return understand(self.question, history), [f"{exc}，已离线改写追问。"]
        rewritten = reply.strip().splitlines()[0].strip()  # the client never returns a blank reply
        return (analyze(normalize_question(rewritten)) if rewritten else understand(self.question, history)), []

    # --- answering -------------------------------------------------------------------------

    @contextmanager
    def _reading(self):
        """The whole turn reads one view of the index: one read transaction, and the snapshot taken inside it (a
        document replaced meanwhile is read old or new, never neither). Entered and left within one call, so in one
        thread."""
        with self.index.reading():
            self.snapshot = self.index.snapshot()
            try:
                yield
            finally:
                self.snapshot = None

    def answer(self, streaming: bool = False) -> Answer:
        with self._reading():
            if self.llm is None:
                return self._offline()
            prompt = self._llm_prompt()
            try:
                text = self._gathered(prompt) if streaming else self.llm.complete(prompt.text)
            except LLMError as exc:
                return self._offline(f"{exc}，已改用抽取式答案。")
            return self._from_reply(prompt, text)

    def _gathered(self, prompt: LLMPrompt) -> str:
        """The LLM's reply, streamed from the server and gathered whole (its first token's time noted)."""
        pieces: list[str] = []
        for piece in self.llm.stream(prompt.text):
            if not pieces:
                self.timings["first_token_ms"] = (time.perf_counter() - self.started) * 1000
            pieces.append(piece)
        return "".join(pieces)

    def stream(self) -> Iterator[str | Answer]:
        """The checked answer's text in pieces, then the Answer (with citations) as the last item. The LLM's reply is
        gathered and checked first: when it fails the grounding guard or its stream breaks, the pieces are the
        offline answer's, and a warning says why. All of it is computed before the first piece is given out."""
        answer = self.answer(streaming=True)
        yield from checked_pieces(answer.answer)
        yield answer

    def offline(self) -> Answer:
        """The offline answer, whatever LLM the turn has."""
        with self._reading():
            return self._offline()

    def _offline(self, *extra_warnings: str) -> Answer:
        """The offline answer to the turn's frame (also the LLM path's fallback, with a warning saying why). The
        reader reads passages folded to simplified characters; the citations and the quotes it answers with are
        given back in each document's own script."""
        view = ReaderView(self.snapshot, self.settings)
        embedder = self.snapshot.embedder
        crosslingual = (CrossLingualReader(embedder.embed_query, embedder.embed_documents, view.article)
                        if embedder.semantic else None)
        result = QuestionAnswerer(view.reader(), view, crosslingual=crosslingual).answer(self.frame).result
        citations = [view.as_written(p) for p in result.passages]
        return Answer(
            question=self.question,
            answer=restore_script(result.answer, citations),
            answered=result.answered,
            citations=citations,
            backend="extractive",
            latency_ms=(time.perf_counter() - self.started) * 1000,
            evidence=restore_script(result.sentence, citations),
            warnings=[*self.warnings, *extra_warnings, *result.warnings],
            standalone=result.answered_as or self.frame.question,
            timings=self.timings,
            kind=self.frame.kind,
            confidence=result.confidence,
        )

    def _llm_prompt(self) -> LLMPrompt:
        s = self.settings
        t1 = time.perf_counter()
        find = retriever(self.snapshot, s)
        parts = split_parts(self.frame.question)
        if len(parts) > 1:
            # A question of several parts gets the best passages of each part, taken in turn: one ranking of the
            # whole question can leave a part's passage out of the prompt.
            ranked = [find.retrieve(part, s.llm_passages) for part in parts]
            seen: dict[str, Passage] = {}
            for row in zip_longest(*ranked):
                for p in row:
                    if p is not None and p.chunk_id not in seen and len(seen) < s.llm_passages:
                        seen[p.chunk_id] = p
            passages = list(seen.values())
        else:
            passages = find.retrieve(self.frame.question, s.llm_passages)
        t2 = time.perf_counter()
        prompt = qa_prompt(self.frame.question, passages, s.llm_context_tokens, s.llm_max_answer_tokens,
                           s.prompts_directory)
        self.timings.update(retrieval_ms=(t2 - t1) * 1000, prompt_ms=(time.perf_counter() - t2) * 1000)
        return prompt

    def _from_reply(self, prompt: LLMPrompt, text: str) -> Answer:
        """The LLM's answer when every figure it states is in a passage it cites; else the offline one."""
        reply = interpret(text, prompt.passages, self.frame, prompt.text)
        if reply.echoed:
            return self._offline("大模型的回答复述了系统提示，已改用抽取式答案。")
        if reply.ungrounded:
            return self._offline(f"大模型回答中的数字“{'、'.join(reply.ungrounded)}”不在引用段落中，已改用抽取式答案。")
        if reply.wrong_kind:
            return self._offline(f"大模型回答中的数字“{'、'.join(reply.wrong_kind)}”不是所问的单位，已改用抽取式答案。")
        return Answer(
            question=self.question,
            answer=f"{DECLINE_PREFIX}。" if reply.text.strip() == DECLINE_PREFIX else reply.text,
            answered=not reply.declined,
            citations=reply.citations,
            markers=reply.markers,
            backend=self.llm.label,
            latency_ms=(time.perf_counter() - self.started) * 1000,
            warnings=self.warnings,
            standalone=self.frame.question,
            timings=self.timings,
            kind=self.frame.kind,
        )


def retrieve(index: "Index", settings: Settings, question: str, k: int, mode: Mode = "hybrid") -> list[Passage]:
    """The ranked passages for a question (checked), for people who bring their own LLM: read as one view."""
    question = check_question(question, settings)
    with index.reading():
        return retriever(index.snapshot(), settings).retrieve(question, k, mode)
