"""Training: group-aware splits, models built by name, streamed batches, training, evaluation and reports."""
