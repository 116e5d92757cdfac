"""The OpenAI-compatible LLM client and the prompt files; below ingestion, which may extract facts with it."""
