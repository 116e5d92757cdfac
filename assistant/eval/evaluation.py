"""Evaluation against gold answers: accuracy, declines, retrieval hit@k/MRR, citation support, EM/F1, latency."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import GoldError
from ..text.chars import fold_width, strip_spaces
from ..text.figures import figure_values, same_figure
from ..text.names import short_place
from ..text.script import to_simplified
from ..text.tokens import char_bigrams

# --- gold sets --------------------------------------------------------------------------


@dataclass
class GoldItem:
    id: str
    question: str
    answers: list[str]
    require_all: bool = False
    answerable: bool = True
    evidence: str | None = None
    doc_id: str | None = None
    type: str = "untyped"
    history: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # unknown fields, kept as they were


_KNOWN = {"id", "question", "answers", "require_all", "answerable", "evidence", "doc_id", "type", "history"}


def load_gold(path: str | Path) -> list[GoldItem]:
    """Parse a gold .jsonl; the first malformed line raises GoldError naming file and line."""
    path = Path(path)
    if not path.exists():
        raise GoldError(f"{path}: 文件不存在")
    items: list[GoldItem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue

        def bad(reason: str) -> GoldError:
            return GoldError(f"{path}:{lineno}: {reason}")

        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise bad(f"不是有效的 JSON（{exc.msg}）") from None
        if not isinstance(obj, dict):
            raise bad("每行应是一个 JSON 对象")
        if not isinstance(obj.get("question"), str) or not obj["question"].strip():
            raise bad('缺少 "question"')
        answers = obj.get("answers", [])
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise bad('"answers" 应是字符串列表')
        answerable = obj.get("answerable", True)
        if not isinstance(answerable, bool):
            raise bad('"answerable" 应是 true 或 false')
        if answerable and not answers:
            raise bad('可回答的条目需要至少一个 "answers"')
        history = obj.get("history", [])
        if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
            raise bad('"history" 应是字符串列表')
        item_id = str(obj.get("id", f"line-{lineno}"))
        if item_id in seen:
            raise bad(f'重复的 id "{item_id}"')
        seen.add(item_id)
        items.append(
            GoldItem(
                id=item_id,
                question=obj["question"],
                answers=answers,
                require_all=bool(obj.get("require_all", False)),
                answerable=answerable,
                evidence=obj.get("evidence"),
                doc_id=obj.get("doc_id", obj.get("context_id")),  # CMRC names the paragraph context_id
                type=str(obj.get("type") or ("decline" if not answerable else "untyped")),
                history=history,
                extra={k: v for k, v in obj.items() if k not in _KNOWN},
            )
        )
    return items


# --- matching ---------------------------------------------------------------------------

_PUNCT = re.compile(r"[\s\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65!-/:-@\[-`{-~“”‘’—…·《》]")


def normalize_answer(text: str) -> str:
    """Compare answers as CMRC does: half-width, simplified, lower-case, no whitespace or punctuation."""
    return _PUNCT.sub("", to_simplified(fold_width(text or "")).lower())


def answer_matches(predicted: str, gold: str) -> bool:
    """Gold appears in the prediction after normalization, or as the same figure (394.179万元 == 3,941,790元)."""
    p, g = normalize_answer(predicted), normalize_answer(gold)
    if g and g in p:
        return True
    gold_figures = figure_values(gold)
    if not gold_figures:
        return False
    got = figure_values(predicted)
    return all(any(same_figure(v, pv) and (u == pu or not u) for pv, pu in got) for v, u in gold_figures)


def char_em_f1(predicted: str, answers: list[str]) -> tuple[float, float]:
    """Character-level exact match and F1 against the best gold answer (the CMRC 2018 convention)."""
    p = normalize_answer(predicted)
    best_em, best_f1 = 0.0, 0.0
    for gold in answers:
        g = normalize_answer(gold)
        if not g:
            continue
        best_em = max(best_em, float(p == g))
        common = sum((Counter(p) & Counter(g)).values())
        if common:
            precision, recall = common / len(p), common / len(g)
            best_f1 = max(best_f1, 2 * precision * recall / (precision + recall))
    return best_em, best_f1


def passage_hit(title: str, text: str, doc_id: str, item: GoldItem) -> bool:
    """A passage supports an item if it holds the evidence, or the answer inside the gold document."""
    body = strip_spaces(to_simplified(title + text))
    evidences = [item.evidence] if item.evidence else []
    evidences += [e for e in item.extra.get("evidence_all", []) if isinstance(e, str)]
    if any(strip_spaces(to_simplified(e)) in body for e in evidences):
        return True
    if item.doc_id is not None and doc_id != item.doc_id:
        return False
    if not evidences and item.doc_id is not None:
        return True  # document-level gold (CMRC): the right document is a hit
    return any(strip_spaces(to_simplified(a)) in body for a in item.answers)


def is_correct(item: GoldItem, answered: bool, answer: str) -> bool:
    if not item.answerable:
        return not answered
    if not answered:
        return False
    check = all if item.require_all else any
    return check(answer_matches(answer, g) for g in item.answers)


# --- correct, wrong or declined ----------------------------------------------------------------

# A question counts as "short" (a factoid with a checkable answer) when its shortest gold is at most this long.
SHORT_GOLD_CHARS = 12
# An answer is concise when it is at most CONCISE_FACTOR times its gold's length plus CONCISE_SLACK characters: a
# sentence that happens to contain the gold is not the exact answer.
CONCISE_FACTOR = 2.0
CONCISE_SLACK = 4
# A concise answer inside the gold counts when it is at least this share of it and states the same numbers.
PARTIAL_SHARE = 0.5
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")
_ASIDE = re.compile(r"（[^（）]*）|\([^()]*\)")


def is_short(item: GoldItem) -> bool:
    return item.answerable and bool(item.answers) and min(len(normalize_answer(a)) for a in item.answers) <= SHORT_GOLD_CHARS


def verdict(item: GoldItem, answered: bool, answer: str) -> str:
    """"correct", "wrong" or "declined": a stated answer is correct when it is concise and holds the gold (or the same
    figure), or is most of the gold with the same numbers; anything else stated is wrong."""
    if not item.answerable:
        return "correct" if not answered else "wrong"
    if not answered:
        return "declined"
    p = normalize_answer(answer)
    # What the answer says before its asides: "晋中（高平31件，晋中374件）" answers 晋中, its figures are the reason.
    said = _ASIDE.sub("", answer) or answer
    main = normalize_answer(said) or p
    for gold in item.answers:
        g = normalize_answer(gold)
        if not g or not p:
            continue
        if len(main) <= CONCISE_FACTOR * len(g) + CONCISE_SLACK and answer_matches(said, gold):
            return "correct"
        if p in g and len(p) >= PARTIAL_SHARE * len(g) and _NUMBERS.findall(p) == _NUMBERS.findall(g):
            return "correct"
    return "wrong"


def evidence_holds(item: GoldItem, shown: str) -> bool:
    """Whether the text shown with a decline (the sentence most likely to hold the answer) holds a gold answer."""
    body = normalize_answer(shown)
    return bool(body) and any(normalize_answer(g) and normalize_answer(g) in body for g in item.answers)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# --- running ----------------------------------------------------------------------------


def evaluate_item(assistant, item: GoldItem, k: int = 5) -> dict:
    """Ask one gold question (with its history, if any) and score the answer and the retrieval."""
    answer = assistant.ask(item.question, history=item.history)
    passages = assistant.retrieve(answer.standalone or item.question, k=k)
    ranks = [i for i, p in enumerate(passages, start=1) if passage_hit(p.title, p.text, p.doc_id, item)]
    em, f1 = char_em_f1(answer.answer if answer.answered else "", item.answers) if item.answerable else (None, None)
    cited_support = None
    if item.answerable and answer.answered:
        cited_support = any(passage_hit(c.title, c.text, c.doc_id, item) for c in answer.citations)
    return {
        "id": item.id,
        "type": item.type,
        "kind": answer.kind,
        "question": item.question,
        "history": item.history,
        "expected": item.answers,
        "require_all": item.require_all,
        "answerable": item.answerable,
        **answer.to_dict(),
        "correct": is_correct(item, answer.answered, answer.answer),
        "short": is_short(item),
        "verdict": verdict(item, answer.answered, answer.answer),
        "decline_evidence": evidence_holds(item, answer.evidence) if item.answerable and not answer.answered else None,
        "em": em,
        "f1": f1,
        "retrieval_rank": ranks[0] if ranks else None,
        "citation_supported": cited_support,
        "cited_chars": sum(len(c.text) for c in answer.citations),
        "retrieved_chars": [len(p.text) for p in passages],
        "retrieved_articles": len({(p.doc_id, p.article) for p in passages}),
        "top_passages": [
            {"title": p.title, "doc_id": p.doc_id, "chunk_id": p.chunk_id, "score": round(p.score, 5), "text": p.text}
            for p in passages[:3]
        ],
        **({"extra": item.extra} if item.extra else {}),
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(rows: list[dict]) -> dict:
    """Metrics over result rows: overall and per type."""

    def block(rs: list[dict]) -> dict:
        answerable = [r for r in rs if r["answerable"]]
        unanswerable = [r for r in rs if not r["answerable"]]
        declined = [r for r in rs if not r["answered"]]
        supported = [r["citation_supported"] for r in answerable if r["citation_supported"] is not None]
        lat = [r["latency_ms"] for r in rs]
        short = [r for r in rs if r.get("short")]
        short_declined = [r for r in short if r.get("verdict") == "declined"]
        return {
            "n": len(rs),
            "accuracy": _mean([float(r["correct"]) for r in rs]),
            # Short-gold questions judged three ways (a confident wrong answer is the worst outcome).
            "short_n": len(short),
            "short_correct": _mean([float(r.get("verdict") == "correct") for r in short]),
            "short_wrong": _mean([float(r.get("verdict") == "wrong") for r in short]),
            "short_declined": _mean([float(r.get("verdict") == "declined") for r in short]),
            # Of the short questions declined, how often the sentence shown with the decline holds the gold.
            "decline_evidence": _mean([float(bool(r.get("decline_evidence"))) for r in short_declined]),
            "em": _mean([r["em"] for r in answerable]),
            "f1": _mean([r["f1"] for r in answerable]),
            # Undefined ("–") unless the set holds questions to decline: a set of answerable ones only (the adversarial
            # set) would print 0.000 for its few declines, which reads as "declines everything wrongly".
            "decline_precision": (
                sum(not r["answerable"] for r in declined) / len(declined) if declined and unanswerable else None
            ),
            "decline_recall": (
                sum(not r["answered"] for r in unanswerable) / len(unanswerable) if unanswerable else None
            ),
            "hit@1": _mean([float(r["retrieval_rank"] == 1) for r in answerable]),
            "hit@5": _mean([float(r["retrieval_rank"] is not None and r["retrieval_rank"] <= 5) for r in answerable]),
            "mrr": _mean([1.0 / r["retrieval_rank"] if r["retrieval_rank"] else 0.0 for r in answerable]),
            # How many distinct articles the top 5 passages come from.
            "articles@5": _mean([r["retrieved_articles"] for r in rs if "retrieved_articles" in r]),
            "citation_support": _mean([float(s) for s in supported]),
            "latency_p50_ms": percentile(lat, 50),
            "latency_p95_ms": percentile(lat, 95),
            "mean_cited_chars": _mean([r["cited_chars"] for r in rs if r["answered"]]),
            "mean_retrieved_chars": _mean([statistics.mean(r["retrieved_chars"]) for r in rs if r["retrieved_chars"]]),
        }

    by_type: dict[str, list[dict]] = {}
    by_kind: dict[str, list[dict]] = {}
    for r in rows:
        by_type.setdefault(r["type"], []).append(r)
        by_kind.setdefault(r.get("kind", "other"), []).append(r)
    return {
        "overall": block(rows),
        "by_type": {t: block(rs) for t, rs in sorted(by_type.items())},
        "by_kind": {k: block(rs) for k, rs in sorted(by_kind.items())},  # what the answerer took each question for
    }


@dataclass
class EvalRun:
    gold_path: str
    rows: list[dict]
    summary: dict
    total: int
    partial: bool = False
    seconds: float = 0.0
    baseline: dict | None = None

    def to_dict(self) -> dict:
        return {
            "gold": self.gold_path,
            "items": len(self.rows),
            "total": self.total,
            "partial": self.partial,
            "seconds": round(self.seconds, 3),
            "metrics": self.summary,
            **({"baseline": self.baseline} if self.baseline else {}),
        }


def run_eval(
    assistant,
    gold_path: str | Path,
    results_path: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    k: int = 5,
) -> EvalRun:
    """Evaluate every gold item; results are appended line by line, so Ctrl-C leaves a usable partial run."""
    items = load_gold(gold_path)
    started = time.perf_counter()
    rows: list[dict] = []
    partial = False
    out = None
    if results_path:
        Path(results_path).parent.mkdir(parents=True, exist_ok=True)
        out = open(results_path, "w", encoding="utf-8")
    try:
        for n, item in enumerate(items, start=1):
            row = evaluate_item(assistant, item, k=k)
            rows.append(row)
            if out:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
            if progress:
                progress(n, len(items))
    except KeyboardInterrupt:
        partial = True
    finally:
        if out:
            out.close()
    return EvalRun(str(gold_path), rows, summarize(rows), len(items), partial, time.perf_counter() - started)


# --- floors -----------------------------------------------------------------------------


def check_floors(metrics: dict, gold_path: str | Path, floors_path: str | Path) -> list[str]:
    """Metrics below the floors (or, for keys "max_<metric>", above the ceilings) kept for this gold file (by file
    name) in a JSON config; [] when all pass."""
    config = json.loads(Path(floors_path).read_text(encoding="utf-8"))
    floors = {k: v for k, v in config.get(Path(gold_path).name, {}).items() if not k.startswith("_")}
    failures = []
    for metric, floor in floors.items():
        if metric.startswith("max_"):  # a ceiling: wrong answers may not rise above it
            value = metrics.get(metric[4:])
            if value is None or value > floor:
                failures.append(f"{metric[4:]} = {value if value is None else round(value, 4)} > {floor}")
            continue
        value = metrics.get(metric)
        if value is None or value < floor:
            failures.append(f"{metric} = {value if value is None else round(value, 4)} < {floor}")
    return failures


# --- baseline ---------------------------------------------------------------------------


def evaluate_baseline(documents: list, embedder, items: list[GoldItem], k: int = 5) -> dict:
    """Retrieval hit@1/hit@5/MRR and passage length of the stock llama-index pipeline on the same gold items."""
    from .baseline import llamaindex_baseline

    retriever = llamaindex_baseline(documents, embedder, k=k)
    ranks, lengths, latency = [], [], []
    for item in items:
        if not item.answerable:
            continue
        started = time.perf_counter()
        passages = retriever.retrieve(normalize_question_for_baseline(item), k=k)
        latency.append((time.perf_counter() - started) * 1000)
        hits = [i for i, p in enumerate(passages, start=1) if passage_hit(p["title"] or "", p["text"], p["doc_id"], item)]
        ranks.append(hits[0] if hits else None)
        lengths.extend(len(p["text"]) for p in passages)
    n = len(ranks) or 1
    return {
        "pipeline": f"llama-index {_llama_version()}: SentenceSplitter() defaults, VectorStoreIndex, top-{k}, same embedding",
        "n": len(ranks),
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr": sum(1.0 / r for r in ranks if r) / n,
        "mean_retrieved_chars": _mean(lengths),
        "retrieval_p50_ms": percentile(latency, 50),
    }


def normalize_question_for_baseline(item: GoldItem) -> str:
    """The stock pipeline gets the question as typed (follow-ups with their previous turn prepended)."""
    return " ".join([*item.history, item.question])


def _llama_version() -> str:
    from importlib.metadata import version

    try:
        return version("llama-index-core")
    except Exception:
        return "?"


# --- fact extraction --------------------------------------------------------------------


def is_facts_gold(path: str | Path) -> bool:
    """A facts gold file has "metric" and "value" fields instead of questions."""
    for line in Path(path).read_text(encoding="utf-8-sig").splitlines():
        if line.strip():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                return False
            return isinstance(obj, dict) and "metric" in obj and "value" in obj and "question" not in obj
    return False


def load_facts_gold(path: str | Path) -> list[dict]:
    from pydantic import ValidationError

    from ..store.records import Fact

    items = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            Fact(**{k: v for k, v in obj.items() if k in Fact.model_fields and v is not None or k == "year"},
                 **({"unit": ""} if obj.get("unit") is None else {}))
        except (json.JSONDecodeError, ValidationError, TypeError) as exc:
            raise GoldError(f"{path}:{lineno}: 不是有效的事实条目（{type(exc).__name__}）") from None
        # Compared in simplified characters, as the facts are extracted (a gold set in traditional script works).
        items.append({k: to_simplified(v) if isinstance(v, str) and k not in ("id", "doc_id") else v for k, v in obj.items()})
    return items


def _short_place(name: str) -> str:
    """A subject as a bare place: "晋城市生态环境局阳城分局" -> "晋城市阳城", "阳城县" -> "阳城"."""
    return short_place(re.sub(r"生态环境局|分局$", "", name or ""))


def metric_matches(predicted: str, gold: str) -> bool:
    """Metric names are free phrases, and the hand-checked ones are short paraphrases ("攻坚点位" for the text's
    "点位打好攻坚战"). They agree if one holds the other, if they share half their character pairs (Dice), or if
    the predicted name (at most 16 characters) holds 60% of the gold name's character pairs."""
    p, g = normalize_answer(predicted), normalize_answer(gold)
    if not p or not g:
        return False
    if p in g or g in p:
        return True
    a, b = set(char_bigrams(p)) or {p}, set(char_bigrams(g)) or {g}
    if 2 * len(a & b) / (len(a) + len(b)) >= 0.5:
        return True
    return len(p) <= 16 and len(a & b) / len(b) >= 0.6


@dataclass
class FactsEvalRun:
    """Extraction against hand-checked figures (a facts gold file): how many were checked, extracted and claimed,
    precision and recall, each field's accuracy, and the figures missed."""

    n: int
    predicted: int
    claimed: int
    precision: float | None
    recall: float | None
    field_accuracy: dict[str, float]
    failures: list[dict]

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_facts(predicted: list, gold: list[dict]) -> FactsEvalRun:
    """Precision and recall of extracted facts against hand-checked ones.

    A prediction *claims* a gold figure when it is in the same document with the same value and unit (magnitudes
    folded) and its quoted span overlaps the gold span. It is *correct* when subject, year and metric also agree.
    Recall = gold figures with a correct prediction / gold; precision = correct / predictions that claim a gold
    figure (the gold set does not list every figure of the pages, so other predictions are not judged).
    """
    from ..store.records import Fact

    def base(value, unit):
        f = Fact(subject="x", metric="x", value=float(value), unit=unit or "", span="x")
        return f.base_value, f.base_unit

    claimed: set[int] = set()
    correct_pred: set[int] = set()
    field_ok = Counter()
    recalled = 0
    failures = []
    for g in gold:
        gv, gu = base(g["value"], g.get("unit"))
        gspan = strip_spaces(g["span"])
        candidates = []
        for i, p in enumerate(predicted):
            if p.doc_id != g["doc_id"] or not same_figure(gv, p.base_value) or p.base_unit != gu:
                continue
            pspan = strip_spaces(to_simplified(p.span))
            if not (pspan in gspan or gspan in pspan or _overlap(pspan, gspan) >= 4):
                continue
            candidates.append(i)
        claimed.update(candidates)
        good = None
        for i in candidates:
            p = predicted[i]
            checks = {
                "subject": _short_place(p.subject) == _short_place(g["subject"])
                or _short_place(g["subject"]) in p.subject or _short_place(p.subject) in g["subject"],
                "year": p.year == g.get("year"),
                "metric": metric_matches(p.metric, g["metric"]),
            }
            if all(checks.values()):
                good = i
                field_ok.update(checks.keys())
                break
        if good is not None:
            correct_pred.add(good)
            recalled += 1
        else:
            best = predicted[candidates[0]] if candidates else None
            if best is not None:
                field_ok.update(
                    k for k, ok in {
                        "subject": _short_place(best.subject) == _short_place(g["subject"]),
                        "year": best.year == g.get("year"),
                        "metric": metric_matches(best.metric, g["metric"]),
                    }.items() if ok
                )
            failures.append({
                "id": g.get("id"), "expected": {k: g.get(k) for k in ("subject", "year", "metric", "value", "unit", "span")},
                "got": None if best is None else {
                    "subject": best.subject, "year": best.year, "metric": best.metric, "value": best.value,
                    "unit": best.unit, "span": best.span,
                },
            })
    n = len(gold)
    return FactsEvalRun(
        n=n,
        predicted=len(predicted),
        claimed=len(claimed),
        precision=len(correct_pred) / len(claimed) if claimed else None,
        recall=recalled / n if n else None,
        field_accuracy={k: field_ok[k] / n for k in ("subject", "year", "metric")},
        failures=failures,
    )


def _overlap(a: str, b: str) -> int:
    """Length of the longest common substring (short strings)."""
    best = 0
    for i in range(len(a)):
        for j in range(i + best + 1, len(a) + 1):
            if a[i:j] in b:
                best = j - i
            else:
                break
    return best
