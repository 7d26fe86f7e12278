"""Backtesting on a bank's own history (the open input format of `history.py`)."""
