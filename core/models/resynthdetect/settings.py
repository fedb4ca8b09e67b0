"""ReSynthDetect's settings (paper values from Niu et al.; the offline default trains at 256 px)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.models.config import BaseSettings, setting, tile_overlap_setting, tiles_setting


@dataclass(frozen=True)
class ReSynthDetectSettings(BaseSettings):
    METHOD: ClassVar[str] = "resynthdetect"
    image_size: int = setting(256, "Side the CLAHE-enhanced image is resized to before both networks.", paper=768, minimum=32, maximum=2048)
    base_channels: int = setting(32, "Channels of the first encoder level (doubling per level, capped at 8x).", minimum=4)
    levels: int = setting(5, "Encoder levels of the autoencoder and the U-Net.", minimum=2, maximum=7)
    epochs: int = setting(300, "Epochs of stage 2 (localisation network).", minimum=1)
    ae_epochs: int = setting(-1, "Epochs of stage 1 (autoencoder); -1: as many as stage 2.", minimum=-1)
    batch_size: int = setting(4, "Images per optimiser step.", minimum=1)
    samples_per_epoch: int = setting(0, "Training samples per epoch (0: one pass over the normal images).", minimum=0)
    lr: float = setting(5e-5, "Base learning rate of Adam.", paper=5e-5, minimum=0.0)
    min_lr: float = setting(2.5e-5, "Learning rate the cosine decay ends at.", paper=2.5e-5, minimum=0.0)
    warmup_epochs: int = setting(50, "Linear warm-up epochs (at most a quarter of a shorter run).", paper=50, minimum=0)
    weight_decay: float = setting(0.0, "Adam weight decay.", paper=0.0, minimum=0.0)
    focal_gamma: float = setting(2.0, "Focusing parameter of the focal loss.", paper=2.0, minimum=0.0)
    top_k: int = setting(10, "Image score: mean of the k highest pixel probabilities.", paper=10, minimum=1)
    clahe_clip: float = setting(2.0, "CLAHE clip limit.", paper=2.0, minimum=0.0)
    clahe_grid: int = setting(8, "CLAHE tiles per side.", paper=8, minimum=1)
    alpha: float = setting(0.7, "Blending factor of a synthetic lesion into the image.", minimum=0.0, maximum=1.0)
    n_augmentations: int = setting(3, "Augmentations applied to a lesion's source crop.", minimum=0)
    p_anomaly: float = setting(0.5, "Share of training samples that carry a synthetic lesion.", minimum=0.0, maximum=1.0)
    crop_min: float = setting(0.08, "Smallest lesion crop, as a fraction of the image side.", minimum=0.01, maximum=1.0)
    crop_max: float = setting(0.35, "Largest lesion crop, as a fraction of the image side.", minimum=0.01, maximum=1.0)
    perlin_threshold: float = setting(0.3, "Threshold of the Perlin noise that shapes a lesion.", minimum=0.0, maximum=1.0)
    use_reconstruction: bool = setting(True, "Feed the frozen autoencoder's features into the U-Net (ablation switch).", paper=True)
    use_labelled_anomalies: bool = setting(
        False, "Mix reviewer-labelled lesions of this workspace into training.", note="the product's retraining, not part of the paper"
    )
    labelled_fraction: float = setting(0.3, "Share of samples drawn from labelled lesions when they are used.", minimum=0.0, maximum=1.0)
    tiles: int = tiles_setting(
        "Both networks train on the tiles of the normal images (tiles^2 times the samples per epoch) and the calibration "
        "belongs to this setting; the image score is the mean of the top_k probabilities over all tiles."
    )
    tile_overlap: float = tile_overlap_setting()

    def validate(self) -> None:
        from core.errors import ConfigError

        if self.crop_min > self.crop_max:
            raise ConfigError(f"{self.METHOD}: crop_min ({self.crop_min}) must not exceed crop_max ({self.crop_max})")
        if self.min_lr > self.lr:
            raise ConfigError(f"{self.METHOD}: min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
