"""The offline answerer's tuning constants in one frozen object: what each knob does and how it was set.

All were set by hand while building the rules (issues 2, 3 and 5), judged on the whole seeds gold set and the
whole CMRC 2018 dev set (3,219 questions), never on single items; docs/evaluation.md has the figures
they give. Change one only with `assistant eval` run on every set before and after.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Knobs:
    # --- which sentences may answer ------------------------------------------------------
    # The extractive reader reads the top this-many passages (or ASSISTANT_TOP_K, if larger): a figure is often
    # stated in a passage ranked below the top 5.
    reader_passages: int = 8
    # A sentence must hold at least this weighted share of the question's content words itself to be read at all
    # (a cheap filter before span finding).
    min_sentence_hits: float = 0.2
    # ...and, counting its neighbours, title and article at the weights below, this share to answer from.
    # Below it the answerer declines: the main decline-precision/recall trade-off on the seeds.
    min_coverage: float = 0.55
    # The learned reader reads more widely (its calibrated confidence decides whether to state an answer): sentences
    # holding this share of the question's words itself, this share counting context, and of those the
    # learned_sentences best covered.
    learned_min_sentence_hits: float = 0.1
    learned_min_coverage: float = 0.35
    learned_sentences: int = 8
    # Where a question word counts when it is not in the sentence itself: next to it, in the title, elsewhere
    # in the article (the sentence itself counts 1).
    neighbour_weight: float = 0.7
    title_weight: float = 0.5
    article_weight: float = 0.35

    # --- how candidate spans are ranked by the hand-set rules (ASSISTANT_READER=rules, the default) ----------
    # The learned reader (ASSISTANT_READER=learned, reader_model.py) replaces these weights with fitted ones.
    # score = sentence_weight * sentence coverage + the span's clause coverage - rank_penalty * passage rank ...
    sentence_weight: float = 2.0
    rank_penalty: float = 0.02
    # ... - unitless_penalty for a figure without a unit (a bare number is rarely what "多少" asks for) ...
    unitless_penalty: float = 0.2
    # ... ± unit_hint_bonus when the unit fits what the question implies (金额 -> 元, 浓度 -> 微克/立方米) or not ...
    unit_hint_bonus: float = 0.4
    # ... + head_bonus when the span ends in the noun the question asks for ("哪个社区" -> "…社区") ...
    head_bonus: float = 0.3
    # ... - distance_penalty per character between the span and the nearest question word, counted up to
    # distance_cap characters ...
    distance_penalty: float = 0.004
    distance_cap: int = 60
    # ... + anchor_weight * slot alignment: the span sits where the question word sits, next to the same words
    # ("已办结360件" for "已办结多少件"), within anchor_window characters.
    anchor_weight: float = 0.8
    anchor_window: int = 6
    # Author questions score a byline by the article's coverage times author_coverage_weight, less
    # author_rank_penalty per passage rank.
    author_coverage_weight: float = 3.0
    author_rank_penalty: float = 0.05

    # --- figure questions answered from the facts table -----------------------------------
    # A fact answers when the question's words cover this share of its metric and quoted span ...
    fact_min_cover: float = 0.75
    # ... and the question names at least this share of the fact's metric (character pairs) ...
    fact_min_named: float = 0.5
    # ... a fact whose sentence names its place (or 全县/该县) is preferred by this much ...
    fact_names_place_bonus: float = 0.05
    # ... and a different value scoring within this margin of the best makes the table abstain (the passage
    # reader decides instead).
    fact_tie_margin: float = 0.1
    # Superlatives across places ("哪个地方…最多") take facts whose metric and sentence cover this share.
    superlative_min_cover: float = 0.6


KNOBS = Knobs()
