"""The care-team console: staff accounts and sessions (accounts.py), the queues staff work from
(queues.py), and its JSON API under /staff/api/ on the clinic's web app (api.py)."""
