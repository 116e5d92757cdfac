"""Questions that need more than one lookup: follow-ups, multi-part questions, comparisons, misspelt places."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from .extractive import DECLINE_PREFIX, UNIT_FAMILY, Extraction, ExtractiveAnswerer, analyze, short_place
from ..retrieve.retrieval import Passage
from ..text.zh import CJK, char_bigrams, figure_matches, figure_values, normalize_question, pinyin

Retrieve = Callable[[str], list[Passage]]

_WH = re.compile(r"多少|几|谁|哪|什么|何时|何地|是否")
_ADMIN_WORD = f"[{CJK}]{{2,5}}?(?:省|市|县|区)"
_COMPARE = re.compile(
    r"(?:哪个|哪一个|哪里|哪儿|哪|谁)(?:地方|城市|县|市|区)?(?:的)?(?P<metric>[^，。？?]*?)(?:更|最|比较|较)?(?P<dir>高|低|多|少|大|小|长|短)"
)
_MORE = set("高多大长")
# Measure words that all count things, so 24处 and 34套 of the same facilities compare.
_COUNT_UNITS = set("个处套座台家所项条辆件起宗名位人户只株棵块批场期")
_COUNT_FAMILY = "count"


def _quoted_figure(fact) -> str:
    """The figure as the span writes it ("五项", "2,300余台"), so the answer is literally in the cited passage."""
    for m in figure_matches(fact.span):
        values = figure_values(m.group(0))
        if values and abs(values[0][0] - fact.base_value) <= 1e-6 * max(abs(fact.base_value), 1):
            text = m.group(0)
            return text + "以上" if fact.qualifier == "以上" else text
    return fact.display()


@dataclass
class Composite:
    """What the assistant made of a question: the standalone form, and the extraction(s) behind the answer."""

    standalone: str
    result: Extraction
    parts: list[str] = field(default_factory=list)


def condense(question: str, history: list[str]) -> str:
    """Offline follow-up condensation: carry the place and year of the last turn that named them.

    "沁水县2024年处罚金额多少？" then "立案查处了多少件？" -> "沁水县2024年立案查处了多少件？";
    "那阳城县呢？" after it -> the previous question about 阳城县 instead.
    """
    q = normalize_question(question)
    if not history:
        return q
    frame = analyze(q)
    previous = [normalize_question(h) for h in history if h.strip()]
    if not previous:
        return q
    last = previous[-1]
    # "那阳城县呢？": a place (or year) and nothing else -> the last question, re-scoped.
    if not frame.terms and (frame.places or frame.years) and re.search(r"呢|那|的呢|怎么样|如何", q):
        out = last
        last_frame = analyze(last)
        for old, new in zip(_place_words(last, last_frame.places), _place_words(q, frame.places)):
            out = out.replace(old, new)
        for old, new in zip(last_frame.years, frame.years):
            out = out.replace(old, new)
        return out
    prefix = ""
    if not frame.places:
        for h in reversed(previous):
            hf = analyze(h)
            if hf.places:
                prefix += "".join(_place_words(h, hf.places))
                break
    if not frame.years:
        for h in reversed(previous):
            years = analyze(h).years
            if years:
                prefix += f"{years[0]}年"
                break
    return prefix + q if prefix else q


def _place_words(text: str, places: list[str]) -> list[str]:
    """The places as written in the text, with their admin suffix when present ("沁水" -> "沁水县")."""
    out = []
    for p in places:
        m = re.search(re.escape(p) + r"(?:省|市|县|区|分局)?", text)
        out.append(m.group(0) if m else p)
    return out


_EACH = re.compile(r"(?P<list>[^，,；;？?]+?)各(?P<ask>(?:有|是|为)?(?:多少|几)[^，,；;？?]*)")
_COORD = re.compile(r"、|和|与|及|以及")


def split_parts(question: str) -> list[str]:
    """Split a multi-part question into parts that each ask something:
    "立案多少件，处罚金额多少？", "多少辆公交车和多少辆出租车？", "A级、B级和C级企业各有多少家？"."""
    each = _EACH.search(question)
    if each:
        items = [i for i in _COORD.split(each.group("list")) if i.strip()]
        if len(items) >= 2:
            head = question[: each.start()]
            return [f"{head}{item}{each.group('ask')}" for item in items]
    pieces = [p for p in re.split(r"[，,；;]|(?<=[？?])|和(?=多少|几)", question) if p.strip()]
    asking = [p for p in pieces if _WH.search(p)]
    if len(asking) < 2:
        return [question]
    # Attach any leading piece without a question word (the scope) to the first asking part.
    parts, carry = [], ""
    for p in pieces:
        if _WH.search(p):
            parts.append(carry + p)
            carry = ""
        else:
            carry += p
    return parts


def _scoped(part: str, whole: str) -> str:
    """Give a part the places and years of the whole question when it names none itself."""
    frame, whole_frame = analyze(part), analyze(whole)
    prefix = ""
    if not frame.places and whole_frame.places:
        prefix += "".join(_place_words(whole, whole_frame.places))
    if not frame.years and whole_frame.years:
        prefix += f"{whole_frame.years[0]}年"
    return prefix + part


_SUPERLATIVE = re.compile(r"(?:哪个|哪一个|哪些|哪|谁)(?:地方|城市|地区|县|市|区)?.*?(?P<dir>最多|最少|最高|最低|最大|最小|最长|最短)")


class QuestionAnswerer:
    """Answers any question offline by composing single extractions (and the facts table, for superlatives)."""

    def __init__(self, extractor: ExtractiveAnswerer, retrieve: Retrieve, facts=None, passages_for=None):
        self.extractor = extractor
        self.retrieve = retrieve
        self.facts = facts  # () -> list[Fact]
        self.passages_for = passages_for  # (chunk ids) -> list[Passage]

    def answer(self, question: str, history: list[str] | None = None) -> Composite:
        standalone = condense(question, history or [])
        superlative = self._superlative(standalone)
        if superlative is not None:
            return Composite(standalone, superlative)
        comparison = self._compare(standalone)
        if comparison is not None:
            return Composite(standalone, comparison)
        parts = split_parts(standalone)
        if len(parts) > 1:
            return Composite(standalone, self._multi(standalone, parts), parts)
        return Composite(standalone, self.single(standalone))

    def single(self, question: str, places: list[str] | None = None) -> Extraction:
        from_facts = self._fact_answer(question, places)
        if from_facts is not None:
            return from_facts
        passages = self.retrieve(question)
        result = self.extractor.answer(question, passages, places)
        if result.answered or result.reason != "place":
            return result
        corrected, notes = self._correct_places(question, passages)
        if corrected == question:
            return result
        retry = self.extractor.answer(corrected, self.retrieve(corrected))
        if retry.answered:
            retry.warnings.extend(notes)
            return retry
        return result

    # --- figure questions from the facts table ------------------------------------------

    def _fact_answer(self, question: str, places: list[str] | None = None) -> Extraction | None:
        """"沁水县2024年处罚金额多少": the one fact of that place (and year) whose metric the question names,
        cited by its passage and quoted span. None when no fact fits or two facts with different values fit
        equally well: the passage reader decides then."""
        frame = analyze(question)
        wanted = [short_place(p) for p in (places or frame.places)]
        if frame.kind != "figure" or self.facts is None or not wanted or not frame.terms:
            return None
        total = sum(frame.terms.values())
        asked = set(char_bigrams(question))
        years = {int(y) for y in frame.years}
        scored = []
        for place in dict.fromkeys(wanted):
            for fact in self.facts(subject=place):
                if short_place(fact.subject) != place or (years and fact.year not in years):
                    continue
                family = UNIT_FAMILY.get(fact.base_unit, fact.base_unit)
                if frame.unit_family and family != frame.unit_family:
                    continue
                if frame.unit_hints and not any(h in fact.unit for h in frame.unit_hints):
                    continue
                text = (fact.metric + fact.span).lower()
                cover = sum(w for t, w in frame.terms.items() if t in text) / total  # the question's words found
                metric = set(char_bigrams(fact.metric))
                named = len(metric & asked) / max(len(metric), 1)  # the fact's metric named by the question
                if cover >= 0.75 and named >= 0.5:
                    # Of two statements of a figure, the one whose sentence names its subject proves it better.
                    says_whose = place in fact.context or bool(re.search(r"全[县市区]|该[县市区局]", fact.context))
                    scored.append((cover + named + 0.05 * says_whose, fact))
        if not scored:
            return None
        scored.sort(key=lambda s: -s[0])
        score, best = scored[0]
        if any(f.base_value != best.base_value and score - sc < 0.1 for sc, f in scored[1:]):
            return None  # two different figures fit: too close to call from the table
        passages = self.passages_for([best.chunk_id]) if self.passages_for else []
        if not passages:
            return None
        return Extraction(True, _quoted_figure(best), passages, sentence=best.span)

    # --- misspelt places -----------------------------------------------------------------

    def _correct_places(self, question: str, passages: list[Passage]) -> tuple[str, list[str]]:
        """Replace a place the articles never mention by a same-sounding one they do (杨城 -> 阳城)."""
        frame = analyze(question)
        texts = []
        for p in passages:
            title, article, _, _ = self.extractor.article_lookup(p)
            texts.append(title + "\n" + article)
        corpus = "\n".join(dict.fromkeys(texts))
        sounds = pinyin(corpus)  # one syllable per character (non-Chinese runs come back whole)
        aligned = len(sounds) == len(corpus)
        notes = []
        for place in frame.places:
            if place in corpus or not aligned:
                continue
            target, n = pinyin(place), len(place)
            found = next(
                (
                    corpus[i : i + n]
                    for i in range(len(corpus) - n + 1)
                    if sounds[i : i + n] == target and re.fullmatch(f"[{CJK}]+", corpus[i : i + n])
                ),
                None,
            )
            if found:
                question = question.replace(place, found)
                notes.append(f"资料中没有“{place}”，已按读音相同的“{found}”回答。")
        return question, notes

    # --- multi-part ----------------------------------------------------------------------

    def _multi(self, whole: str, parts: list[str]) -> Extraction:
        results = [self.single(_scoped(p, whole)) for p in parts]
        if not any(r.answered for r in results):
            return Extraction(False, f"{DECLINE_PREFIX}该问题的答案。", [], reason="no part answered")
        answers, passages, sentences = [], [], []
        for part, r in zip(parts, results):
            answers.append(r.answer if r.answered else f"（{part.strip('？? ')}：{DECLINE_PREFIX}）")
            for p in r.passages:
                if all(p.chunk_id != q.chunk_id for q in passages):
                    passages.append(p)
            if r.sentence and r.sentence not in sentences:
                sentences.append(r.sentence)
        warnings = [w for r in results for w in r.warnings]
        return Extraction(True, "；".join(answers), passages, sentence="".join(sentences), warnings=warnings)

    # --- superlatives across articles (the facts table) ---------------------------------

    def _superlative(self, question: str) -> Extraction | None:
        """"哪个地方第三轮中央环保督察交办的群众举报件最多？": compare what each article reports."""
        m = _SUPERLATIVE.search(question)
        if not m or self.facts is None:
            return None
        frame = analyze(question)
        terms = {t: w for t, w in frame.terms.items() if t not in ("最多", "最少", "最高", "最低", "最大", "最小", "地方")}
        total = sum(terms.values())
        if not total:
            return None
        best: dict[str, tuple[float, object]] = {}
        for fact in self.facts():
            if frame.years and fact.year not in {int(y) for y in frame.years}:
                continue
            text = (fact.metric + fact.context).lower()
            cover = sum(w for t, w in terms.items() if t in text) / total
            if cover < 0.6:
                continue
            key = short_place(fact.subject)
            if key not in best or cover > best[key][0]:
                best[key] = (cover, fact)
        found = [f for _, f in best.values()]
        if len(found) < 2 or len({f.base_unit.split("/")[0] for f in found}) > 1:
            return None  # not a question the facts can settle: let the other paths try
        pick = max if m.group("dir") in ("最多", "最高", "最大", "最长") else min
        winner = pick(found, key=lambda f: f.base_value)
        ordered = sorted(found, key=lambda f: -f.base_value)
        detail = "，".join(f"{f.subject}{f.display()}" for f in ordered)
        passages = self.passages_for([f.chunk_id for f in ordered]) if self.passages_for else []
        return Extraction(True, f"{winner.subject}（{detail}）", passages, sentence="；".join(f.span for f in ordered))

    # --- comparisons ---------------------------------------------------------------------

    def _compare(self, question: str) -> Extraction | None:
        frame = analyze(question)
        m = _COMPARE.search(question)
        if not m:
            return None
        # The compared subjects are coordinated before the question word: "高平和晋中，哪个…", and the metric may
        # sit between them and the question word: "阳城县和晋中市的PM2.5浓度哪个更低".
        before = question[: m.start()]
        subj = re.search(
            f"(?P<a>[{CJK}A-Za-z0-9]{{2,8}}?)(?:和|与|跟|同|还是|比)(?P<b>[{CJK}A-Za-z0-9]{{2,5}}?(?:省|市|县|区)?)(?=的|，|,|\\s|$)",
            before,
        )
        if not subj:
            return None
        words = [subj.group("a"), subj.group("b")]
        between = before[subj.end() :].strip("的，, ")
        metric = re.sub(r"^(?:在|的)", "", (between + m.group("metric")).strip("的 "))
        scope = "".join(f"{y}年" for y in frame.years)
        findings = []
        for word in words:
            r = self.single(f"{word}{scope}{metric}是多少？", places=[word])
            values = figure_values(r.answer) if r.answered else []
            if not values:
                return Extraction(
                    False, f"{DECLINE_PREFIX}{word}的{metric or '相关数据'}，无法比较。", [], reason="comparison"
                )
            findings.append((word, r, values[0]))
        units = {_COUNT_FAMILY if f[2][1] in _COUNT_UNITS else f[2][1].split("/")[0] for f in findings}
        if len(units) > 1:
            return Extraction(False, f"{DECLINE_PREFIX}可比较的同类数据。", [], reason="comparison units")
        pick = max if m.group("dir") in _MORE else min
        winner = pick(findings, key=lambda f: f[2][0])
        detail = "，".join(f"{w}{r.answer}" for w, r, _ in findings)
        passages: list[Passage] = []
        for _, r, _ in findings:
            passages.extend(p for p in r.passages[:1] if all(p.chunk_id != q.chunk_id for q in passages))
        return Extraction(
            True, f"{winner[0]}（{detail}）", passages, sentence="".join(r.sentence for _, r, _ in findings)
        )
