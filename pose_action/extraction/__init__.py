"""Extraction: videos -> FEATURES (landmark CSVs, thumbnails, embeddings, manifest), resumable and parallel."""
