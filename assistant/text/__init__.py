"""Stage 0: Chinese text rules in one place (width, spacing, sentences, tokens, figures, numerals, places)."""
