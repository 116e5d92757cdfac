"""Questions asked in English about Chinese articles, answered offline: the question's wh-word says which kind of span
is wanted, its years and place names (matched to the articles by their pinyin) scope the sentences, and a
multilingual embedding picks the clause that says what was asked. The answer quotes the article ("394.179万元")."""

from __future__ import annotations

import re
from typing import Callable

import numpy as np

from ..retrieve.retrieval import Passage
from ..store.records import ArticleText
from ..text.chars import CJK, clause_spans, sentence_spans, strip_spaces
from ..text.names import pinyin
from .extractive import DECLINE_PREFIX, Extraction, effective_years, kind_spans
from .frame import QuestionFrame, unit_fits

# What the offline reader can find in a Chinese sentence for an English question: spans it recognises without
# understanding the question's words. Other kinds ("what did the bureau announce?") are declined.
ANSWERABLE_KINDS = ("figure", "date", "year")
# The top passages read, of those whose articles name the question's places: the best passage is usually first, and
# further passages add clauses that only look alike. (The names are looked for in all the retrieved passages.)
CROSS_PASSAGES = 3
# At most this many clauses are embedded for one question (about 30 characters each, ~20 ms each on one core).
MAX_CLAUSES = 40
# A candidate in a lower-ranked passage loses this much cosine similarity per rank.
RANK_PENALTY = 0.01
# A Chinese place name is two to four characters long (沁水, 阳城县, 呼和浩特): the longest one read by sound.
MAX_NAME_CHARS = 4
_PLACE_CHARS = re.compile(f"[{CJK}]+")


def find_place(latin: str, text: str) -> str | None:
    """The first two-to-four-character Chinese name in `text` that reads as `latin` in pinyin ("qinshui" -> 沁水)."""
    latin = latin.lower()
    for run in _PLACE_CHARS.finditer(text):
        chars = run.group()
        if len(chars) < 2:
            continue
        sounds = pinyin(chars)
        for i, first in enumerate(sounds):
            if not latin.startswith(first):
                continue
            joined = first
            for j in range(i + 1, min(i + MAX_NAME_CHARS, len(chars))):
                joined += sounds[j]
                if joined == latin:
                    return chars[i : j + 1]
                if not latin.startswith(joined):
                    break
    return None


class CrossLingualReader:
    """Answers a figure, date or year asked in English from the top Chinese passages, or declines."""

    def __init__(self, embed_query: Callable[[str], np.ndarray], embed_documents: Callable[[list[str]], np.ndarray],
                 article_lookup: Callable[[Passage], ArticleText]):
        self.embed_query = embed_query
        self.embed_documents = embed_documents
        self.article_lookup = article_lookup

    def answer(self, frame: QuestionFrame, passages: list[Passage]) -> Extraction:
        if frame.kind not in ANSWERABLE_KINDS:
            return Extraction(False, f"{DECLINE_PREFIX}该问题的答案（用英文提问时，离线只能回答问数字、日期或年份的问题）。",
                              [], reason="kind")
        texts = [(a := self.article_lookup(p)).title + a.text for p in passages]  # each article, headline first
        # Each pinyin name, as the articles write it: a place name that reads so, or any name found in them by sound.
        places: list[list[str]] = []
        for latin in frame.latin_names:
            named = [p for p in frame.sounds_like.get(latin, []) if any(p in text for text in texts)]
            named += [hit for text in texts if (hit := find_place(latin, text))]
            if not named:
                return Extraction(False, f"{DECLINE_PREFIX}{latin.title()}的相关内容。", [], reason="place")
            places.append(list(dict.fromkeys(named)))
        candidates = self._candidates(frame, passages, texts, places)
        if not candidates:
            if frame.years:
                asked = "、".join(spellings[0] for spellings in places) + "、".join(f"{y}年" for y in frame.years)
                return Extraction(False, f"{DECLINE_PREFIX}{asked}的相关内容。", [], reason="year")
            return Extraction(False, f"{DECLINE_PREFIX}该问题的答案。", [], reason="no supported span")
        contexts = list(dict.fromkeys(c[3] for c in candidates))[:MAX_CLAUSES]
        similarity = dict(zip(contexts, self.embed_documents(contexts) @ self.embed_query(frame.question)))
        scored = [(float(similarity[c[3]]) - RANK_PENALTY * c[0], c) for c in candidates if c[3] in similarity]
        _, (_, span, sentence, _, passage) = max(scored, key=lambda s: s[0])
        return Extraction(True, span, [passage], sentence=sentence.strip())

    def _candidates(self, frame: QuestionFrame, passages: list[Passage], texts: list[str],
                    places: list[list[str]]) -> list[tuple[int, str, str, str, Passage]]:
        """(passage rank, span, sentence, the clause it is in with the clause before, passage) for every span of
        the asked kind in a sentence of the asked years, in an article naming the asked places, in the asked unit. The
        clause alone is what is compared with the question: on evals/english_gold.jsonl it chose the right figure
        more often than the clause with its neighbours or the whole sentence (accuracy 0.79 against 0.58)."""
        out = []
        scoped = [p for p, text in zip(passages, texts) if all(any(n in text for n in names) for names in places)]
        for rank, passage in enumerate(scoped[:CROSS_PASSAGES]):
            art = self.article_lookup(passage)
            offset = passage.start - art.start
            for s_a, s_b in sentence_spans(passage.text):
                sentence = passage.text[s_a:s_b]
                if frame.years and not effective_years(art.text, offset + s_a, sentence) & set(frame.years):
                    continue
                clauses = clause_spans(sentence, 0, len(sentence))
                for a, b, unit in kind_spans(frame.kind, sentence):
                    if frame.kind == "figure" and not unit_fits(frame, unit):
                        continue
                    at = next((i for i, (c, d) in enumerate(clauses) if c <= a < d), 0)
                    context = sentence[clauses[at][0] : clauses[at][1]] if clauses else sentence
                    out.append((rank, strip_spaces(sentence[a:b]), sentence, context, passage))
        return out
