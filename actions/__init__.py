"""Rasa SDK actions: each reads slots and metadata, calls one service in bot/, dispatches responses."""
