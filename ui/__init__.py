"""Streamlit helpers (the only shared code that imports streamlit): one package per page (train,
run, runs, inspect, greek, sweeps, webcam) and, here, what every page shares.

- ``resources``: cached reads of engine state (datasets, models, test-set predictions);
  ``state``: session-state keys, query parameters and the Train page's Start click.
- ``sidebar``: the shared sidebar; ``visitor``: this browser's visitor and the admin unlock;
  ``bootstrap``: a fresh server's first start; ``draw``: the drawing pad component.
In a page package, ``figures`` builds plotly figures, ``sections`` renders, ``analysis`` is the
page's one cached call and ``inputs`` holds widgets and their state.
"""
