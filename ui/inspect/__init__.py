"""The Inspect page: its sections and one cached analysis call (``sections``), the plotly
figures (``figures``) and the epoch-by-epoch views (``epochs``).
"""
