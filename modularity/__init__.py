"""modularity: a reproducible companion to three papers on modularity in neural networks."""

__version__ = "0.1.0"
