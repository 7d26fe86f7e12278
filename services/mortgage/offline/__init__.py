"""Mortgage's offline work: replaying a simulated bank through the care worker and scoring it (the only mortgage
code that may import the simulator; the running service never imports this package)."""
