"""The Python API: Assistant(index_dir=...).ingest / .ask / .retrieve / .status; the CLI and UI sit on top."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..answer.extractive import DECLINE_PREFIX, ExtractiveAnswerer
from ..answer.composite import QuestionAnswerer
from ..store.index import Index, IndexMissing, IngestReport
from ..retrieve.retrieval import Mode, Passage, Retriever
from ..settings import Settings, get_settings


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
    markers: list[int] = field(default_factory=list)  # for LLM answers: the [n] of each citation
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "standalone_question": self.standalone,
            "answer": self.answer,
            "answered": self.answered,
            "evidence": self.evidence,
            "citations": [
                {
                    **{k: c.to_dict()[k] for k in ("source", "title", "text", "doc_id", "chunk_id", "score")},
                    **({"marker": self.markers[i]} if i < len(self.markers) else {}),
                }
                for i, c in enumerate(self.citations)
            ],
            "backend": self.backend,
            "warnings": self.warnings,
            "latency_ms": round(self.latency_ms, 1),
            **({"timings": {k: round(v, 1) for k, v in self.timings.items() if v is not None}} if self.timings else {}),
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
        self._llm_client = None
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
        """Index counts and which backend answers (never the API key)."""
        info = self._open().status()
        info["backend"] = self.backend
        if self._llm() is not None:
            import re as _re

            info["llm_base_url"] = _re.sub(r"//[^/@]*@", "//", str(self._llm().client.base_url))
            info["llm_model"] = self.settings.llm_model
        return info

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

    def _llm(self):
        """The LLM client when the settings call for one, else None (the extractive answerer answers)."""
        from ..llm.client import LLMClient, llm_configured

        mode = self.settings.answerer
        if mode == "extractive" or (mode == "auto" and not llm_configured(self.settings)):
            return None
        if self._llm_client is None:
            self._llm_client = LLMClient(self.settings)
        return self._llm_client

    @property
    def backend(self) -> str:
        llm = self._llm()
        return llm.label if llm else "extractive"

    def _passages(self, chunk_ids: list[str]) -> list[Passage]:
        """Catalog chunks as citable passages, in the order given."""
        return [
            Passage(chunk_id=r["chunk_id"], doc_id=r["doc_id"], source=r["source"], title=r["title"], text=r["text"],
                    score=1.0, start=r["start"], end=r["end"], article=r["article"], metadata=r["metadata"])
            for r in self._open().chunks(list(dict.fromkeys(c for c in chunk_ids if c)))
        ]

    def _prepare(self, question: str) -> str:
        question = self._check(question)
        if self._open().is_empty():
            raise IndexMissing(str(self.index_dir))
        return question

    def _extractive(self, question: str, history: list[str] | None, started: float, warnings=()) -> Answer:
        answerer = QuestionAnswerer(
            ExtractiveAnswerer(self._article),
            lambda q: self.retrieve(q, max(self.settings.top_k, 8)),
            facts=self._open().facts,
            passages_for=self._passages,
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
            warnings=[*warnings, *result.warnings],
            standalone=composite.standalone,
        )

    def _standalone(self, llm, question: str, history: list[str] | None) -> tuple[str, list[str]]:
        """Condense a follow-up: by the LLM when there is one, offline (carry place and year) otherwise."""
        from ..llm.client import LLMError
        from ..llm.prompts import render
        from ..answer.composite import condense

        if not history:
            return condense(question, []), []
        try:
            rewritten = llm.complete(
                render("condense", self._prompts_dir, history="\n".join(f"用户：{h}" for h in history), question=question),
                max_tokens=200,
            ).strip().splitlines()[0].strip()
            return (rewritten or condense(question, history)), []
        except LLMError as exc:
            return condense(question, history), [f"{exc}，已离线改写追问。"]

    @property
    def _prompts_dir(self) -> str | None:
        return str(self.settings.prompts_dir) if self.settings.prompts_dir else None

    def _llm_prompt(self, llm, question: str, history: list[str] | None):
        from ..answer.generative import build_prompt, pack_passages

        t0 = time.perf_counter()
        standalone, warnings = self._standalone(llm, question, history)
        t1 = time.perf_counter()
        passages = self.retrieve(standalone, self.settings.llm_passages)
        t2 = time.perf_counter()
        budget = self.settings.llm_context_tokens - self.settings.llm_max_answer_tokens - 400
        packed = pack_passages(passages, budget)
        prompt = build_prompt(standalone, packed, self._prompts_dir)
        t3 = time.perf_counter()
        timings = {"condense_ms": (t1 - t0) * 1000, "retrieval_ms": (t2 - t1) * 1000, "prompt_ms": (t3 - t2) * 1000}
        return standalone, packed, prompt, warnings, timings

    def _from_reply(self, llm, question, history, standalone, packed, text, warnings, timings, started) -> Answer:
        from ..answer.generative import interpret

        reply = interpret(text, packed)
        if reply.ungrounded:
            note = f"大模型回答中的数字“{'、'.join(reply.ungrounded)}”不在引用段落中，已改用抽取式答案。"
            answer = self._extractive(question, history, started, [*warnings, note])
            answer.timings = timings
            return answer
        return Answer(
            question=question,
            answer=f"{DECLINE_PREFIX}。" if reply.text.strip() == DECLINE_PREFIX else reply.text,
            answered=not reply.declined,
            citations=reply.citations,
            markers=reply.markers,
            backend=llm.label,
            latency_ms=(time.perf_counter() - started) * 1000,
            warnings=warnings,
            standalone=standalone,
            timings=timings,
        )

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        """Answer a question; `history` holds earlier questions of the conversation, oldest first."""
        from ..llm.client import LLMError

        started = time.perf_counter()
        question = self._prepare(question)
        llm = self._llm()
        if llm is None:
            return self._extractive(question, history, started)
        standalone, packed, prompt, warnings, timings = self._llm_prompt(llm, question, history)
        try:
            text = llm.complete(prompt)
        except LLMError as exc:
            answer = self._extractive(question, history, started, [*warnings, f"{exc}，已改用抽取式答案。"])
            answer.timings = timings
            return answer
        return self._from_reply(llm, question, history, standalone, packed, text, warnings, timings, started)

    def stream(self, question: str, history: list[str] | None = None) -> Iterator[str | Answer]:
        """Yield the answer text as it arrives, then the final Answer (with citations) as the last item.

        If the streamed answer fails the grounding guard or the stream breaks, the final Answer is the
        extractive one with a warning saying why.
        """
        from ..llm.client import LLMError

        started = time.perf_counter()
        question = self._prepare(question)
        llm = self._llm()
        if llm is None:
            answer = self._extractive(question, history, started)
            yield answer.answer
            yield answer
            return
        standalone, packed, prompt, warnings, timings = self._llm_prompt(llm, question, history)
        pieces: list[str] = []
        try:
            for piece in llm.stream(prompt):
                if not pieces:
                    timings["first_token_ms"] = (time.perf_counter() - started) * 1000
                pieces.append(piece)
                yield piece
        except LLMError as exc:
            answer = self._extractive(question, history, started, [*warnings, f"{exc}，已改用抽取式答案。"])
            answer.timings = timings
            yield answer
            return
        yield self._from_reply(llm, question, history, standalone, packed, "".join(pieces), warnings, timings, started)

    def facts(self, subject: str | None = None, metric: str | None = None, year: int | None = None) -> list:
        """The figures extracted from the articles, filtered by subject, metric (substrings) and year."""
        from ..text.zh import normalize_question

        return self._open().facts(
            subject=normalize_question(subject) if subject else None,
            metric=normalize_question(metric) if metric else None,
            year=year,
        )

    def source_documents(self) -> list:
        """The ingested documents re-read from their source files (for the llama-index baseline)."""
        from ..ingest.loading import SourceDocument, read_file

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
