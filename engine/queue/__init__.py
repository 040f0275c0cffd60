"""The task queue: trainings and sweep trials as tasks of one queue (Huey), its workers, caps and
a queued run's place in line. Builds on runs, fewshot and sweep; only the command line is above.

- ``taskq``: the queue on Huey (embedded SQLite, Redis or PostgreSQL), its task names, locks,
  heartbeats and the workers' registry.
- ``jobs``: trainings as tasks: submit, cancel, resume, the caps and the line; ``trials``: a
  sweep's trials as tasks of the same queue; ``standing``: a queued run's place and expected
  wait.
- ``tasks``: what a worker does with each task, the queue's housekeeping (``maintain``) and the
  worker itself (``python -m engine worker``).
"""
