"""Training loops, progress bars, evaluation and checkpoints for the demos."""
