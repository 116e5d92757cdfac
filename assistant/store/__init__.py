"""Stage 2: the index: a SQLite catalog (source of truth) with the vector store and BM25 derived from it."""
