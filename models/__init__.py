"""Frozen encoders, per-stream GRUs, cross-attention fusion, heads, losses and the LightningModule."""
