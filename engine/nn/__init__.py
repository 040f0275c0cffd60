"""Networks: the models, classifying images with them (still images and live video), and what
they learned (layers, filters, saliency), ONNX export. Builds on data.

- ``models``: CNN/MLP as named ``nn.Sequential`` stacks, truncation, and what the outputs mean
  (log-probabilities or logits: loss and probabilities).
- ``predict``: class probabilities of images, on the model's own device (the one place that
  classifies).
- ``live``: live recognition on video frames; ``live_bench``: synthetic frames of real test
  digits, and how detections match them, for its tests and benchmarks.
- ``inspect``: what a network learned: layer table, filters, activations; ``saliency``: input
  gradient and Grad-CAM, without hooks or writes to a shared model; ``analysis``: every view the
  Inspect page shows, in one call.
- ``export``: ONNX export and the model card.
"""
