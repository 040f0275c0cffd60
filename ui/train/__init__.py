"""The Train page: its settings widgets (``inputs``, ``layer_editor``) and the settings as a
TrainConfig and a shareable URL (``forms``).
"""
