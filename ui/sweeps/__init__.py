"""The Sweeps page: setup cards, the sweep picker, live trials and conclusions
(``sections``), and their plotly figures (``figures``).
"""
