"""Command-line entry point of the video fusion framework: ``python -m lightning_app``.

Not to be confused with the PyPI package ``lightning-app``, which also installs a
module named ``lightning_app``; the two must not be installed in the same environment.
"""
