"""Fit the offline reader's span scorer and its confidence calibration on the reading-comprehension training sets
(`make fit-reader`), and write assistant/answer/reader_model.json and evals/reports/fit_reader.md.

The training sets are ../shared/data/reading_train/ (CMRC 2018 trial, simplified; DRCD test, traditional). Each
question is read the way `Assistant.ask` reads it: its frame, the passages retrieval gives from an index of the set's
paragraphs, and the reader's candidate spans with their features. A candidate is labelled right when the eval's
judge (assistant.eval.evaluation.verdict) would call it correct.

1. The span scorer is a LightGBM lambdarank booster over reader_model.design() of each candidate: it ranks each
   question's candidates, the right ones first. Its trees ship flattened (reader_model.Trees reads them).
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
    FEATURES, GROUPS, MODEL_FILE, Trees, agrees, calibration_inputs, design, group_of,
)
from assistant.eval.evaluation import GoldItem, verdict  # noqa: E402
from assistant.text.chars import strip_spaces  # noqa: E402
from assistant.text.script import to_simplified  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "reading_train"
SETS = {"cmrc_trial": "cmrc_trial", "drcd_test": "drcd_test"}
# Answers stated must be right this often on the training sets (out of fold). Issue 21 asks for 0.9; with today's
# features that states 0.15 of the training answers (evals/reports/fit_reader.md has the curve). 0.75 states 0.45
# of them: a wrong answer costs the user more than a decline that quotes the sentence, so the point is above the
# curve's knee (0.7 states 0.55). ASSISTANT_READER_MIN_CONFIDENCE picks another point of the curve.
TARGET_PRECISION = 0.75
# The thresholds for these precisions are reported beside it (the trade-off a deployment may choose).
CURVE_PRECISIONS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.9)
# L2 strength of the calibration's regression (per row of data, as in scikit-learn's C = 1 / (L2 * n)).
L2 = 1e-3
NEWTON_STEPS = 30
# The span scorer's trees. Out of fold on the training sets, 15 leaves, 200 rounds and 100 rows a leaf pick the right
# span as often as 31 leaves or 500 rounds (0.48 of all questions, against 0.44 for a conditional logit over the
# same features) and state more answers at each precision; one thread and a fixed seed make a refit reproducible.
TREE_ROUNDS = 200
TREE_PARAMS = {
    "objective": "lambdarank", "label_gain": [0, 1], "lambdarank_truncation_level": 10,
    "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 100, "lambda_l2": 1.0,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
    "num_threads": 1, "seed": 0, "deterministic": True, "verbose": -1,
}
FOLDS = 2
FOLD_SEED = 0


def _index(name: str, cache: Path, data: Path) -> Path:
    index_dir = cache / name
    if not (index_dir / "catalog.sqlite3").exists():
        Assistant(index_dir=index_dir).ingest(data / f"{SETS[name]}_corpus.jsonl")
    return index_dir


def _items(path: Path) -> list[GoldItem]:
    """The set's questions (a few have an empty question: skipped)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [GoldItem(str(r["id"]), r["question"], r["answers"]) for r in rows if r.get("question", "").strip() and r.get("answers")]


def collect(name: str, cache: Path, data: Path, limit: int | None) -> list[dict]:
    """One record a question: its kind, and each candidate's features and label."""
    assistant = Assistant(index_dir=_index(name, cache, data))
    items = _items(data / f"{SETS[name]}_open.jsonl")
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


def fit_trees(records: list[dict]):
    """A LightGBM lambdarank booster over each question's candidates (design() of each): it learns which span beats
    the others of its question, not whether a span is right in the abstract. Questions with no right candidate
    teach it nothing and are left out."""
    import lightgbm  # the fitting library: `make fit-reader` installs it; answering never needs it

    used = [r for r in records if any(r["y"]) and not all(r["y"])]
    X = np.concatenate([design(r["kind"], r["x"]) for r in used])
    y = np.array([float(v) for r in used for v in r["y"]])
    data = lightgbm.Dataset(X, y, group=[len(r["x"]) for r in used])
    return lightgbm.train(TREE_PARAMS, data, num_boost_round=TREE_ROUNDS)


def flatten(booster) -> list[dict]:
    """The booster's trees as Trees reads them: per tree, each split node's feature, threshold and children (a
    leaf as ~its index), and the leaves' values."""
    out = []
    for tree in booster.dump_model()["tree_info"]:
        flat = {"feature": [], "threshold": [], "left": [], "right": [], "leaf": []}

        def walk(node: dict) -> int:
            if "leaf_value" in node or "split_feature" not in node:
                flat["leaf"].append(float(node.get("leaf_value", 0.0)))
                return ~(len(flat["leaf"]) - 1)
            if node["decision_type"] != "<=":
                raise ValueError(f"split {node['decision_type']}: only numerical splits are read")
            at = len(flat["feature"])
            flat["feature"].append(int(node["split_feature"]))
            flat["threshold"].append(float(node["threshold"]))
            flat["left"].append(0)
            flat["right"].append(0)
            flat["left"][at] = walk(node["left_child"])
            flat["right"][at] = walk(node["right_child"])
            return at

        walk(tree["tree_structure"])
        out.append(flat)
    return out


def _chosen(record: dict, trees: Trees) -> tuple[list[float] | None, bool] | None:
    """The calibration inputs of the span the scorer picks for a question (None for a whole sentence, which is
    never stated), and whether it is right."""
    if not record["x"]:
        return None
    scores = trees.predict(design(record["kind"], record["x"])).tolist()
    best = max(range(len(scores)), key=scores.__getitem__)
    x = dict(zip(FEATURES, record["x"][best]))
    if x["whole"] > 0:
        return None, bool(record["y"][best])
    agree = agrees(record["spans"], best, record["rule"])
    return calibration_inputs(record["kind"], scores, record["spans"], best, x, agree), bool(record["y"][best])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the training sets (reading_train)")
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
        missing = [f"{args.data / s}_{part}.jsonl" for s in SETS.values() for part in ("corpus", "open")
                   if not (args.data / f"{s}_{part}.jsonl").is_file()]
        if missing:
            raise SystemExit(f"fit_reader: the training sets are missing ({', '.join(missing)}); "
                             "pass --data with the folder of ../shared/data/reading_train.")
        records = [r for name in SETS for r in collect(name, args.cache, args.data, args.limit)]
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
        trees = Trees(flatten(fit_trees(train)))
        for i, r in enumerate(records):
            if fold_of[i] != fold:
                continue
            chosen = _chosen(r, trees)
            if chosen is None or chosen[0] is None:
                unanswerable += 1
                continue
            calib_X.append(chosen[0])
            calib_y.append(float(chosen[1]))
            kinds.append(group_of(r["kind"]))
    booster = fit_trees(records)
    flat = flatten(booster)
    _check_flat(booster, Trees(flat), records)
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
        "trees": flat,
        "importance": dict(zip([*FEATURES, *(f"group_{g}" for g in GROUPS)],
                               (round(float(v), 1) for v in booster.feature_importance("gain")))),
        "calibration": [round(float(v), 6) for v in calibration],
        "threshold": round(threshold, 6),
        "fitted_on": list(SETS),
        "target_precision": TARGET_PRECISION,
        "report": report,
    }
    args.out.write_text(model_text(model), encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1))
    _write_report(args.report, model)


def model_text(model: dict) -> str:
    """reader_model.json's text: indented, but a tree a line."""
    rest = json.dumps({k: v for k, v in model.items() if k != "trees"}, ensure_ascii=False, indent=1)
    trees = ",\n".join("  " + json.dumps(t, separators=(",", ":")) for t in model["trees"])
    return rest[: -len("\n}")] + ',\n "trees": [\n' + trees + "\n ]\n}\n"


def _check_flat(booster, trees: Trees, records: list[dict]) -> None:
    """The flattened trees score as the booster does (on a few questions' candidates)."""
    rows = [design(r["kind"], r["x"]) for r in records[:50] if r["x"]]
    gap = float(np.abs(booster.predict(X) - trees.predict(X)).max()) if rows and len(X := np.concatenate(rows)) else 0.0
    if gap > 1e-6:
        raise SystemExit(f"the flattened trees score {gap} off the booster's")


def _write_report(path: Path, model: dict) -> None:
    r = model["report"]
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
        f"Span scorer: {len(model['trees'])} trees. What it splits on, by the share of the gain:",
        "",
        "| feature | gain share |",
        "| --- | --- |",
    ]
    gains = model["importance"]
    total = sum(gains.values()) or 1.0
    for f, g in sorted(gains.items(), key=lambda kv: -kv[1]):
        if g:
            lines.append(f"| {f} | {g / total:.3f} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
