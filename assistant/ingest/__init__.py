"""Stage 1: files -> normalized text -> articles -> chunks, and the figures of each article as facts."""
