"""The LightningModule: frozen feature extraction, the fusion model, the task's loss and metrics."""

from __future__ import annotations

from typing import Any, Optional

import lightning.pytorch as pl
import torch

from datamodules.batch import STREAMS, row_keys as batch_row_keys
from lightning_app.errors import ConfigError
from lightning_app.lightning_internals import attached_trainer, step_is_logged
from models.augmentation import FeatureAugmentation, mixup
from models.autoencoder import StreamReconstructor
from models.batch_transfer import move_batch
from models.epoch_predictions import EpochPredictions
from models.feature_extractor import FrozenFeatureExtractor
from models.frame_encoding import FrameMemo
from models.fusion import FusionKind, FusionMode
from models.fusion_model import StreamFusionModel
from models.stream_encoder import InputNorm
from models.tasks import RegressionLoss, TaskName, make_task

EXTRACTOR_PREFIX = "extractor."
ENCODER_KEYS = ("video_encoder", "clip_encoder", "captioner")
DEFAULT_ENCODERS = {"video": {"name": "videoprism"}, "clip": {"name": "open_clip"}, "captioner": {"name": "blip"}}


def encoder_specs(video: Optional[dict], clip: Optional[dict], captioner: Optional[dict]) -> dict[str, dict]:
    """The three encoder specs with defaults filled in, keyed by role (what the feature cache is keyed by)."""
    given = {"video": video, "clip": clip, "captioner": captioner}
    return {role: dict(spec) if spec else dict(DEFAULT_ENCODERS[role]) for role, spec in given.items()}


class VideoFusionModule(pl.LightningModule):
    """Video understanding from video, image and caption streams: violence classification
    (DVD) or valence-arousal regression (Aff-Wild2).

    Args:
        task: ``violence`` (1 logit, focal loss, F1 / accuracy / AUROC) or ``valence_arousal``
            (2 outputs in [-1, 1], MSE / CCC loss, CCC per dimension and their mean). Must match
            the datamodule's task.
        video_encoder: registry spec of the frozen video encoder, ``{name: ..., <options>}`` (docs/encoders.md).
        clip_encoder: registry spec of the frozen CLIP model that embeds frames and captions.
        captioner: registry spec of the frozen captioner (or ``{name: captions-file, path: ...}``).
        hidden_dim: GRU hidden size d_h; the fused vector has 2 d_h (4 d_h if bidirectional).
        num_heads: attention heads in each cross-attention block.
        fusion_mode: ``sequence`` attends over GRU output sequences; ``final_state`` is the
            paper's one-vector-per-stream form.
        bidirectional: also attend from video and text to image.
        input_norm: normalisation of encoder features before each GRU (``layer``,
            ``center`` = per-window centring and standardisation, ``none``).
        dropout: dropout in the MLP head.
        focal_alpha: focal loss weight of the violent class, 1 - alpha the calm one's; 0.5 weighs both
            alike (0.25, the detection default, pulls a balanced set's outputs below a 0.5 threshold);
            None: no class weighting.
        focal_gamma: focal loss focusing exponent (0: weighted cross-entropy).
        regression_loss: ``mse``, ``ccc`` (1 - mean CCC) or ``mse+ccc``.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        threshold: probability above which a window is called violent.
        fusion: ``cross_attention`` (the paper), ``concat`` (final GRU states concatenated) or
            ``mean_pool`` (time-averaged GRU outputs concatenated, no attention).
        fusion_residual: cross-attention adds its query back (z = q + Attention(q, K = V)), so the image
            stream's content reaches the fused vector; off, the paper's form, where it does not.
        streams: the streams the model reads, e.g. ``[video]`` for a video-only ablation.
        noise_std: training noise on features, a fraction of each window's feature std
            (``models/augmentation.py``); 0 is off.
        feature_dropout: probability of zeroing each feature value in training; 0 is off.
        temporal_mask: probability of zeroing each time step of a stream in training; 0 is off.
        modality_dropout: probability of zeroing a whole stream of a window in training (a window
            keeps at least one); 0 is off.
        mixup_alpha: mixup of fused embeddings and targets in training, weight ~ Beta(a, a);
            0 is off. Training batches that are mixed do not count towards ``train/*`` scores.
        ae_weight: weight of the autoencoding loss (reconstructing each stream's features from
            the fused embedding, ``models/autoencoder.py``), logged as ``*/recon_loss``; 0 is off.
        feature_dims: each stream's feature size, given when the features come from the feature
            cache (the command line links it from the datamodule): the encoders are then not built
            or loaded at all. Not saved in checkpoints, which rebuild their encoders.

    Metrics are computed once per epoch on all its window predictions, gathered across DDP ranks with each window
    counted once (``models/epoch_predictions.py``). In validation and test, ``frame_*`` metrics score every
    annotated frame with the mean prediction of the windows covering it.
    """

    def __init__(
        self,
        task: TaskName = "violence",
        video_encoder: Optional[dict[str, Any]] = None,
        clip_encoder: Optional[dict[str, Any]] = None,
        captioner: Optional[dict[str, Any]] = None,
        hidden_dim: int = 128,
        num_heads: int = 1,
        fusion_mode: FusionMode = "sequence",
        bidirectional: bool = False,
        input_norm: InputNorm = "layer",
        dropout: float = 0.1,
        focal_alpha: Optional[float] = 0.5,
        focal_gamma: float = 2.0,
        regression_loss: RegressionLoss = "mse",
        lr: float = 3e-4,
        weight_decay: float = 0.01,
        threshold: float = 0.5,
        fusion: FusionKind = "cross_attention",
        fusion_residual: bool = False,
        streams: Optional[list[str]] = None,
        noise_std: float = 0.0,
        feature_dropout: float = 0.0,
        temporal_mask: float = 0.0,
        modality_dropout: float = 0.0,
        mixup_alpha: float = 0.0,
        ae_weight: float = 0.0,
        feature_dims: Optional[dict[str, int]] = None,
    ):
        super().__init__()
        video_encoder, clip_encoder, captioner = encoder_specs(video_encoder, clip_encoder, captioner).values()
        # feature_dims is a property of the run, not of the model: a checkpoint rebuilds its encoders
        self.save_hyperparameters(ignore=["feature_dims"])
        self.hparams.update(video_encoder=video_encoder, clip_encoder=clip_encoder, captioner=captioner)
        self.task = make_task(task, focal_alpha, focal_gamma, threshold, regression_loss)
        # training from the feature cache: the sizes come from the cache and no encoder is built
        self.extractor = None if feature_dims else FrozenFeatureExtractor(video_encoder, clip_encoder, captioner)
        dims = dict(feature_dims) if feature_dims else self.extractor.dims
        self.model = StreamFusionModel(
            dims, self.task.num_outputs, streams or STREAMS, hidden_dim=hidden_dim, input_norm=input_norm,
            bidirectional=bidirectional, fusion=fusion, fusion_mode=fusion_mode, num_heads=num_heads, dropout=dropout,
            fusion_residual=fusion_residual)
        self.augment = FeatureAugmentation(noise_std, feature_dropout, temporal_mask, modality_dropout)
        self.reconstructor = (StreamReconstructor(self.model.out_dim, {n: dims[n] for n in self.model.stream_names})
                              if ae_weight > 0 else None)
        self.lr, self.weight_decay, self.mixup_alpha, self.ae_weight = lr, weight_decay, mixup_alpha, ae_weight
        self.train_predictions = EpochPredictions()
        self.val_predictions = EpochPredictions()
        self.test_predictions = EpochPredictions()
        self.last_predictions: dict[str, dict] = {}

    def setup(self, stage: str) -> None:
        datamodule = getattr(attached_trainer(self), "datamodule", None)
        data_task = getattr(datamodule, "task", None)
        if data_task is not None and data_task != self.task.name:
            raise ConfigError(f"model.task is {self.task.name!r} but the data ({type(datamodule).__name__}) is for "
                              f"{data_task!r}; set --model.task {data_task}")
        if getattr(datamodule, "uses_cache", False) and self.extractor is not None:
            self.extractor = None  # features come from the cache: no encoder stays in memory

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return move_batch(batch, device)  # a direct walk over the batch (models/batch_transfer.py)

    def features(self, batch: dict[str, Any], row_keys: Optional[list] = None,
                 memo: Optional[FrameMemo] = None) -> dict[str, torch.Tensor]:
        """The stream features of a batch (``datamodules.batch``): from the frozen encoders
        (``frames`` and ``stream_rows``), or as cached (``features``). ``row_keys`` and ``memo``
        carry per-frame results over from the batch before (``FrozenFeatureExtractor.encode``)."""
        if "features" in batch:
            return {name: value.float() for name, value in batch["features"].items()}
        if self.extractor is None:
            raise ConfigError("this model was set up to read cached features, but the batch holds frames")
        captions_for = (batch["video_path"], batch["text_frames"]) if "text_frames" in batch else None
        # the per-frame encoders see each distinct frame of the batch once (models/frame_encoding.py): a frame two
        # windows of one video share is one key (video, frame)
        keys = row_keys if row_keys is not None else batch_row_keys(batch)
        features, _, _ = self.extractor.encode(batch["frames"], batch["stream_rows"], captions_for, keys, memo)
        return features

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """Window outputs (B, C): logits for violence, pre-tanh values for valence-arousal."""
        return self.model(self.features(batch), batch.get("stream_lengths"))

    def _step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        features = self.augment(self.features(batch))
        target = batch["target"].float()
        lengths = batch.get("stream_lengths")  # padding past a short video's end is masked
        embedding = self.model.fuse(features, lengths)
        mixed = stage == "train" and self.mixup_alpha > 0
        if mixed:
            embedding, target = mixup(embedding, target, self.mixup_alpha)
        outputs = self.model.head(embedding)
        loss = self.task.loss(outputs, target)
        size = target.shape[0]
        if self.reconstructor is not None:
            recon = self.reconstructor.loss(embedding, features, lengths)
            self.log(f"{stage}/recon_loss", recon, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
            loss = loss + self.ae_weight * recon
        # each self.log costs Lightning bookkeeping: the step loss is logged only on the steps the loggers write
        # (the progress bar shows the latest of those)
        if stage == "train" and step_is_logged(attached_trainer(self)):
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=size)
        if mixed:
            return loss
        detached = outputs.detach().float()
        getattr(self, f"{stage}_predictions").update(batch["video_index"], batch["start"], detached,
                                                     self.task.predict(detached), target,
                                                     batch["frame_target"], batch["frame_mask"],
                                                     batch.get("window_scored"))
        return loss

    def _epoch_end(self, stage: str) -> None:
        store = getattr(self, f"{stage}_predictions")
        if not store.update_called:  # e.g. every training batch was mixed up
            return
        gathered = store.unsqueezed(store.compute(), self.task.num_outputs)  # all ranks' predictions, each window once
        store.reset()
        self.last_predictions[stage] = gathered  # for plots drawn at the end of a run
        outputs, preds, targets = gathered["windows"]
        values = self.task.window_scores(preds, targets, prefix=f"{stage}/")
        if len(outputs):
            # the loss over the epoch's distinct windows (for focal and MSE, their mean loss)
            values[f"{stage}/loss"] = self.task.loss(outputs, targets)
        if stage != "train":
            values.update(self.task.frame_scores(*gathered["frames"], prefix=f"{stage}/"))
        # every rank holds the same gathered values: averaging them across ranks changes nothing
        monitor = self.task.monitor.replace("val/", f"{stage}/", 1)
        self.log_dict({k: v for k, v in values.items() if k != monitor}, sync_dist=True)
        if monitor in values:  # the metric that selects checkpoints also shows in the progress bar
            self.log(monitor, values[monitor], sync_dist=True, prog_bar=True)

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def on_train_epoch_end(self) -> None:
        self._epoch_end("train")

    def on_validation_epoch_end(self) -> None:
        self._epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._epoch_end("test")

    def predict_step(self, batch, batch_idx):
        preds = self.task.predict(self(batch).float())
        row = {"video": list(batch["video_id"]), "start": batch["start"].tolist(), "end": batch["end"].tolist()}
        for column, (name, target) in enumerate(zip(self.task.prediction_names, self.task.target_names)):
            row[name] = preds[:, column].tolist()
            row[target] = batch["target"][:, column].tolist()
        return row

    def configure_optimizers(self):
        # everything trainable (the fusion model and, when on, the autoencoding decoders; not the frozen encoders),
        # with the fused AdamW kernel where all allow it: one pass over all parameters, not a Python loop per tensor
        params = [p for p in self.parameters() if p.requires_grad]
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay, fused=fused or None)

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
                raise ConfigError(f"model.{key}: the checkpoint was trained with {saved[key]}, the config asks for "
                                  f"{self.hparams[key]}; use the checkpoint's encoders (they are in its config.yaml)")
        state = checkpoint["state_dict"]
        if self.extractor is not None:
            for key, value in self.extractor.state_dict().items():
                state.setdefault(EXTRACTOR_PREFIX + key, value)
        check_state_fits(state, self.state_dict(), saved, dict(self.hparams))


def check_state_fits(saved_state: dict[str, Any], own_state: dict[str, Any], saved_hparams: dict[str, Any],
                     own_hparams: dict[str, Any]) -> None:
    """A checkpoint of another architecture ends in one ``ConfigError`` naming the first tensor that does not fit and
    the model settings that differ, not in a state-dict traceback."""
    unfit = next((key for key in sorted(set(saved_state) | set(own_state))
                  if key not in saved_state or key not in own_state
                  or tuple(saved_state[key].shape) != tuple(own_state[key].shape)), None)
    if unfit is None:
        return
    differ = [f"model.{k}: {saved_hparams[k]!r} in the checkpoint, {own_hparams.get(k)!r} in the config"
              for k in sorted(saved_hparams) if not k.startswith("_") and saved_hparams[k] != own_hparams.get(k)]
    raise ConfigError(f"the checkpoint does not fit the model of this config (first at {unfit})"
                      + (f"; {'; '.join(differ[:3])}" if differ else "")
                      + ": pass the config it was trained with (config.yaml in its run folder)")
