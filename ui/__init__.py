"""Streamlit helpers shared by the pages (the only shared code that imports streamlit)."""
