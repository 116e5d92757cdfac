"""Stage 3: ranked passages for a question (BM25 and dense rankings fused)."""
