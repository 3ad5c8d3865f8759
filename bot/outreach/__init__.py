"""Proactive outreach: the assistant reaches out first, with consent, at the right time.

- rules.py: which messages are due (bot/knowledge/outreach.yml holds the timing and the words),
  planned as `outreach` rows once per (patient, rule, subject, due date); checked again and
  rendered from the store's current facts when sent.
- worker.py: sends the planned rows that are due (SMS through the outbox, or a notice for the web
  page), exactly once, within the patient's waking hours and the daily and weekly limits.
"""
