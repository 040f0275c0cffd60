"""The Runs page: the table of runs and their comparison (``sections``).
One run's own views are in ``ui.run``.
"""
