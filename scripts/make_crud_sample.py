"""Cut the CI sample of crud_news_dev: a seeded draw of questions, their gold articles, and other news as
distractors. Writes evals/crud_news_sample.jsonl (questions) and evals/crud_news_sample_corpus.jsonl.

Usage: python scripts/make_crud_sample.py [--source ../shared/data/crud_news_dev] [--questions 80] [--others 400]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data" / "crud_news_dev")
    ap.add_argument("--questions", type=int, default=80)
    ap.add_argument("--others", type=int, default=400)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    questions = [json.loads(line) for line in (args.source / "questions.jsonl").open(encoding="utf-8")]
    docs = [json.loads(line) for line in (args.source / "corpus.jsonl").open(encoding="utf-8")]
    chosen = rnd.sample(questions, args.questions)
    gold = {q["context_id"] for q in chosen}
    all_gold = {q["context_id"] for q in questions}  # other questions' articles stay out: no second right answer
    others = [d for d in docs if d["id"] not in all_gold]
    corpus = [d for d in docs if d["id"] in gold] + rnd.sample(others, args.others)
    rnd.shuffle(corpus)
    out = ROOT / "evals"
    with (out / "crud_news_sample.jsonl").open("w", encoding="utf-8") as f:
        for q in chosen:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    with (out / "crud_news_sample_corpus.jsonl").open("w", encoding="utf-8") as f:
        for d in corpus:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    print(f"{len(chosen)} questions, {len(corpus)} articles ({sum(len(d['text']) for d in corpus):,} characters)")


if __name__ == "__main__":
    main()
