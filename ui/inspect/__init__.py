"""The Inspect page: its one cached call (``analysis``), the renderers (``sections``), their plotly
figures (``figures``) and the epoch-by-epoch views (``epochs``).
"""
