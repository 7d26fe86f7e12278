"""Advice's offline work: replaying a simulated bank through the real service and scoring what it said (the only
advice code that may import the simulator; the running service never imports this package)."""
