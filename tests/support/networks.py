"""The shipped networks' passes, for tests that run every one."""

from __future__ import annotations

from tilework.superres.catalog import MODELS

# (model name, native factor) for every network file the weights package ships.
PASSES = [(name, factor) for name, model in MODELS.items() for factor in model.factors]
