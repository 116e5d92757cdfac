"""LLM answers over the OpenAI chat-completions protocol: context packing, [n] citations, grounding guard, faults."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .extractive import DECLINE_PREFIX
from ..text.tokens import count_tokens
from ..llm.prompts import render
from ..retrieve.retrieval import Passage
from ..store.records import full_heading
from ..text.chars import fold_width, sentence_spans
from ..text.figures import (
    DATE_RE, YEAR_RE, arabic_decimals, english_dates, english_numerals, figure_matches, figure_values, same_figure,
)
from ..text.script import to_simplified
from .frame import QuestionFrame, unit_fits

_MARKER = re.compile(r"\[(\d{1,2})\]")


def _as_figures_read(reply: str) -> str:
    """A reply's text as its figures are read: the [n] marks gone, simplified script, English numbers in digits."""
    return english_numerals(to_simplified(_MARKER.sub("", reply)))


@dataclass
class LLMReply:
    """What the model said, mapped onto the passages it was given."""

    text: str
    citations: list[Passage] = field(default_factory=list)
    markers: list[int] = field(default_factory=list)  # the [n] of each citation, in order of first mention
    declined: bool = False
    ungrounded: list[str] = field(default_factory=list)  # figures, years and dates not found in any cited passage
    wrong_kind: list[str] = field(default_factory=list)  # its figures, when none is in the unit the question asks for
    echoed: bool = False  # it repeats the prompt's own instructions (a document asked it to, or it lost its way)


# --- prompt building --------------------------------------------------------------------


def pack_passages(passages: list[Passage], budget_tokens: int) -> list[Passage]:
    """Passages in rank order while they fit the token budget; a passage that does not fit whole is cut at a
    sentence end, so no sentence or figure is ever cut in half."""
    packed: list[Passage] = []
    used = 0
    for p in passages:
        cost = count_tokens(p.text) + 8  # "[n] 《title》\n" overhead, roughly
        if used + cost <= budget_tokens:
            packed.append(p)
            used += cost
            continue
        room = budget_tokens - used - 8
        end = 0  # the passage is kept as written, line breaks included, up to its last sentence that fits
        for _, b in sentence_spans(p.text):
            if count_tokens(p.text[:b]) > room:
                break
            end = b
        kept = p.text[:end]
        if kept:
            packed.append(Passage(**{**p.__dict__, "text": kept}))
        break
    return packed


def build_prompt(question: str, passages: list[Passage], prompts_dir: str | None = None) -> str:
    numbered = "\n\n".join(f"[{i}]《{full_heading(p.title, p.subtitle)}》\n{p.text}" for i, p in enumerate(passages, start=1))
    return render("qa", prompts_dir, passages=numbered, question=question)


@dataclass
class LLMPrompt:
    """What the model is asked: the passages as numbered in the prompt ([1] is passages[0]) and the prompt text."""

    question: str
    passages: list[Passage]
    text: str


# Tokens kept free in the context for the prompt's own instructions (prompts/qa.md is about 300).
PROMPT_RESERVE_TOKENS = 400


def qa_prompt(question: str, passages: list[Passage], context_tokens: int, answer_tokens: int,
              prompts_dir: str | None = None) -> LLMPrompt:
    """The QA prompt with as many ranked passages as the model's context holds beside the answer."""
    packed = pack_passages(passages, context_tokens - answer_tokens - PROMPT_RESERVE_TOKENS)
    return LLMPrompt(question, packed, build_prompt(question, packed, prompts_dir))


def condense_prompt(question: str, history: list[str], prompts_dir: str | None = None) -> str:
    """The prompt that asks the model to rewrite a follow-up as a standalone question."""
    return render("condense", prompts_dir, history="\n".join(f"用户：{h}" for h in history), question=question)


# --- checking the reply -----------------------------------------------------------------


# A sentence of the prompt's instructions this long, found in a reply, means the reply repeats the prompt.
ECHO_MIN_CHARS = 12


def echoes(answer: str, prompt_text: str, passages: list[Passage]) -> bool:
    """Whether the answer repeats a line of the prompt's own instructions (not of its passages or question)."""
    quoted = "\n".join(p.title + "\n" + p.text for p in passages)
    said = {s.strip() for ln in prompt_text.splitlines() for s in re.split(r"[。：:]", re.sub(r"^\s*\d+\.\s*", "", ln))}
    return any(len(s) >= ECHO_MIN_CHARS and s in answer and s not in quoted for s in said)


def ungrounded_dates(answer: str, cited: list[Passage], asked: str = "") -> list[str]:
    """Years and dates of the answer that no cited passage states (the question's own years may be restated): an
    answer that says 2099年 or 3月5日 must have read it somewhere."""
    plain = fold_width(to_simplified(_MARKER.sub("", answer)))
    text = fold_width(to_simplified("\n".join(p.title + "\n" + p.text for p in cited)))
    allowed = set(YEAR_RE.findall(text)) | set(YEAR_RE.findall(fold_width(to_simplified(asked))))
    missing = [f"{y}年" for y in dict.fromkeys(YEAR_RE.findall(plain)) if y not in allowed]
    for m in DATE_RE.finditer(plain):
        day = re.sub(r"^(?:19|20)\d{2}年", "", m.group(0))  # the year is checked above
        if day and day not in text:
            missing.append(m.group(0))
    missing += [said for said, day in english_dates(plain) if day not in text]  # "March 5" must be read as 3月5日
    return missing


def interpret(text: str, passages: list[Passage], frame: QuestionFrame | None = None,
              prompt_text: str = "") -> LLMReply:
    """Map [n] markers to passages (dropping markers that point nowhere), and check every figure: each must be in
    a passage it cites, in any notation (394.179万元, 3,941,790元, 三百九十四点一七九万元); and an answer to a question
    asking for money, a ratio or a count of days must state at least one figure in that unit ("处罚金额为56件" is
    a real figure of the wrong kind)."""
    text = text.strip()
    valid = range(1, len(passages) + 1)
    order: list[int] = []
    for m in _MARKER.finditer(text):
        n = int(m.group(1))
        if n in valid and n not in order:
            order.append(n)
    cleaned = _MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in valid else "", text)
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    declined = cleaned.startswith(DECLINE_PREFIX) or (DECLINE_PREFIX in cleaned and not order)
    cited = [passages[n - 1] for n in order]
    if declined:
        # A decline may say which other year or place the passages do have a figure for ("资料只有2024年的
        # 数据：38微克/立方米[1]"): that figure is checked against its citation like any other.
        stated = [m.group(0) for m in figure_matches(arabic_decimals(_as_figures_read(cleaned)))]
        if not stated:
            return LLMReply(cleaned, [], [], True, [])
        return LLMReply(cleaned, cited, order, True, ungrounded_figures("；".join(stated), cited))
    ungrounded = ungrounded_figures(cleaned, cited) + ungrounded_dates(cleaned, cited, frame.question if frame else "")
    return LLMReply(cleaned, cited, order, False, ungrounded, _wrong_kind(cleaned, frame),
                    echoes(cleaned, prompt_text, passages) if prompt_text else False)


def _wrong_kind(answer: str, frame: QuestionFrame | None) -> list[str]:
    """The answer's figures, when the question asks for a unit (元, %, 天 ...) and none of them is in it."""
    if frame is None or frame.kind != "figure" or not (frame.unit_family or frame.unit_hints):
        return []
    figures = _figures_with_text(_as_figures_read(answer))
    units = [unit for _, (_, unit) in figures]
    return [] if not figures or any(unit_fits(frame, u) for u in units) else [text for text, _ in figures]


def ungrounded_figures(answer: str, cited: list[Passage]) -> list[str]:
    """Figures of the answer (units and magnitudes normalized, either script) that no cited passage states."""
    plain = _as_figures_read(answer)
    have = [fv for p in cited for fv in figure_values(to_simplified(p.title + "\n" + p.text))]
    missing = []
    for m_text, (value, unit) in _figures_with_text(plain):
        ok = any(same_figure(value, v) and (unit == u or not unit or not u) for v, u in have)
        if not ok:
            missing.append(m_text)
    return missing


def _figures_with_text(text: str) -> list[tuple[str, tuple[float, str]]]:
    """Each figure of the text as written and as (value, unit): Arabic or Chinese numerals, 百分之, 点 decimals."""
    out = []
    for m in figure_matches(arabic_decimals(text)):
        values = figure_values(m.group(0))
        if values:
            out.append((m.group(0), values[0]))
    return out
