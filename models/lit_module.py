"""The LightningModule: frozen feature extraction, the fusion model, focal loss and metrics."""

from __future__ import annotations

from typing import Any, Optional

import lightning.pytorch as pl
import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryF1Score

from lightning_app.errors import ConfigError
from models.feature_extractor import FrozenFeatureExtractor
from models.fusion import FusionMode
from models.fusion_model import CrossAttentiveGRU
from models.losses import BinaryFocalLoss
from models.stream_encoder import InputNorm

EXTRACTOR_PREFIX = "extractor."
ENCODER_KEYS = ("video_encoder", "clip_encoder", "captioner")


def _binary_metrics(prefix: str, threshold: float) -> MetricCollection:
    return MetricCollection(
        {
            "f1": BinaryF1Score(threshold=threshold),
            "acc": BinaryAccuracy(threshold=threshold),
            "auroc": BinaryAUROC(),
        },
        prefix=prefix,
    )


class VideoFusionModule(pl.LightningModule):
    """Violence classification (DVD-style) from video, image and caption streams.

    Args:
        video_encoder / clip_encoder / captioner: registry specs of the frozen encoders,
            ``{name: ..., <options>}`` (see ``models/encoders``).
        hidden_dim: GRU hidden size d_h; the fused vector has 2 d_h (4 d_h if bidirectional).
        num_heads: attention heads in each cross-attention block.
        fusion_mode: ``sequence`` attends over GRU output sequences; ``final_state`` is the
            paper's one-vector-per-stream form.
        bidirectional: also attend from video and text to image.
        input_norm: normalisation of encoder features before each GRU (``layer``,
            ``center`` = per-window centring and standardisation, ``none``).
        focal_alpha / focal_gamma: focal loss weighting (alpha=None: no class weighting).
        lr / weight_decay: AdamW settings.
        threshold: probability above which a window is called violent.
    """

    def __init__(
        self,
        video_encoder: Optional[dict[str, Any]] = None,
        clip_encoder: Optional[dict[str, Any]] = None,
        captioner: Optional[dict[str, Any]] = None,
        hidden_dim: int = 128,
        num_heads: int = 1,
        fusion_mode: FusionMode = "sequence",
        bidirectional: bool = False,
        input_norm: InputNorm = "layer",
        dropout: float = 0.1,
        focal_alpha: Optional[float] = 0.25,
        focal_gamma: float = 2.0,
        lr: float = 3e-4,
        weight_decay: float = 0.01,
        threshold: float = 0.5,
    ):
        super().__init__()
        video_encoder = video_encoder or {"name": "videoprism"}
        clip_encoder = clip_encoder or {"name": "open_clip"}
        captioner = captioner or {"name": "blip"}
        self.save_hyperparameters()
        self.hparams.update(video_encoder=video_encoder, clip_encoder=clip_encoder, captioner=captioner)
        self.extractor = FrozenFeatureExtractor(video_encoder, clip_encoder, captioner)
        self.model = CrossAttentiveGRU(
            self.extractor.dims, hidden_dim, num_heads, fusion_mode, bidirectional, input_norm, dropout, num_outputs=1
        )
        self.loss_fn = BinaryFocalLoss(focal_alpha, focal_gamma)
        self.lr, self.weight_decay = lr, weight_decay
        self.train_metrics = _binary_metrics("train/", threshold)
        self.val_metrics = _binary_metrics("val/", threshold)
        self.test_metrics = _binary_metrics("test/", threshold)

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """Window logits (B,)."""
        features, _ = self.extractor(batch["video"], batch["image"], batch["text"])
        return self.model(features).squeeze(-1)

    def _step(self, batch: dict[str, Any], stage: str, metrics: MetricCollection) -> torch.Tensor:
        logits = self(batch)
        target = batch["label"]
        loss = self.loss_fn(logits, target.float())
        size = target.shape[0]
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, batch_size=size, sync_dist=True)
        metrics.update(torch.sigmoid(logits.detach().float()), target.int())
        self.log_dict(metrics, on_step=False, on_epoch=True, batch_size=size)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val", self.val_metrics)

    def test_step(self, batch, batch_idx):
        self._step(batch, "test", self.test_metrics)

    def predict_step(self, batch, batch_idx):
        probability = torch.sigmoid(self(batch).float())
        return {
            "video": list(batch["video_id"]),
            "start": batch["start"].tolist(),
            "end": batch["end"].tolist(),
            "probability": probability.tolist(),
            "label": batch["label"].tolist(),
        }

    def configure_optimizers(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    # Checkpoints hold the trainable part only; the frozen encoders are named in the
    # hyperparameters and rebuilt from them (tiny ones from their fixed seed).
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(EXTRACTOR_PREFIX)]:
            del state[key]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("hyper_parameters", {})
        for key in ENCODER_KEYS:
            if key in saved and saved[key] != self.hparams[key]:
                raise ConfigError(
                    f"model.{key}: the checkpoint was trained with {saved[key]}, the config asks for "
                    f"{self.hparams[key]}; use the checkpoint's encoders (they are in its config.yaml)"
                )
        state = checkpoint["state_dict"]
        for key, value in self.extractor.state_dict().items():
            state.setdefault(EXTRACTOR_PREFIX + key, value)
