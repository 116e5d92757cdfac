"""Fit the offline reader's span scorer and its confidence calibration on the reading-comprehension training sets
(`make fit-reader`), and write assistant/answer/reader_model.json and evals/reports/fit_reader.md.

The training sets are ../shared/data/reading_train/ (CMRC 2018 trial, simplified; DRCD test, traditional). Each
question is read the way `Assistant.ask` reads it: its frame, the passages retrieval gives from an index of the set's
paragraphs, and the reader's candidate spans with their features. A candidate is labelled right when the eval's
judge (assistant.eval.evaluation.verdict) would call it correct.

1. The span scorer is a conditional logit over reader_model.design() of each candidate: a softmax over each
   question's candidates, fitted to the right ones (L2, Newton's method).
2. The confidence is a second logistic regression over reader_model.calibration_inputs() of each question's chosen
   span, fitted on out-of-fold scores (two folds by question), so it learns how often a chosen span is right.
3. The threshold is the lowest confidence at which the answers stated are right at least TARGET_PRECISION of the
   time (out of fold, on both sets together).

No figure here is read off the sets reported on (CMRC dev, crud_news_dev, the seeds).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant.answer.composite import understand  # noqa: E402
from assistant.answer.extractive import NON_FACTOID, ExtractiveAnswerer  # noqa: E402
from assistant.answer.reader_model import (  # noqa: E402
    FEATURES, GROUPS, MODEL_FILE, agrees, calibration_inputs, design, group_of,
)
from assistant.eval.evaluation import GoldItem, verdict  # noqa: E402
from assistant.text.zh import strip_spaces, to_simplified  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "reading_train"
SETS = {"cmrc_trial": "cmrc_trial", "drcd_test": "drcd_test"}
# Answers stated must be right this often on the training sets (out of fold). Issue 21 asks for 0.9; with today's
# features that states a tenth of the training answers (evals/reports/fit_reader.md has the curve). 0.7 is the knee
# of the training curve: from 0.7 to 0.8 the share answered falls from 0.43 to 0.26. ASSISTANT_READER_MIN_CONFIDENCE
# picks another point of the curve.
TARGET_PRECISION = 0.7
# The thresholds for these precisions are reported beside it (the trade-off a deployment may choose).
CURVE_PRECISIONS = (0.5, 0.6, 0.7, 0.8, 0.9)
# L2 strength of both regressions (per row of data, as in scikit-learn's C = 1 / (L2 * n)).
L2 = 1e-3
NEWTON_STEPS = 30
FOLDS = 2
FOLD_SEED = 0


def _index(name: str, cache: Path) -> Path:
    index_dir = cache / name
    if not (index_dir / "catalog.sqlite3").exists():
        Assistant(index_dir=index_dir).ingest(DATA / f"{SETS[name]}_corpus.jsonl")
    return index_dir


def _items(path: Path) -> list[GoldItem]:
    """The set's questions (a few have an empty question: skipped)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [GoldItem(str(r["id"]), r["question"], r["answers"]) for r in rows if r.get("question", "").strip() and r.get("answers")]


def collect(name: str, cache: Path, limit: int | None) -> list[dict]:
    """One record a question: its kind, and each candidate's features and label."""
    assistant = Assistant(index_dir=_index(name, cache))
    items = _items(DATA / f"{SETS[name]}_open.jsonl")
    if limit:
        items = items[:limit]
    view = assistant.reader_view()
    reader = ExtractiveAnswerer(view.article, learned=True)  # the learned reader's candidates, before any model
    out = []
    for item in items:
        frame = understand(item.question)
        if frame.language != "zh" or frame.kind in NON_FACTOID or frame.kind == "author":
            continue
        passages = view.retrieve(frame.question)
        cands, _, _, _ = reader.candidates(frame, passages)
        cands = [c for c in cands if c.features is not None]  # (a byline has none; author questions are skipped)
        rule = reader.rule_pick(frame, cands)
        rows = [[c.features.get(f, 0.0) for f in FEATURES] for c in cands]
        labels = [verdict(item, True, c.span) == "correct" for c in cands]
        spans = [c.span for c in cands]
        text = "".join(strip_spaces(p.text) for p in passages)
        reachable = any(strip_spaces(to_simplified(g)) in text for g in item.answers)
        sents = [f"{c.passage.chunk_id}:{c.sentence_at}" for c in cands]
        out.append({"set": name, "id": item.id, "kind": frame.kind, "x": rows, "y": labels, "spans": spans, "sents": sents,
                    "reachable": reachable, "rule": rule, "question": item.question, "gold": item.answers})
    assistant.close()
    return out


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = L2) -> np.ndarray:
    """Weights of an L2-regularized logistic regression (the last column of X is not special: biases are columns)."""
    n, d = X.shape
    w = np.zeros(d)
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -30, 30)))
        grad = X.T @ (p - y) / n + l2 * w
        hess = (X * (p * (1 - p))[:, None]).T @ X / n + l2 * np.eye(d)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w


def fit_listwise(records: list[dict], l2: float = L2) -> np.ndarray:
    """Weights of a conditional logit over each question's candidates (a softmax across them, the right spans
    sharing the target), L2-regularized, by Newton's method: the scorer learns which span beats the others of its
    question, not whether a span is right in the abstract."""
    data = []
    for r in records:
        if any(r["y"]) and not all(r["y"]):
            X = np.array([design(r["kind"], x) for x in r["x"]], dtype=float)
            y = np.array(r["y"], dtype=float)
            data.append((X, y / y.sum()))
    d = data[0][0].shape[1]
    n = len(data)

    def loss(w: np.ndarray) -> float:
        total = 0.5 * n * l2 * float(w @ w)
        for X, t in data:
            s = X @ w
            top = s.max()
            total -= float(t @ (s - top - np.log(np.exp(s - top).sum())))
        return total

    w = np.zeros(d)
    current = loss(w)
    for _ in range(NEWTON_STEPS):
        grad = n * l2 * w
        hess = n * l2 * np.eye(d)
        for X, t in data:
            s = X @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            grad += X.T @ (p - t)
            mean = X.T @ p
            hess += (X.T * p) @ X - np.outer(mean, mean)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-4:  # backtracking: a full Newton step can overshoot where the softmax saturates
            trial = loss(w - size * step)
            if trial <= current:
                break
            size /= 2
        w -= size * step
        improved, current = current - trial, trial
        if improved < 1e-6 * max(1.0, abs(current)):
            break
    return w


def _chosen(record: dict, w: np.ndarray) -> tuple[list[float] | None, bool] | None:
    """The calibration inputs of the span the scorer picks for a question (None for a whole sentence, which is
    never stated), and whether it is right."""
    if not record["x"]:
        return None
    X = np.array([design(record["kind"], x) for x in record["x"]])
    scores = [float(v) for v in X @ w]
    best = max(range(len(scores)), key=scores.__getitem__)
    x = dict(zip(FEATURES, record["x"][best]))
    if x["whole"] > 0:
        return None, bool(record["y"][best])
    agree = agrees(record["spans"], best, record["rule"])
    return calibration_inputs(record["kind"], scores, record["spans"], best, x, agree), bool(record["y"][best])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "index" / "reading_train", help="indexes of the training sets")
    parser.add_argument("--limit", type=int, help="only the first N questions of each set (a quick try)")
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument("--records", type=Path, help="fit on candidates written by an earlier --dump (same features)")
    parser.add_argument("--dump", type=Path, help="also write every question's candidates and labels here (JSON)")
    parser.add_argument("--report", type=Path, default=ROOT / "evals" / "reports" / "fit_reader.md")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.records:
        records = json.loads(args.records.read_text(encoding="utf-8"))
    else:
        records = [r for name in SETS for r in collect(name, args.cache, args.limit)]
    if args.dump:
        args.dump.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    print(f"{len(records)} questions, {sum(len(r['x']) for r in records)} candidates", flush=True)

    # Out-of-fold choices for the calibration.
    order = list(range(len(records)))
    random.Random(FOLD_SEED).shuffle(order)
    fold_of = {i: n % FOLDS for n, i in enumerate(order)}
    calib_X, calib_y, kinds = [], [], []
    unanswerable = 0
    for fold in range(FOLDS):
        train = [r for i, r in enumerate(records) if fold_of[i] != fold]
        w = fit_listwise(train)
        for i, r in enumerate(records):
            if fold_of[i] != fold:
                continue
            chosen = _chosen(r, w)
            if chosen is None or chosen[0] is None:
                unanswerable += 1
                continue
            calib_X.append(chosen[0])
            calib_y.append(float(chosen[1]))
            kinds.append(group_of(r["kind"]))
    weights = fit_listwise(records)
    cX, cy = np.array(calib_X), np.array(calib_y)
    calibration = fit_logistic(cX, cy)
    conf = 1.0 / (1.0 + np.exp(-(cX @ calibration)))

    # The lowest threshold whose stated answers are right TARGET_PRECISION of the time.
    ranked = np.argsort(-conf)
    right = np.cumsum(cy[ranked])
    precision = right / np.arange(1, len(ranked) + 1)
    ok = np.where(precision >= TARGET_PRECISION)[0]
    cut = int(ok.max()) if len(ok) else 0
    threshold = float(conf[ranked[cut]]) if len(ok) else 1.0
    curve = {}
    for target in CURVE_PRECISIONS:
        hit = np.where(precision >= target)[0]
        t = float(conf[ranked[int(hit.max())]]) if len(hit) else 1.0
        curve[str(target)] = {"threshold": round(t, 4), "stated_share": round(float((conf >= t).sum()) / len(records), 4)}
    n_questions = len(records)
    stated = conf >= threshold
    report = {
        "questions": n_questions,
        "candidates": int(sum(len(r["x"]) for r in records)),
        "no_candidate": unanswerable,
        "top1_right_out_of_fold": round(float(cy.mean()), 4) if len(cy) else None,
        "threshold": round(threshold, 4),
        "stated_share": round(float(stated.sum()) / n_questions, 4),
        "stated_precision": round(float(cy[stated].mean()), 4) if stated.any() else None,
        "correct_share": round(float(cy[stated].sum()) / n_questions, 4),
        "by_group": {
            g: {
                "questions": int(sum(1 for k in kinds if k == g)),
                "top1_right": round(float(cy[[k == g for k in kinds]].mean()), 4) if g in kinds else None,
                "stated": int(stated[[k == g for k in kinds]].sum()) if g in kinds else 0,
                "stated_precision": round(float(cy[[k == g and s for k, s in zip(kinds, stated)]].mean()), 4)
                if any(k == g and s for k, s in zip(kinds, stated)) else None,
            }
            for g in GROUPS
        },
        "curve": curve,
        "seconds": round(time.perf_counter() - started, 1),
    }
    model = {
        "features": list(FEATURES),
        "weights": [round(float(v), 6) for v in weights],
        "calibration": [round(float(v), 6) for v in calibration],
        "threshold": round(threshold, 6),
        "fitted_on": list(SETS),
        "target_precision": TARGET_PRECISION,
        "report": report,
    }
    args.out.write_text(json.dumps(model, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1))
    _write_report(args.report, model)


def _write_report(path: Path, model: dict) -> None:
    r = model["report"]
    names = ["shared", *GROUPS]
    d = len(FEATURES)
    lines = [
        "# Reader fit (make fit-reader)",
        "",
        f"Fitted on {', '.join(model['fitted_on'])} (../shared/data/reading_train/): {r['questions']} factoid questions,"
        f" {r['candidates']} candidate spans; {r['no_candidate']} questions had no candidate.",
        "",
        "| out of fold | value |",
        "| --- | --- |",
        f"| chosen span right | {r['top1_right_out_of_fold']} |",
        f"| threshold (precision ≥ {model['target_precision']}) | {r['threshold']} |",
        f"| questions answered | {r['stated_share']} |",
        f"| precision of the answers stated | {r['stated_precision']} |",
        f"| correct (of all questions) | {r['correct_share']} |",
        "",
        "| precision of the answers stated, at least | threshold | questions answered |",
        "| --- | --- | --- |",
        *(f"| {p} | {c['threshold']} | {c['stated_share']} |" for p, c in r["curve"].items()),
        "",
        "| group | questions | chosen span right | stated | precision stated |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {g} | {b['questions']} | {b['top1_right']} | {b['stated']} | {b['stated_precision']} |"
          for g, b in r["by_group"].items()),
        "",
        "Span-scorer weights (shared, then each group's addition):",
        "",
        "| feature | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    w = model["weights"]
    for i, f in enumerate(FEATURES):
        lines.append(f"| {f} | " + " | ".join(f"{w[b * d + i]:+.3f}" for b in range(len(names))) + " |")
    lines.append("| bias | – | " + " | ".join(f"{v:+.3f}" for v in w[len(names) * d :]) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
