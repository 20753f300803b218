"""Synthetic actors: a drawn humanoid performing actions in scenes, with exact ground-truth joints."""
