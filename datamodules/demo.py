"""The demo's datamodule: writes the synthetic dataset on first use, then reads it as DVD."""

from __future__ import annotations

from lightning.pytorch.utilities import rank_zero_info

from datamodules.dvd import DVDDataModule
from datamodules.synthetic_videos import CAPTIONS_NAME, write_synthetic_dataset


class SyntheticVideoDataModule(DVDDataModule):
    """A ``DVDDataModule`` that writes the synthetic clips and their captions into ``root`` unless
    its manifest and captions exist.

    Args:
        num_clips: number of clips, half of them violent.
        clip_size: frame width and height of the written clips, in pixels.
        fps: frame rate of the written clips.
        data_seed: seed of the generator (content, lengths and the manifest's folds).
    """

    def __init__(self, root: str = "data/demo", num_clips: int = 40, clip_size: int = 64, fps: int = 24,
                 data_seed: int = 0, **kwargs):
        super().__init__(root=root, **kwargs)
        self.num_clips, self.clip_size, self.fps, self.data_seed = num_clips, clip_size, fps, data_seed

    def prepare_data(self) -> None:
        if (self.root / self.manifest).is_file() and (self.root / CAPTIONS_NAME).is_file():
            return  # complete (a folder written before captions came with the clips is written again)
        rank_zero_info(f"writing {self.num_clips} synthetic clips to {self.root} ...")
        write_synthetic_dataset(self.root, self.num_clips, self.clip_size, self.fps, num_folds=self.num_folds,
                                seed=self.data_seed, manifest_name=self.manifest)
