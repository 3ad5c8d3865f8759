"""spaCy-based NLU pieces wrapped as Rasa graph components (blank English pipeline only)."""
