"""Recognition using Deep Networks: the engine (pure PyTorch, no Streamlit).

Layers, lowest first. A module imports only from its own layer and the ones before it
(tests/test_imports.py checks it); each package's ``__init__`` describes its modules.

- the base: ``config`` (configs as frozen dataclasses, validation, conv geometry), ``presets``
  (the named trainings: the seed's networks, the fast preset, the default digit model),
  ``glyph_sets`` (which extra glyph classes there are; data only), ``settings`` (every
  ENGINE_*/WEBRTC_* environment variable, read and checked in one place) and ``EngineError``;
- ``data``: datasets and their sources, photo preprocessing, augmentation, glyph classes;
- ``nn``: models, prediction (still and live), inspection, saliency, ONNX export;
- ``training``: the one loop, hardware use, time estimates;
- ``runs``: run folders, checkpoints, the runner, processes, hosted visitors and quotas;
- ``fewshot``: embeddings, few-shot classifiers and sample sets (Greek letters);
- ``sweep``: experiments over training settings on Optuna, with its CLI;
- ``queue``: trainings and sweep trials as tasks of one queue, and its workers;
- the command line: ``__main__`` (``python -m engine``) and ``cli_recognize`` (its predict, greek
  and live commands).
"""

__all__ = ["EngineError"]


class EngineError(Exception):
    """Base class of every error the engine raises on purpose (bad input, bad config...)."""
