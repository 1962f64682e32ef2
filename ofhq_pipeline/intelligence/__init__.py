"""Fan intelligence: chat windows, redaction, the LLM and rules classifiers, their tables."""
