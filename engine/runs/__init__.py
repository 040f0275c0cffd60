"""Runs: run folders and their checkpoints, executing one, the processes that do it, and hosted
mode's visitors, quotas and admin password. Builds on training.

- ``store``: run directories (``Run``), atomic writes, checkpoints; ``snapshots``: the weights
  after every epoch.
- ``runner``: executes a run directory (``train``/``resume``, hence every background job).
- ``procs``: file locks, detached children, SIGTERM as a flag, ``pid_alive``, the environment of
  background workers.
- ``hosting``: hosted mode: visitors, ownership and quotas; ``admin``: the admin password (a
  growing wait after wrong tries) and unlocks that survive a reload.
"""
