"""Real-time, explainable card fraud scoring and the customer's "was this you?" loop."""
