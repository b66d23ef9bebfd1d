"""Video decoding, windowing and sampling, dataset layouts and the Lightning datamodules."""
