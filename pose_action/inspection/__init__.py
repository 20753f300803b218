"""Inspection: summaries, reports, plots and renderings of landmark CSVs before training."""
