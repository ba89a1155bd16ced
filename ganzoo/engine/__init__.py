"""The shared training loop and everything a run directory holds."""
