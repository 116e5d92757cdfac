"""Stage 4: answers from passages: the question frame, composite questions, the extractive reader, the LLM path."""
