"""Few-shot classes (Greek letters): embeddings of a trained network and classifiers on them,
sample sets, their files and a visitor's stored set. Builds on nn and runs.

- ``embed``: embeddings of a truncated network, the few-shot classifiers (nearest neighbour,
  centroid, a cosine head); ``live``: the webcam's classifier of those classes.
- ``samples``: a few-shot sample set; ``files``: its files (ZIP, the seed's CSV pair);
  ``store``: a visitor's stored set, and its expiry.
"""
