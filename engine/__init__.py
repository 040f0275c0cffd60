"""Recognition using Deep Networks: the engine (pure PyTorch, no Streamlit).

Modules: config (dataclasses and presets), data (datasets and image preprocessing),
models (CNN/MLP and truncation), train (the one training loop), runs (run directories),
and the CLI in ``__main__``.
"""

__all__ = ["EngineError"]


class EngineError(Exception):
    """Base class of every error the engine raises on purpose (bad input, bad config...)."""
