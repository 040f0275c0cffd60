"""The Webcam page: how live video connects and the camera probe (``camera``), the
video callback's holder, the live panel and the photo fallback (``sections``).
"""
