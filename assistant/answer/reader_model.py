"""The offline reader's learned parts: a candidate span's features to a score, and the chosen span's score to a
calibrated confidence that decides between stating it and declining with the evidence.

The parameters are a logistic regression's, fitted by scripts/fit_reader.py (`make fit-reader`) on
../shared/data/reading_train/ (CMRC 2018 trial, DRCD test in traditional script) and shipped beside this file as
reader_model.json, so answering needs nothing but numpy-free arithmetic. Answering never imports the fitting code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

# What describes a candidate span; the order is the order of the weights in reader_model.json.
FEATURES = (
    "sent_cov",  # weighted share of the question's words in the sentence, its neighbours, title and article
    "sent_hits",  # ... in the sentence itself
    "clause_cov",  # ... in the clause holding the span
    "rank_inv",  # 1 / (1 + the passage's retrieval rank)
    "distance",  # characters from the span to the nearest question word, over DISTANCE_CAP (capped at 1)
    "anchor",  # the span sits where the question word sits, next to the same words (0..1)
    "adj_left",  # a word just before the question word in the question is right before the span
    "adj_right",  # a word just after it is right after the span
    "right_before",  # a word after the question word stands right before the span ("B级企业[30家]")
    "left_after",  # a word before the question word stands right after the span
    "unit_fit",  # a figure whose unit is the one the question implies (金额 -> 元, 增长 -> %)
    "unitless",  # a figure without a unit
    "head",  # the span ends in the noun the question asks for ("哪个港口" -> "…港")
    "typed",  # the span is of the kind the question asks for (figure, date, person, place...)
    "gap",  # the span is the words the question leaves out between its anchors
    "whole",  # the span is a whole sentence
    "in_question",  # share of the span's characters the question already says
    "length",  # log(1 + characters) / 3
    "byline",  # a reporter's or editor's name (记者…), never the answer to 谁 unless the author is asked for
    "cov_gap",  # the sentence's coverage minus the best sentence's (0 for the best)
    "support",  # log(1 + how many passages/sentences offer the same span)
    "sent_best",  # the span's sentence is the best-covered one read
    "ngram",  # the span is a run of whole words near a question word (no typed span of the kind asked for)
    "noun_end",  # ... ending in a noun
    "proper",  # ... holding another proper noun (a work, a brand, a Latin name)
    "person_name",  # ... holding a person's name (jieba's nr)
    "place_name",  # ... a place name (ns)
    "org_name",  # ... an organization's name (nt)
    "verb_in",  # ... holding a verb
    "words",  # ... its number of words over NGRAM_WORDS
    "quoted",  # the span is inside 《》 or quotation marks
    "after_copula",  # the span follows 是/为/叫/称 ("…的首都是[巴黎]")
    "left_match",  # characters of the question before its question word that end right before the span, over 8
    "right_match",  # characters of the question after it that start right after the span, over 8
    "numeric",  # the span holds a numeral
    # What stands right before and after the span: a preposition, verb, particle, conjunction, noun, punctuation.
    "before_p", "before_v", "before_u", "before_c", "before_n", "before_punct",
    "after_p", "after_v", "after_u", "after_c", "after_n", "after_punct",
    "cuts_word",  # the span starts or ends inside a word ("16飞机" of "16架飞机" would)
)
# The kinds of question that share weights; each group adds its own weights to the shared ones.
KIND_GROUPS = {
    "figure": "figure", "rank": "figure", "date": "time", "year": "time", "person": "person", "author": "person",
    "place": "entity", "which": "entity", "other": "other", "reason": "other", "method": "other",
}
GROUPS = ("figure", "time", "person", "entity", "other")
# The distance feature saturates at this many characters.
DISTANCE_CAP = 60
MODEL_FILE = Path(__file__).with_name("reader_model.json")


def group_of(kind: str) -> str:
    return KIND_GROUPS.get(kind, "other")


def design(kind: str, x: list[float]) -> list[float]:
    """The model's input for a candidate of a question of this kind: the shared features, then each group's copy
    (zero but for the question's own group), then the group's bias."""
    g = group_of(kind)
    out = list(x)
    for name in GROUPS:
        out.extend(x if name == g else [0.0] * len(x))
    out.extend(1.0 if name == g else 0.0 for name in GROUPS)
    return out


# The lead a candidate has when no other span competes with it (in model score units).
MARGIN_WITHOUT_RIVAL = 4.0
# What the confidence reads of the chosen span besides its score (see calibration_inputs).
CALIBRATION_FEATURES = ("sent_cov", "sent_hits", "anchor", "left_match", "right_match", "typed", "support", "cuts_word")


def _related(a: str, b: str) -> bool:
    """Two spans that say the same thing at different lengths ("马萨卡医院" and "马萨卡")."""
    return a in b or b in a


def agrees(spans: list[str], best: int, other: int | None) -> float:
    """1 when a second ranker's pick is the chosen span (or a longer or shorter form of it)."""
    return float(other is not None and _related(spans[other], spans[best]))


def calibration_inputs(kind: str, scores: list[float], spans: list[str], best: int, x: dict[str, float],
                       agree: float) -> list[float]:
    """What the confidence is read from: the chosen span's score; its lead over the best span that is not a longer or
    shorter form of it; the softmax mass of the chosen span and of it with its other forms; how many candidates
    there were; a few of its own features; whether the hand-set rules pick it too; and a bias per group."""
    top = scores[best]
    weights = [math.exp(max(s - top, -60.0)) for s in scores]
    total = sum(weights)
    related = [_related(span, spans[best]) for span in spans]
    rival = max((s for s, r in zip(scores, related) if not r), default=top - MARGIN_WITHOUT_RIVAL)
    family = sum(w for w, r in zip(weights, related) if r)
    g = group_of(kind)
    row = [top, top - rival, 1.0 / total, family / total, math.log1p(len(scores)), agree,
           *(x.get(f, 0.0) for f in CALIBRATION_FEATURES)]
    out = list(row)
    for name in GROUPS:  # each kind of question reads them with weights of its own besides the shared ones
        out.extend(row if name == g else [0.0] * len(row))
    return out + [1.0 if name == g else 0.0 for name in GROUPS]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0


@dataclass(frozen=True)
class ReaderModel:  # noqa: PLW1641 (cached_property needs a __dict__: frozen dataclasses have one)
    weights: tuple[float, ...]  # one per design() input
    calibration: tuple[float, ...]  # one per calibration_inputs() input
    threshold: float  # the least confidence at which a short answer is stated
    report: dict

    def score(self, kind: str, x: dict[str, float]) -> float:
        """design(kind, x) · weights, read as each group's own weights (shared plus the group's) over the features set."""
        bias, weights = self._by_group[group_of(kind)]
        return bias + sum(weights[f] * v for f, v in x.items() if v and f in weights)

    @cached_property
    def _by_group(self) -> dict[str, tuple[float, dict[str, float]]]:
        d = len(FEATURES)
        shared = self.weights[:d]
        out = {}
        for i, g in enumerate(GROUPS):
            own = self.weights[(i + 1) * d : (i + 2) * d]
            out[g] = (self.weights[(len(GROUPS) + 1) * d + i], {f: shared[j] + own[j] for j, f in enumerate(FEATURES)})
        return out

    def confidence(self, kind: str, scores: list[float], spans: list[str], best: int, x: dict[str, float],
                   agree: float) -> float:
        z = sum(w * v for w, v in zip(self.calibration, calibration_inputs(kind, scores, spans, best, x, agree)))
        return _sigmoid(z)


@lru_cache(maxsize=1)
def load_model(path: str | None = None) -> ReaderModel:
    data = json.loads(Path(path or MODEL_FILE).read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path or MODEL_FILE}: fitted for other features; run make fit-reader")
    return ReaderModel(tuple(data["weights"]), tuple(data["calibration"]), float(data["threshold"]), data.get("report", {}))
