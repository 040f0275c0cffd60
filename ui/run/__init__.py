"""One run on screen, shared by the Train and Runs pages: the live and result views
(``sections``), their plotly figures (``figures``) and the "try it" panel (``try_it``).
"""
