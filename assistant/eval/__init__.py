"""Evaluation against gold answers (assistant eval): metrics, reports and the llama-index baseline."""
