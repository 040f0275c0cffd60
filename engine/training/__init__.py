"""Training: the one loop, how it uses the machine, and how long a training will take. Builds on
data and nn.

- ``loop``: the one training loop (and evaluation).
- ``hardware``: device, CPU thread policy, the cancel flag's thread, GPU loss read-back, CUDA
  graphs.
- ``estimate``: how long a job will take, from a cost model calibrated by the finished runs.
"""
