"""The care-plan store: SQLAlchemy models, the engine/session factory, queries, seed and import."""
