"""Offline extractive answers: find the figure, name, date or place a question asks for in retrieved passages.

Each candidate span must lie in a cited passage, in an article that mentions every place and year the
question names, in a sentence that covers most of what the question asks about; otherwise the answerer
declines ("资料中未提及……") rather than guess.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache
from dataclasses import dataclass, field, replace
from typing import Callable

from ..ingest.normalize import byline_names
from ..retrieve.retrieval import Passage
from ..store.records import ArticleText
from ..text.zh import (
    CJK, DATE_RE, STOPWORDS, YEAR_RE, clause_spans, fold_width, figure_matches, most_named, pos_words, sentence_spans, short_place,
    strip_spaces, years_in,
)
from .frame import LOCATIVE, ROLE_PATTERN, UNIT_FAMILY, QuestionFrame
from .knobs import KNOBS, Knobs

_PLACE_SUFFIX = (
    "国家湿地公园|湿地公园|公园|景区|库区|水库|湿地|社区|村|镇|乡|县|区|市|湖|河|山|桥|断面|厂|公司|基地|园区|站|广场|学校|医院"
)

DECLINE_PREFIX = "资料中未提及"
# What a question about money or a ratio is measured in; a figure counted in things cannot answer it.
_NOT_COUNTED = {"元", "%"}

# --- candidates -------------------------------------------------------------------------


@dataclass
class Candidate:
    span: str
    passage: Passage
    sentence: str
    score: float
    coverage: float
    sentence_at: int = 0  # where the sentence starts in its article's text (its year is read from there)


@dataclass
class Extraction:
    """The answerer's verdict before it is dressed as an Answer."""

    answered: bool
    answer: str
    passages: list[Passage]
    sentence: str = ""
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    answered_as: str = ""  # the question actually answered, when a stage rewrote it (a misspelt place corrected)


def _figure_spans(sentence: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), (m.group("unit") or "").replace("％", "%")) for m in figure_matches(sentence)]


_NAME = re.compile(f"[{CJK}]{{2,3}}")


def _person_spans(sentence: str) -> list[tuple[int, int, str]]:
    out, pos = [], 0
    for w, flag in pos_words(sentence):
        start = sentence.find(w, pos)
        if start < 0:
            continue
        pos = start + len(w)
        if flag == "nr" and _NAME.fullmatch(w):
            out.append((start, start + len(w), ""))
    # Transliterated names joined by "·" ("玛丽莲·曼森") are one name.
    for m in re.finditer(f"[{CJK}]{{1,8}}(?:·[{CJK}]{{1,10}})+", sentence):
        out = [sp for sp in out if not (m.start() <= sp[0] < m.end())]
        out.append((m.start(), m.end(), ""))
    # Role + name ("局长王大勇表示") where the tagger missed the name.
    for m in re.finditer(ROLE_PATTERN + f"([{CJK}]{{2,3}}?)(?=表示|介绍|说|主持|指出|强调|在|，|。|、|等|$)", sentence):
        if not any(s <= m.start(1) < e for s, e, _ in out):
            out.append((m.start(1), m.end(1), ""))
    return out


def _word_offsets(text: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, word, is_verb) for the sentence's words."""
    out, pos = [], 0
    for w, flag in pos_words(text):
        if not w.strip():
            continue
        start = text.find(w, pos)
        if start < 0:
            continue
        pos = start + len(w)
        out.append((start, pos, w, flag.startswith("v") and flag != "vn"))
    return out


_PLACE_END = re.compile(f"(?:{_PLACE_SUFFIX})$")


def _plain_word(w: str) -> bool:
    return bool(re.fullmatch(f"[{CJK}A-Za-z0-9]+", w)) and w not in STOPWORDS


def _phrase_start(ws: list[tuple[int, int, str, bool]], j: int, qtext: str, skip: str = "", max_words: int = 4) -> int | None:
    """Walk left from word j: skip the question's own modifiers of the head, then take words the question
    does not say, stopping at a containing place ("釜山景区" around "法水湖"). None if nothing new was taken."""
    i, a = j - 1, ws[j][0]
    while i >= 0 and ws[i][1] == a and ws[i][2] in skip and _plain_word(ws[i][2]):
        a = ws[i][0]
        i -= 1
    taken = 0
    while i >= 0 and taken < max_words:
        start, end, w, verb = ws[i]
        if end != a or w in qtext or verb or not _plain_word(w):
            break
        if taken >= 1 and _PLACE_END.search(w):
            break
        a = start
        taken += 1
        i -= 1
    return a if taken else None


def _head_spans(sentence: str, head: str, head_text: str, qtext: str) -> list[tuple[int, int, str]]:
    """Spans ending in the question's head noun ("哪个社区" -> "老窑头社区") with words the question lacks."""
    ws = _word_offsets(sentence)
    out = []
    for j, (start, end, w, _) in enumerate(ws):
        if not w.endswith(head):
            continue
        if w != head and w not in qtext:  # a name that contains the head: "法水湖"
            a = _phrase_start(ws, j, qtext) or start
            out.append((a, end, ""))
            continue
        a = _phrase_start(ws, j, qtext, skip=head_text)
        if a is not None:
            out.append((a, end, ""))
    return out


def _place_spans(sentence: str, qtext: str) -> list[tuple[int, int, str]]:
    """Place names in the sentence that the question does not already name ("昌源河国家湿地公园")."""
    ws = _word_offsets(sentence)
    out = []
    for j, (start, end, w, _) in enumerate(ws):
        if not _PLACE_END.search(w) or w in qtext:
            continue
        k = j  # extend right to a later place word of the same name ("昌源河" ... "公园")
        for m in range(j + 1, min(j + 5, len(ws))):
            if ws[m][0] != ws[m - 1][1] or not _plain_word(ws[m][2]) or ws[m][2] in qtext:
                break
            if _PLACE_END.search(ws[m][2]):
                k = m
        a = _phrase_start(ws, j, qtext)
        out.append((a if a is not None else start, ws[k][1], ""))
    return out


def _anchor_alignment(sentence: str, a: int, b: int, frame: QuestionFrame, window: int) -> float:
    """How well the candidate sits where the question word sits (0..1): the best-placed anchor word,
    by its rarity and closeness ("B级企业30家" for "多少家B级企业", not "共有A级企业2家")."""
    anchors = set(frame.left + frame.right)
    if not anchors:
        return 0.0
    lowered = sentence.lower()
    top = max(frame.terms.get(w, 8.0) for w in anchors)
    best = 0.0
    for w in anchors:
        for m in re.finditer(re.escape(w), lowered):
            gap = a - m.end() if m.end() <= a else (m.start() - b if m.start() >= b else window + 1)
            if 0 <= gap <= window:
                best = max(best, (1.0 - gap / (window + 1)) * frame.terms.get(w, 8.0) / top)
    return best


_BECAUSE = re.compile(r"(?:因为|由于|因)([^，。；！？]{2,40})")
_LONG_DATE = re.compile(
    r"(?:公元前|公元)?\d{1,4}年代?(?:\d{1,2}月(?:\d{1,2}日)?)?(?:至\d{1,2}[月日]?\d{0,2}日?)?(?:春季|夏季|秋季|冬季|春|夏|秋|冬|初|底|末|中)?"
    r"|\d{1,2}世纪(?:\d{1,2}0年代)?(?:初|初期|中叶|中期|末|末期|上半叶|下半叶)?"
)


def _whole(sentence: str) -> list[tuple[int, int, str]]:
    text = sentence.strip()
    return [(0, len(text), "")] if text else []


def _date_spans(sentence: str) -> list[tuple[int, int, str]]:
    """Dates of any precision: 4月24日, 2006年5月11日至13日, 1990年代, 2009年春季, 20世纪中叶."""
    spans = [(m.start(), m.end(), "") for m in DATE_RE.finditer(sentence)]
    for m in _LONG_DATE.finditer(sentence):
        if m.end() - m.start() >= 3 and not any(a <= m.start() < b for a, b, _ in spans):
            spans.append((m.start(), m.end(), ""))
    return spans


def _role_before(sentence: str, start: int) -> str | None:
    m = re.search(ROLE_PATTERN + r"$", sentence[max(0, start - 6) : start])
    return m.group(0) if m else None


_QUOTED = re.compile(r"《[^》]{1,30}》|“[^”]{1,30}”")


def _gap_spans(sentence: str, frame: QuestionFrame) -> list[tuple[int, int, str]]:
    """The words the question leaves out between its anchors ("帮扶[顺世达铸业]等完成"), or right after the left one."""
    lowered = sentence.lower()
    out = []
    for lw in frame.left[:1]:
        for m in re.finditer(re.escape(lw), lowered):
            a = m.end()
            while a < len(sentence) and sentence[a] in "的了是为在":
                a += 1
            quoted = _QUOTED.match(sentence, a)
            if quoted:
                out.append((quoted.start(), quoted.end(), ""))
                continue
            ends = [lowered.find(rw, a) for rw in frame.right if lowered.find(rw, a) > a]
            stop = min(ends) if ends else a + 12
            clause_end = next((i for i in range(a, min(stop, len(sentence))) if sentence[i] in "，。；：！？（("), None)
            b = min(stop, clause_end if clause_end is not None else len(sentence), len(sentence))
            while b > a and sentence[b - 1] in "等的了和及与、":
                b -= 1
            last_de = sentence.rfind("的", a, b)
            if last_de >= 0 and b - last_de > 2:  # "当时非常强盛的列斯联" -> "列斯联"
                a = last_de + 1
            if b - a >= 2 and strip_spaces(sentence[a:b]) not in frame.text:
                out.append((a, b, ""))
    return out


def _term_hits(text: str, terms: dict[str, float]) -> float:
    lowered = text.lower()
    return sum(w for t, w in terms.items() if t in lowered)


def _context_coverage(sentence: str, neighbours: str, title: str, article: str, terms: dict[str, float],
                      knobs: Knobs) -> float:
    """Weighted share of the question's terms found in the sentence (1), next to it, in the title or in the article
    (at the knobs' lower weights)."""
    total = sum(terms.values())
    if not total:
        return 1.0
    got = 0.0
    for t, w in terms.items():
        if t in sentence.lower():
            got += w
        elif t in neighbours.lower():
            got += knobs.neighbour_weight * w
        elif t in title.lower():
            got += knobs.title_weight * w
        elif t in article.lower():
            got += knobs.article_weight * w
    return got / total


def _nearest_term_distance(sentence: str, a: int, b: int, terms: dict[str, float]) -> int:
    lowered = sentence.lower()
    best = 10_000
    for t in terms:
        for m in re.finditer(re.escape(t), lowered):
            d = a - m.end() if m.end() <= a else (m.start() - b if m.start() >= b else 0)
            best = min(best, max(d, 0))
    return best


@lru_cache(maxsize=64)
def _year_marks(article_text: str) -> tuple[list[int], list[str], str | None]:
    """Where the article names each year (end offsets, in order), the years, and its main year: read once per
    article, not once per sentence (a reader tries dozens of sentences of the same article)."""
    found = list(YEAR_RE.finditer(fold_width(article_text)))
    years = [m.group(1) for m in found]
    return [m.end() for m in found], years, most_named(years)


def effective_years(article_text: str, sent_start: int, sentence: str) -> set[str]:
    """The year(s) a sentence speaks of: its own, else the last year named before it, else the article's main year
    (a lead sentence of a review of 2024 speaks of 2024, not of the 2025 its plans name)."""
    own = set(years_in(sentence))
    if own:
        return own
    ends, years, main = _year_marks(article_text)
    before = bisect_right(ends, sent_start)
    if before:
        return {years[before - 1]}
    return {main} if main else set()


_YEAR_SPAN = re.compile(r"(?:19|20)\d{2}年")


def kind_spans(kind: str, sentence: str) -> list[tuple[int, int, str]]:
    """Spans of a kind that needs no more of the question to find: figure, date, year, person (start, end, unit)."""
    if kind == "figure":
        return _figure_spans(sentence)
    if kind == "date":
        return _date_spans(sentence)
    if kind == "year":
        return [(m.start(), m.end(), "") for m in _YEAR_SPAN.finditer(sentence)]
    if kind == "person":
        return _person_spans(sentence)
    return []


class ExtractiveAnswerer:
    """Chooses the best-supported span of the expected kind among retrieved passages, or declines."""

    def __init__(self, article_lookup: Callable[[Passage], ArticleText], knobs: Knobs = KNOBS):
        self.article_lookup = article_lookup  # the whole article a passage belongs to
        self.knobs = knobs

    def answer(self, frame: QuestionFrame, passages: list[Passage], places: list[str] | None = None) -> Extraction:
        """Answer one self-contained question from these passages; `places` adds places the answer's article
        must name (a comparison knows its subjects even when the question writes them without 市/县)."""
        extra = [short_place(p) for p in places or []]
        if any(p not in frame.places for p in extra):
            frame = replace(frame, places=[*frame.places, *(p for p in dict.fromkeys(extra) if p not in frame.places)])
        if not passages:
            return Extraction(False, f"{DECLINE_PREFIX}与该问题相关的内容。", [], reason="no passages")
        best, in_place, in_year = self._search(frame, passages)
        if best is None:
            if frame.places and not in_place:
                what = "、".join(frame.places)
                return Extraction(False, f"{DECLINE_PREFIX}{what}的相关内容。", [], reason="place")
            if frame.years:
                other_year = self._other_year(frame, passages) if frame.kind == "figure" else None
                if other_year is not None:
                    return other_year
            if frame.years and not in_year:
                what = "、".join(f"{y}年" for y in frame.years)
                subject = "、".join(frame.places)
                return Extraction(False, f"{DECLINE_PREFIX}{subject}{what}的相关内容。", [], reason="year")
            return Extraction(False, f"{DECLINE_PREFIX}该问题的答案。", [], reason="no supported span")
        cited = [best.passage] + [p for p in passages if p.chunk_id != best.passage.chunk_id and best.span in strip_spaces(p.text)][:1]
        return Extraction(True, best.span, cited, sentence=best.sentence.strip())

    def _other_year(self, frame: QuestionFrame, passages: list[Passage]) -> Extraction | None:
        """When the articles hold the figure only for another year: decline, and say plainly which year the
        figure they do hold is for ("资料只有2024年的数据：38微克/立方米")."""
        best, _, _ = self._search(replace(frame, years=[]), passages)
        if best is None:
            return None
        article = self.article_lookup(best.passage).text
        years = sorted(effective_years(article, best.sentence_at, best.sentence))
        if not years or set(years) & set(frame.years):
            return None
        asked = "、".join(frame.places) + "、".join(f"{y}年" for y in frame.years)
        note = f"{DECLINE_PREFIX}{asked}的数据；资料只有{'、'.join(f'{y}年' for y in years)}的数据：{best.span}。"
        return Extraction(False, note, [best.passage], sentence=best.sentence.strip(), reason="other year")

    def _search(self, frame: QuestionFrame, passages: list[Passage]) -> tuple[Candidate | None, int, int]:
        """The best candidate span, and how many passages came from articles naming the places and the years."""
        k = self.knobs
        total = sum(frame.terms.values()) or 1.0
        best: Candidate | None = None
        in_place = in_year = 0
        for rank, passage in enumerate(passages):
            art = self.article_lookup(passage)
            title, article, offset = art.title, art.text, passage.start - art.start
            if any(p not in article and p not in title for p in frame.places):
                continue
            in_place += 1
            if frame.years and not any(y in article or y in title for y in frame.years):
                continue
            in_year += 1
            if frame.kind == "author" and art.byline:
                names = byline_names(art.byline)
                cov = (_term_hits(title + article, frame.terms) / total) if frame.terms else 1.0
                score = cov * k.author_coverage_weight - rank * k.author_rank_penalty
                cand = Candidate("、".join(names), passage, art.byline, score, cov)
                if best is None or cand.score > best.score:
                    best = cand
                continue  # an article without a byline: look for the name in its sentences
            spans = sentence_spans(passage.text)
            for si, (s_a, s_b) in enumerate(spans):
                sentence = passage.text[s_a:s_b]
                if frame.years:
                    eff = effective_years(article, offset + s_a, sentence)
                    if not eff & set(frame.years):
                        continue
                sent_hits = _term_hits(sentence, frame.terms) / total
                if sent_hits < k.min_sentence_hits and frame.terms:
                    continue
                around = "".join(passage.text[x:y] for x, y in spans[max(si - 1, 0) : si + 2])
                sent_cov = _context_coverage(sentence, around, title, article, frame.terms, k)
                if frame.terms and sent_cov < k.min_coverage:
                    continue  # too little of the question is here to answer from this sentence
                for cand in self._spans(frame, sentence):
                    a, b, unit = cand
                    clause = next(
                        (sentence[c:d] for c, d in clause_spans(sentence, 0, len(sentence)) if c <= a < d), sentence
                    )
                    clause_cov = _term_hits(clause, frame.terms) / total
                    score = k.sentence_weight * sent_cov + clause_cov - rank * k.rank_penalty
                    if frame.kind == "figure":
                        if not unit:
                            score -= k.unitless_penalty
                        if frame.unit_family and UNIT_FAMILY.get(unit, unit) != frame.unit_family:
                            continue
                        if frame.unit_hints:
                            if not frame.unit_family and unit in UNIT_FAMILY and set(frame.unit_hints) & _NOT_COUNTED:
                                continue  # a count of things (300天, 56件) is never a sum of money or a ratio
                            score += k.unit_hint_bonus if any(h in unit for h in frame.unit_hints) else -k.unit_hint_bonus
                    if frame.head and sentence[a:b].rstrip(LOCATIVE).endswith(frame.head):
                        score += k.head_bonus  # the span is the kind of thing asked for ("…集团" for 什么集团)
                    if frame.terms:
                        distance = min(_nearest_term_distance(sentence, a, b, frame.terms), k.distance_cap)
                        score -= k.distance_penalty * distance
                        score += k.anchor_weight * _anchor_alignment(sentence, a, b, frame, k.anchor_window)
                    span = strip_spaces(sentence[a:b])
                    if span and (best is None or score > best.score):
                        best = Candidate(span, passage, sentence, score, sent_cov, offset + s_a)
        if best is not None and frame.terms and best.coverage < k.min_coverage:
            best = None
        return best, in_place, in_year

    def _spans(self, frame: QuestionFrame, sentence: str) -> list[tuple[int, int, str]]:
        if frame.kind == "figure":
            return _figure_spans(sentence)
        if frame.kind == "date":
            return _date_spans(sentence)
        if frame.kind == "rank":
            return [(m.start(), m.end(), "") for m in re.finditer(r"第[一二三四五六七八九十\d]+(?:名|位)?", sentence)]
        if frame.kind == "year":
            return kind_spans("year", sentence)
        if frame.kind in ("person", "author"):
            spans = [sp for sp in _person_spans(sentence) if sentence[sp[0] : sp[1]] not in frame.text]
            if frame.role:  # "副局长叫什么" wants the name right after 副局长, not after 局长
                spans = [sp for sp in spans if _role_before(sentence, sp[0]) == frame.role]
            return spans or ([] if frame.role else _gap_spans(sentence, frame))
        if frame.kind == "which" and frame.head:
            return _head_spans(sentence, frame.head, frame.head_text, frame.text) or _gap_spans(sentence, frame)
        if frame.kind in ("place", "which"):
            return _place_spans(sentence, frame.text) or _gap_spans(sentence, frame)
        if frame.kind == "reason":
            return [(m.start(1), m.end(1), "") for m in _BECAUSE.finditer(sentence)] or _whole(sentence)
        # Anything else: the words where the question word sits, else the sentence itself.
        return _gap_spans(sentence, frame) or _whole(sentence)
