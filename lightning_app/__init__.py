"""Command-line entry point of the video fusion framework: ``python -m lightning_app``.

Not the PyPI package ``lightning-app``, which installs a module of the same name: never install both.

Layers run one way: the commands here build on ``datamodules``, ``models`` and ``callbacks``; those import from here
only ``SHARED_LEAVES``, modules importing nothing else from the project (``tests/test_package_layers.py`` checks both).
"""

SHARED_LEAVES = ("lightning_app.errors", "lightning_app.files", "lightning_app.terminal",
                 "lightning_app.checkpoint_file", "lightning_app.lightning_internals", "lightning_app.plots")
