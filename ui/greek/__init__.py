"""The Greek letters page: samples, queries and settings (``inputs``), the one cached call
(``analysis``), its plotly figures and pictures (``figures``) and renderers (``sections``).
"""
