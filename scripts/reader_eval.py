"""Correct, wrong and declined per set, for the offline reader: asks every (or a seeded sample of the) gold
question(s) through Assistant.ask and judges the short-gold ones three ways (assistant.eval.evaluation.verdict).

    python scripts/reader_eval.py crud=INDEX_DIR:GOLD.jsonl cmrc=INDEX_DIR:GOLD.jsonl:600 --out evals/reports/reader.json

Each set is name=index_dir:gold[:sample]. Writes the rows beside the summary (OUT with .jsonl) for reading failures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import Assistant  # noqa: E402
from assistant.eval.evaluation import char_em_f1, evidence_holds, is_short, load_gold, percentile, verdict  # noqa: E402

# The sample of a large set is drawn with this seed, so runs compare.
SAMPLE_SEED = 0


def run_set(name: str, spec: str) -> tuple[dict, list[dict]]:
    index_dir, gold, *rest = spec.split(":")
    items = load_gold(gold)
    if rest:
        items = random.Random(SAMPLE_SEED).sample(items, min(int(rest[0]), len(items)))
    assistant = Assistant(index_dir=index_dir)
    rows = []
    for item in items:
        started = time.perf_counter()
        ans = assistant.ask(item.question, history=item.history)
        ms = (time.perf_counter() - started) * 1000
        _, f1 = char_em_f1(ans.answer if ans.answered else "", item.answers) if item.answerable else (None, None)
        rows.append({
            "set": name, "id": item.id, "question": item.question, "gold": item.answers, "kind": ans.kind,
            "answered": ans.answered, "answer": ans.answer, "evidence": ans.evidence, "confidence": ans.confidence, "short": is_short(item),
            "verdict": verdict(item, ans.answered, ans.answer), "f1": f1, "ms": ms,
            "evidence_holds": evidence_holds(item, ans.evidence) if not ans.answered else None,
        })
    short = [r for r in rows if r["short"]]
    declined = [r for r in short if r["verdict"] == "declined"]
    share = lambda rs, v: round(sum(r["verdict"] == v for r in rs) / len(rs), 3) if rs else None  # noqa: E731
    f1s = [r["f1"] for r in rows if r["f1"] is not None]
    summary = {
        "set": name, "n": len(rows), "short": len(short),
        "correct": share(short, "correct"), "wrong": share(short, "wrong"), "declined": share(short, "declined"),
        "decline_evidence": round(sum(bool(r["evidence_holds"]) for r in declined) / len(declined), 3) if declined else None,
        "f1_all": round(100 * sum(f1s) / len(f1s), 1) if f1s else None,
        "p50_ms": round(percentile([r["ms"] for r in rows], 50), 1), "p95_ms": round(percentile([r["ms"] for r in rows], 95), 1),
    }
    assistant.close()
    return summary, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", help="name=index_dir:gold.jsonl[:sample]")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    summaries, rows = [], []
    for spec in args.sets:
        name, _, rest = spec.partition("=")
        summary, set_rows = run_set(name, rest)
        summaries.append(summary)
        rows += set_rows
        print(json.dumps(summary, ensure_ascii=False), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summaries, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        with open(args.out.with_suffix(".jsonl"), "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


if __name__ == "__main__":
    main()
