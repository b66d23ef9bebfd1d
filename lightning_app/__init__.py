"""Command-line entry point of the video fusion framework: ``python -m lightning_app``.

Not to be confused with the PyPI package ``lightning-app``, which also installs a
module named ``lightning_app``; the two must not be installed in the same environment.

Layers run one way: this package (the commands) builds on ``datamodules``, ``models`` and
``callbacks``, which import from it only its shared leaves, ``SHARED_LEAVES`` below: modules
that import nothing else from the project (``tests/test_package_layers.py`` checks both).
"""

SHARED_LEAVES = ("lightning_app.errors", "lightning_app.files", "lightning_app.terminal", "lightning_app.checkpoint_file")
