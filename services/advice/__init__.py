"""Personalized advice nudges from the transaction stream."""
