"""The offline reader's learned parts: a candidate span's features to a score, and the chosen span's score to a
calibrated confidence that decides between stating it and declining with the evidence.

The scorer is a sum of regression trees ranking each question's candidates (LightGBM's lambdarank); the confidence
is a logistic regression over what the scores say of the chosen span. Both are fitted by scripts/fit_reader.py
(`make fit-reader`) on ../shared/data/reading_train/ (CMRC 2018 trial, DRCD test in traditional script) and shipped
beside this file as reader_model.json: answering reads the trees with numpy and never imports the fitting library.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

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


_COLUMN = {f: j for j, f in enumerate(FEATURES)}


def group_of(kind: str) -> str:
    return KIND_GROUPS.get(kind, "other")


def design(kind: str, x) -> np.ndarray:
    """The scorer's input for candidates of a question of this kind: their features (one row, or a row a candidate,
    in FEATURES order), then which group the kind is in (the trees split on it where a kind reads the features its
    own way)."""
    x = np.asarray(x, dtype=float)
    group = np.array([float(name == group_of(kind)) for name in GROUPS])
    return np.concatenate([x, np.broadcast_to(group, (*x.shape[:-1], len(GROUPS)))], axis=-1)


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


class Trees:
    """A sum of regression trees, as LightGBM fits them: in tree t, split node i sends a row left when its input
    feature[i] is at most threshold[i]; a child below 0 is the leaf ~child.

    All trees' nodes go in one table in which a leaf is a node that sends every row to itself, so every row walks
    every tree for the same number of steps (the deepest tree's depth) with no test of where it is: one gather a
    step for all candidates and all trees at once."""

    def __init__(self, trees: list[dict]):
        feature: list[int] = []
        threshold: list[float] = []
        child: list[int] = []  # 2 * node: the left child, 2 * node + 1: the right child
        value: list[float] = []
        roots = []
        for t in trees:
            inner, start = len(t["feature"]), len(feature)

            def node(c: int) -> int:
                return start + (c if c >= 0 else inner + ~c)

            for i in range(inner):
                feature.append(t["feature"][i])
                threshold.append(t["threshold"][i])
                child += [node(t["left"][i]), node(t["right"][i])]
                value.append(0.0)
            for k, v in enumerate(t["leaf"]):
                feature.append(0)
                threshold.append(math.inf)  # every row goes "left", to the leaf itself
                child += [start + inner + k] * 2
                value.append(v)
            roots.append(node(0) if inner else start + inner)
        self.feature = np.array(feature, dtype=np.int64)
        self.threshold = np.array(threshold)
        self.child = np.array(child, dtype=np.int64)
        self.value = np.array(value)
        self.roots = np.array(roots, dtype=np.int64)
        self.depth = max((_depth(t, 0) for t in trees if t["feature"]), default=0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=float)
        flat = X.ravel()
        offset = (np.arange(len(X)) * X.shape[1])[:, None]
        node = np.repeat(self.roots[None, :], len(X), axis=0)
        for _ in range(self.depth):
            right = flat[offset + self.feature[node]] > self.threshold[node]
            node = self.child[2 * node + right]
        return self.value[node].sum(axis=1)


def _depth(tree: dict, i: int) -> int:
    """Splits on the longest path from node i of a tree down to a leaf."""
    return 1 + max(_depth(tree, c) if c >= 0 else 0 for c in (tree["left"][i], tree["right"][i]))


@dataclass(frozen=True)
class ReaderModel:
    trees: Trees  # the span scorer
    calibration: tuple[float, ...]  # one per calibration_inputs() input
    threshold: float  # the least confidence at which a short answer is stated
    report: dict

    def scores(self, kind: str, xs: list[dict[str, float]]) -> list[float]:
        """The scorer's score of each candidate (features by name, missing ones 0) of a question of this kind."""
        X = np.zeros((len(xs), len(FEATURES)))
        for row, x in zip(X, xs):
            for f, v in x.items():  # a candidate sets a few features of many
                if (j := _COLUMN.get(f)) is not None:
                    row[j] = v
        return self.trees.predict(design(kind, X)).tolist()

    def confidence(self, kind: str, scores: list[float], spans: list[str], best: int, x: dict[str, float],
                   agree: float) -> float:
        z = sum(w * v for w, v in zip(self.calibration, calibration_inputs(kind, scores, spans, best, x, agree)))
        return _sigmoid(z)


@lru_cache(maxsize=1)
def load_model(path: str | None = None) -> ReaderModel:
    data = json.loads(Path(path or MODEL_FILE).read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path or MODEL_FILE}: fitted for other features; run make fit-reader")
    return ReaderModel(Trees(data["trees"]), tuple(data["calibration"]), float(data["threshold"]), data.get("report", {}))
