"""Questions that need more than one lookup: follow-ups, multi-part questions, comparisons, superlatives,
figure questions from the facts table, misspelt places. Each takes the question's frame from above and analyzes
only the new questions it makes (a part, one side of a comparison, a corrected place)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from ..retrieve.retrieval import Passage
from ..text.chars import CJK
from ..text.figures import figure_matches, figure_values, same_figure
from ..text.names import pinyin, short_place
from ..text.script import normalize_question
from ..text.tokens import char_bigrams, pos_words, word_at
from .crosslingual import CrossLingualReader
from .extractive import DECLINE_PREFIX, Extraction, ExtractiveAnswerer
from .frame import UNIT_FAMILY, QuestionFrame, analyze
from .knobs import KNOBS, Knobs


class Corpus(Protocol):
    """What the offline answerer reads in one turn (answer/turn.ReaderView): passages folded to simplified
    characters, and the facts table."""

    def retrieve(self, question: str) -> list[Passage]: ...

    def passages(self, chunk_ids: list[str]) -> list[Passage]: ...

    def facts(self, subject: str | None = None, metric: str | None = None, year: int | None = None,
              subject_prefix: str | None = None) -> list: ...

    def vectors_pending(self) -> int: ...

_WH = re.compile(r"多少|几|谁|哪|什么|何时|何地|是否")
# Places kept per pinyin name of an English question for its retrieval ("Yuncheng": 云城, 运城, 郓城).
MAX_SOUNDS = 3
# A word a question can be about: Chinese, or a Latin word or code of three characters or more ("PM2.5"); "OR" and
# "1" alone are not.
_CONTENT_TERM = re.compile(f"[{CJK}]|[a-z0-9.]{{3,}}")
# Directions of a comparison or superlative: the first word of each pair asks for the larger figure.
_MORE, _LESS = "高多大长", "低少小短"
_SUPERLATIVE_WORDS = tuple("最" + c for c in _MORE + _LESS)
_COMPARE = re.compile(
    r"(?:哪个|哪一个|哪里|哪儿|哪|谁)(?:地方|城市|县|市|区)?(?:的)?(?P<metric>[^，。？?]*?)(?:更|最|比较|较)?"
    f"(?P<dir>[{_MORE}{_LESS}])"
)
_SUPERLATIVE = re.compile(
    r"(?:哪个|哪一个|哪些|哪|谁)(?:地方|城市|地区|县|市|区)?.*?(?P<dir>" + "|".join(_SUPERLATIVE_WORDS) + ")"
)
# Measure words that all count things, so 24处 and 34套 of the same facilities compare.
_COUNT_UNITS = set("个处套座台家所项条辆件起宗名位人户只株棵块批场期支本栋幢盏")
_COUNT_FAMILY = "count"


def _quoted_figure(fact) -> str:
    """The figure as the span writes it ("五项", "2,300余台"), so the answer is literally in the cited passage."""
    for m in figure_matches(fact.span):
        values = figure_values(m.group(0))
        if values and same_figure(fact.base_value, values[0][0]):
            text = m.group(0)
            return text + "以上" if fact.qualifier == "以上" else text
    return fact.display()


@dataclass
class Composite:
    """What the assistant made of a question: the extraction(s) behind the answer, and the parts it was split into."""

    result: Extraction
    parts: list[str] = field(default_factory=list)


def understand(question: str, history: list[str] | None = None) -> QuestionFrame:
    """The one frame of a turn: the question normalized, condensed with its history (offline), then analyzed.

    Earlier turns are condensed in order too, so each carries the place and year it was answered for:
    "那阳城县呢？" re-asks the last turn as it was answered, whatever turn named its place.
    """
    q = normalize_question(question)
    frame = analyze(q)
    if frame.language != "zh":
        return frame  # an English question names what it asks about itself; Chinese turns' places are not carried
    earlier: list[QuestionFrame] = []
    for h in (normalize_question(h) for h in history or [] if h.strip()):
        earlier.append(_condensed(analyze(h), earlier))
    return _condensed(frame, earlier)


def _condensed(frame: QuestionFrame, history: list[QuestionFrame]) -> QuestionFrame:
    standalone = condense(frame, history)
    return frame if standalone == frame.question else analyze(standalone)


_ONLY_SCOPE = re.compile(r"呢|那|的呢|怎么样|如何")


def condense(frame: QuestionFrame, history: list[QuestionFrame]) -> str:
    """Offline follow-up condensation against the earlier turns' standalone frames, oldest first.

    "沁水县2024年处罚金额多少？" then "立案查处了多少件？" -> "沁水县2024年立案查处了多少件？" (the place and year of
    the last turn that named them are carried; a year only to the same place); "那阳城县呢？" -> the last turn re-asked with 阳城县 in place of its
    place (and likewise a year: "那2023年呢？").
    """
    q = frame.question
    if not history:
        return q
    last = history[-1]
    if not frame.terms and (frame.places or frame.years) and _ONLY_SCOPE.search(q):
        out = last.question
        new_places = _as_written(q, frame.places)
        old_places = _as_written(out, last.places)
        for old, new in zip(old_places, new_places):
            out = out.replace(old, new)
        for old, new in zip(last.years, frame.years):
            out = out.replace(old, new)
        prefix = "".join(new_places[len(old_places):]) + "".join(f"{y}年" for y in frame.years[len(last.years):])
        return prefix + out
    if not frame.places and _names_new_subject(frame, history):
        return q
    prefix = ""
    places = frame.places
    if not places:
        named = next((h for h in reversed(history) if h.places), None)
        if named is not None:
            prefix += "".join(_as_written(named.question, named.places))
            places = named.places
    if not frame.years and frame.kind != "year":
        # A year is carried from a turn about the same place: a question that moves to another place does not
        # inherit the year another place's figures were asked for. Nor does a question that asks for a year.
        dated = next((h for h in reversed(history) if h.years and (not places or set(places) & set(h.places))), None)
        if dated is not None:
            prefix += f"{dated.years[0]}年"
    return prefix + q if prefix else q


# jieba's tags of proper names: places and landmarks (rivers, bridges), people, other names; organisations (nt) only
# when named at length ("华为公司"), as jieba also tags the bare institutions a follow-up asks about ("公安局") nt.
_NAME_TAGS = ("ns", "nr", "nz")
_ORG_TAG, _MIN_ORG_NAME = "nt", 4


def _names_new_subject(frame: QuestionFrame, history: list[QuestionFrame]) -> bool:
    """True when the question names what it is about, by a proper name the last turn did not hold: it is read on its
    own ("沅水特大桥主跨多少米？" after a question about 江苏's drivers takes neither that place nor its year). A
    follow-up that names nothing ("立案查处了多少件？") or a name the last turn holds borrows the scope."""
    names = [w for w, tag in pos_words(frame.wh_left or frame.text)
             if len(w) > 1 and (tag in _NAME_TAGS or (tag == _ORG_TAG and len(w) >= _MIN_ORG_NAME))]
    return any(w not in history[-1].question for w in names)


def _as_written(text: str, places: list[str]) -> list[str]:
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


def _scoped(part: str, whole: QuestionFrame) -> QuestionFrame:
    """The frame of a part, given the places and years of the whole question when it names none itself."""
    frame = analyze(part)
    prefix = ""
    if not frame.places and whole.places:
        prefix += "".join(_as_written(whole.question, whole.places))
    if not frame.years and whole.years:
        prefix += f"{whole.years[0]}年"
    return analyze(prefix + part) if prefix else frame


class QuestionAnswerer:
    """Answers any question offline by composing single extractions (and the facts table, for superlatives)."""

    def __init__(self, extractor: ExtractiveAnswerer, corpus: Corpus, knobs: Knobs = KNOBS,
                 crosslingual: CrossLingualReader | None = None):
        self.extractor = extractor
        self.corpus = corpus
        self.crosslingual = crosslingual  # reads English questions; None without a multilingual embedding
        self.knobs = knobs

    def answer(self, frame: QuestionFrame) -> Composite:
        """Answer the turn whose frame `understand` made."""
        if frame.language != "zh":
            return Composite(self._foreign(frame))
        named = [*frame.places, *(t for t in frame.terms if _CONTENT_TERM.search(t))]
        if frame.kind == "other" and len(named) < 2:
            # "沁水县", "PM2.5" or '沁水" OR 1=1 --': no question word and one thing named; any sentence would be a
            # guess at what is asked.
            typed = re.search(re.escape(named[0]), frame.text, re.I) if named else None  # "PM2.5", not "pm2.5"
            about = f"想了解{typed.group() if typed else named[0]}的什么" if named else "想了解什么"
            return Composite(Extraction(False, f"请把问题写完整：{about}？例如“沁水县2024年处罚金额多少？”", [],
                                        reason="no question"))
        superlative = self._superlative(frame)
        if superlative is not None:
            return Composite(superlative)
        comparison = self._compare(frame)
        if comparison is not None:
            return Composite(comparison)
        parts = split_parts(frame.question)
        if len(parts) > 1:
            return Composite(self._multi(frame, parts), parts)
        return Composite(self.single(frame))

    def single(self, frame: QuestionFrame, places: list[str] | None = None) -> Extraction:
        from_facts = self._fact_answer(frame, places)
        if from_facts is not None:
            return from_facts
        passages = self.corpus.retrieve(frame.question)
        result = self.extractor.answer(frame, passages, places)
        if result.answered or result.reason != "place":
            return result
        corrected, notes = self._correct_places(frame, passages)
        if corrected == frame.question:
            return result
        retry = self.extractor.answer(analyze(corrected), self.corpus.retrieve(corrected))
        if retry.answered:
            retry.warnings.extend(notes)
            retry.answered_as = corrected
            return retry
        return result

    def _foreign(self, frame: QuestionFrame) -> Extraction:
        """A question asked in English: read by the multilingual reader, or declined with what it needs."""
        if self.crosslingual is None:
            return Extraction(False, f"{DECLINE_PREFIX}该问题的答案：用英文提问需要多语言向量模型"
                              "（默认的 ASSISTANT_EMBEDDING=e5，而不是 none）。", [], reason="language")
        # The Chinese names its pinyin names read as join the query: the lexical rankings find their articles.
        sounds = [place for places in frame.sounds_like.values() for place in places[:MAX_SOUNDS]]
        result = self.crosslingual.answer(frame, self.corpus.retrieve(" ".join([frame.question, *sounds])))
        pending = self.corpus.vectors_pending()
        if pending:
            result.warnings.append(f"还有 {pending} 个段落的向量正在后台计算：用英文提问暂时只能检索到已算好向量的段落，"
                                   "用中文提问不受影响。")
        return result

    # --- figure questions from the facts table ------------------------------------------

    def _fact_answer(self, frame: QuestionFrame, places: list[str] | None = None) -> Extraction | None:
        """"沁水县2024年处罚金额多少": the one fact of that place (and year) whose metric the question names,
        cited by its passage and quoted span. None when no fact fits or two facts with different values fit
        equally well: the passage reader decides then."""
        wanted = [short_place(p) for p in (places or frame.places)]
        if frame.kind != "figure" or not wanted or not frame.terms:
            return None
        k = self.knobs
        total = frame.term_total
        asked = set(char_bigrams(frame.question))
        years = {int(y) for y in frame.years}
        scored = []
        for place in dict.fromkeys(wanted):
            # short_place(subject) == place: the subject starts with the place (沁水 -> 沁水县)
            for fact in self.corpus.facts(subject_prefix=place, year=next(iter(years)) if len(years) == 1 else None):
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
                if cover >= k.fact_min_cover and named >= k.fact_min_named:
                    # Of two statements of a figure, the one whose sentence names its subject proves it better.
                    says_whose = place in fact.context or bool(re.search(r"全[县市区]|该[县市区局]", fact.context))
                    scored.append((cover + named + k.fact_names_place_bonus * says_whose, fact))
        if not scored:
            return None
        scored.sort(key=lambda s: -s[0])
        score, best = scored[0]
        rivals = [f for sc, f in scored[1:] if f.base_value != best.base_value and score - sc < k.fact_tie_margin]
        # Other documents stating another figure for the same place, year and metric: the sources disagree, and the
        # answer says so with each figure and its source instead of picking one.
        disagree = [f for f in rivals if f.doc_id != best.doc_id and (f.subject, f.year, f.metric) ==
                    (best.subject, best.year, best.metric)]
        if disagree:
            return self._disagreement([best, *dict((f.base_value, f) for f in disagree).values()])
        if rivals:
            return None  # two different figures fit: too close to call from the table
        passages = self.corpus.passages([best.chunk_id])
        if not passages:
            return None
        return Extraction(True, _quoted_figure(best), passages, sentence=best.span)

    def _disagreement(self, facts: list) -> Extraction | None:
        passages = self.corpus.passages([f.chunk_id for f in facts])
        if len(passages) < 2:
            return None
        figures = "；".join(f"{_quoted_figure(f)}（[{n}] {f.title or f.doc_id}）" for n, f in enumerate(facts, start=1))
        first = facts[0]
        when = f"{first.year}年" if first.year else ""
        note = f"资料之间说法不一：{first.subject}{when}{first.metric}有 {len(facts)} 个不同的数字，已全部列出，请核对原文。"
        return Extraction(True, f"资料说法不一：{figures}", passages, sentence=facts[0].span, warnings=[note])

    # --- misspelt places -----------------------------------------------------------------

    def _correct_places(self, frame: QuestionFrame, passages: list[Passage]) -> tuple[str, list[str]]:
        """Replace a place the articles never mention by a same-sounding one they do (杨城 -> 阳城)."""
        question = frame.question
        texts = []
        for p in passages:
            art = self.extractor.article_lookup(p)
            texts.append(art.title + "\n" + art.text)
        corpus = "\n".join(dict.fromkeys(texts))
        notes: list[str] = []
        if all(place in corpus or short_place(place) in corpus for place in frame.places):
            return question, notes  # the usual case, the places are there ("沁水县" as "沁水"): no pinyin needed
        sounds = pinyin(corpus)  # one syllable per character (non-Chinese runs come back whole)
        aligned = len(sounds) == len(corpus)
        for place in frame.places:
            if place in corpus or short_place(place) in corpus or not aligned:
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

    def _multi(self, whole: QuestionFrame, parts: list[str]) -> Extraction:
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

    def _superlative(self, frame: QuestionFrame) -> Extraction | None:
        """"哪个地方第三轮中央环保督察交办的群众举报件最多？": compare what each article reports."""
        m = _SUPERLATIVE.search(frame.question)
        if not m:
            return None
        terms = {t: w for t, w in frame.terms.items() if t not in (*_SUPERLATIVE_WORDS, "地方")}
        total = sum(terms.values())
        if not total:
            return None
        best: dict[str, tuple[float, object]] = {}
        for fact in self.corpus.facts():
            if frame.years and fact.year not in {int(y) for y in frame.years}:
                continue
            text = (fact.metric + fact.context).lower()
            cover = sum(w for t, w in terms.items() if t in text) / total
            if cover < self.knobs.superlative_min_cover:
                continue
            key = short_place(fact.subject)
            if key not in best or cover > best[key][0]:
                best[key] = (cover, fact)
        found = [f for _, f in best.values()]
        if len(found) < 2 or len({f.base_unit.split("/")[0] for f in found}) > 1:
            return None  # not a question the facts can settle: let the other paths try
        pick = max if m.group("dir")[-1] in _MORE else min
        winner = pick(found, key=lambda f: f.base_value)
        ordered = sorted(found, key=lambda f: -f.base_value)
        detail = "，".join(f"{f.subject}{f.display()}" for f in ordered)
        passages = self.corpus.passages([f.chunk_id for f in ordered])
        return Extraction(True, f"{winner.subject}（{detail}）", passages, sentence="；".join(f.span for f in ordered))

    # --- comparisons ---------------------------------------------------------------------

    def _compare(self, frame: QuestionFrame) -> Extraction | None:
        question = frame.question
        m = _COMPARE.search(question)
        if not m or word_at(question, m.start("dir")).lstrip("更较最比") != m.group("dir"):
            return None  # "低" or "多" as a word of its own, not inside one (部长, 增长, 多少)
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
            r = self.single(analyze(f"{word}{scope}{metric}是多少？"), places=[word])
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
