import pytest
import torch

from lightning_app.errors import ConfigError
from models.lit_module import VideoFusionModule

TINY = dict(video_encoder={"name": "videoprism-tiny"}, clip_encoder={"name": "clip-tiny"}, captioner={"name": "blip-tiny"}, hidden_dim=16)


def _batch(batch=4):
    g = torch.Generator().manual_seed(0)
    frames = lambda t: torch.randint(0, 256, (batch, t, 32, 32, 3), dtype=torch.uint8, generator=g)  # noqa: E731
    streams = {"video": frames(16), "image": frames(16), "text": frames(4)}
    # the batch layout (datamodules.batch): every stream's frames once, and each window's rows into them
    offsets = torch.tensor([0, batch * 16, batch * 32])
    return {"frames": torch.cat([f.flatten(0, 1) for f in streams.values()]),
            "stream_rows": {name: offset + torch.arange(f.shape[0] * f.shape[1]).view(f.shape[:2])
                            for offset, (name, f) in zip(offsets, streams.items())},
            "target": torch.tensor([[0.0], [1.0], [0.0], [1.0]][:batch])}


def test_encoders_are_not_optimised_and_unchanged_by_a_training_step():
    module = VideoFusionModule(**TINY)
    optimiser = module.configure_optimizers()
    optimised = {id(p) for group in optimiser.param_groups for p in group["params"]}
    assert not optimised & {id(p) for p in module.extractor.parameters()}
    assert optimised == {id(p) for p in module.model.parameters()}
    before = {k: v.clone() for k, v in module.extractor.state_dict().items()}
    model_before = {k: v.clone() for k, v in module.model.state_dict().items()}
    module.train()
    loss = module.task.loss(module(_batch()), _batch()["target"])
    loss.backward()
    optimiser.step()
    assert all(p.grad is None for p in module.extractor.parameters())
    assert all(torch.equal(v, before[k]) for k, v in module.extractor.state_dict().items())
    assert any(not torch.equal(v, model_before[k]) for k, v in module.model.state_dict().items())


def test_checkpoint_omits_encoders_and_restores_them_from_the_spec():
    module = VideoFusionModule(**TINY)
    checkpoint = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint["state_dict"] and not any(k.startswith("extractor.") for k in checkpoint["state_dict"])
    fresh = VideoFusionModule(**TINY)
    fresh.on_load_checkpoint(checkpoint)
    fresh.load_state_dict(checkpoint["state_dict"], strict=True)
    fresh.eval(), module.eval()
    assert torch.allclose(fresh(_batch()), module(_batch()))


def test_valence_arousal_task_gives_two_outputs_in_range():
    module = VideoFusionModule(task="valence_arousal", regression_loss="mse+ccc", **TINY).eval()
    outputs = module(_batch())
    assert outputs.shape == (4, 2)
    preds = module.task.predict(outputs)
    assert preds.abs().max() <= 1.0
    targets = torch.tensor([[0.5, -0.2], [0.1, 0.3], [-0.7, 0.0], [0.2, 0.9]])
    assert torch.isfinite(module.task.loss(outputs, targets))


def test_loading_with_other_encoders_is_refused():
    module = VideoFusionModule(**TINY)
    checkpoint = {"state_dict": {}, "hyper_parameters": {**module.hparams, "video_encoder": {"name": "videoprism-tiny", "seed": 5}}}
    with pytest.raises(ConfigError, match="model.video_encoder: the checkpoint was trained with"):
        module.on_load_checkpoint(checkpoint)


def test_the_autoencoding_decoder_is_optimised_too():
    module = VideoFusionModule(**TINY, ae_weight=0.5)
    optimiser = module.configure_optimizers()
    optimised = {id(p) for group in optimiser.param_groups for p in group["params"]}
    decoder = {id(p) for p in module.reconstructor.parameters()}
    assert decoder and decoder <= optimised and not optimised & {id(p) for p in module.extractor.parameters()}
    before = {k: v.clone() for k, v in module.reconstructor.state_dict().items()}
    module.train()
    batch = _batch()
    features = module.features(batch)
    embedding = module.model.fuse(features)
    loss = module.task.loss(module.model.head(embedding), batch["target"]) + module.reconstructor.loss(embedding, features)
    loss.backward()
    optimiser.step()
    assert any(not torch.equal(v, before[k]) for k, v in module.reconstructor.state_dict().items())


def _logged_loss_steps(clips_root, run_dir, log_every_n_steps):
    import csv

    from lightning_app.cli import cli_main
    from tests.conftest import TINY_ENCODERS, data_args

    cli_main(["fit", "--config", "demo.yaml", *TINY_ENCODERS, *data_args(clips_root, batch_size=2),
              "--trainer.max_epochs", "2", "--trainer.default_root_dir", str(run_dir),
              "--trainer.log_every_n_steps", str(log_every_n_steps), "--trainer.enable_progress_bar", "false"])
    with next(run_dir.rglob("metrics.csv")).open() as handle:
        return [(int(row["step"]), float(row["train/loss_step"])) for row in csv.DictReader(handle)
                if row.get("train/loss_step")]


def test_the_step_loss_is_logged_on_exactly_the_steps_the_loggers_write(clips_root, tmp_path, monkeypatch):
    # self.log is called only on the steps the loggers write; the CSV must hold the same rows as
    # when it is called on every step (and Lightning drops the unwritten ones)
    logged = _logged_loss_steps(clips_root, tmp_path / "sparse", 3)
    import models.lit_module

    monkeypatch.setattr(models.lit_module, "step_is_logged", lambda trainer: True)
    every_step = _logged_loss_steps(clips_root, tmp_path / "every", 3)
    assert len(logged) >= 2 and logged == every_step
    steps = [step for step, _ in logged]
    assert all((step + 1) % 3 == 0 for step in steps)


def test_a_state_of_another_architecture_is_one_config_error():
    from lightning_app.errors import ConfigError
    from models.lit_module import check_state_fits

    own = {"head.weight": torch.zeros(2, 8), "head.bias": torch.zeros(2)}
    check_state_fits({k: v.clone() for k, v in own.items()}, own, {"hidden_dim": 8}, {"hidden_dim": 8})
    with pytest.raises(ConfigError, match=r"first at head.bias\); model.hidden_dim: 4 in the checkpoint, 8 in the config"):
        check_state_fits({"head.weight": torch.zeros(2, 4), "head.bias": torch.zeros(1)}, own, {"hidden_dim": 4}, {"hidden_dim": 8})
    with pytest.raises(ConfigError, match="first at head.bias"):  # a tensor the checkpoint lacks
        check_state_fits({"head.weight": torch.zeros(2, 8)}, own, {}, {})
