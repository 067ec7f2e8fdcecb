"""Fixtures of the training tests."""

from training.tiny import tiny_space

__all__ = ["tiny_space"]
