"""Torch code of the built-in models, one file per family, each readable next to its paper."""
