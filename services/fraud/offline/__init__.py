"""Fraud's offline work: datasets, training, replay and evaluation (the only fraud code that may import the
simulator; the running service never imports this package)."""
