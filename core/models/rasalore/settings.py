"""RASALoRE's settings (paper values from Sharma et al., BMVC 2025, section 4 and appendix)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.errors import ConfigError
from core.models.config import BaseSettings, setting


@dataclass(frozen=True)
class RasaloreSettings(BaseSettings):
    METHOD: ClassVar[str] = "rasalore"
    image_size: int = setting(256, "Side of the square slice the network sees (multiple of 4).", paper=256, minimum=16, maximum=1024)
    skip_slices: int = setting(15, "Slices left out at each end of the volume (not trained on, not scored).", paper=15, minimum=0)
    slice_plane: str = setting(
        "axial", "Plane the volume is cut into slices along.", choices=("axial", "coronal", "sagittal"), paper="axial"
    )
    crop_margin: int = setting(4, "Margin in voxels kept around the brain when black borders are cropped.", minimum=0)
    gamma: float = setting(2.0, "Gamma correction of the normalised intensities.", paper=2.0, minimum=0.1)
    label_min_pixels: int = setting(200, "Lesion voxels that make a slice unhealthy (label volumes).", minimum=1)
    healthy_max_pixels: int = setting(0, "Lesion voxels a slice may have and still count as healthy.", minimum=0)
    grid_size: int = setting(32, "Candidate prompt points per side (k = grid_size^2).", paper=32, minimum=2)
    embed_dim: int = setting(256, "Embedding dimension d (multiple of 8 and of heads).", paper=256, minimum=8)
    heads: int = setting(4, "Attention heads in RASA and the mask decoder.", paper=4, minimum=1)
    lore_scale: float = setting(128.0, "Frequency scale of the location-based random embeddings.", minimum=0.0)
    noise_std: float = setting(1.0, "Std of the value noise N(0, I) added in RASA while training.", paper=1.0, minimum=0.0)
    dropout: float = setting(0.1, "Dropout in the decoder.", minimum=0.0, maximum=0.9)
    epochs: int = setting(100, "Epochs of the segmentation network.", minimum=1)
    batch_size: int = setting(16, "Slices per optimiser step.", paper=16, minimum=1)
    lr: float = setting(0.01, "SGD learning rate (momentum 0.9).", paper=0.01, minimum=0.0)
    lr_step: int = setting(20, "Epochs between halvings of the learning rate.", paper=20, minimum=1)
    min_samples_per_epoch: int = setting(0, "Smallest epoch in augmented slices (0: one pass).", minimum=0)
    grad_clip: float = setting(5.0, "Gradient norm clip (0: off).", paper=0.0, note="stabilises stage 2 on small data", minimum=0.0)
    alpha: float = setting(0.6, "Weight of the false-positive term of L_Dec.", paper=0.6, minimum=0.0)
    beta: float = setting(0.0, "Weight of the background term of L_Dec.", paper=0.6, note="0 by default: see the model card", minimum=0.0)
    phi: float = setting(0.3, "Exponent of the ELDice loss.", paper=0.3, minimum=0.0)
    dice_eps: float = setting(1.0, "Smoothing of the ELDice loss.", minimum=0.0)
    sigma: float = setting(10.0, "Gaussian weight-map sigma of the weak masks, pixels at 256 px.", minimum=0.0)
    sigma_background: float = setting(15.0, "Gaussian weight-map sigma of the background, pixels at 256 px.", minimum=0.0)
    use_medsam: bool = setting(True, "Refine the weak masks with LiteMedSAM box prompts.", paper=True)
    augment: bool = setting(True, "Rotations, flips, brightness/contrast and noise while training.", paper=True)
    augment_rotation: float = setting(90.0, "Largest random rotation in degrees.", paper=90.0, minimum=0.0, maximum=180.0)
    healthy_ratio: float = setting(0.0, "Healthy slices added per unhealthy training slice.", minimum=0.0)
    max_train_slices: int = setting(0, "Upper bound on training slices (0: all).", minimum=0)
    val_fraction: float = setting(
        0.1, "Share of slice-labelled volumes held out to select the best epoch.", paper=0.1, minimum=0.0, maximum=0.5
    )
    select_best_epoch: bool = setting(True, "Keep the epoch whose masks match the validation weak masks best.")
    mask_prior: float = setting(0.0, "Start the mask bias at logit(prior) (0: off).", minimum=0.0, maximum=0.5)
    mask_threshold: float = setting(0.5, "Probability above which a voxel is in the mask.", paper=0.5, minimum=0.0, maximum=1.0)
    slice_score_top: float = setting(0.005, "A slice's score: mean of this top fraction of its map.", minimum=0.0, maximum=1.0)
    predict_batch: int = setting(16, "Slices per forward pass at prediction.", minimum=1)
    classifier_guidance: bool = setting(
        True, "Weight slice maps by DDPT's P(unhealthy) and keep masks only on unhealthy slices (paper appendix B.2).", paper=False
    )
    volume_score_top: float = setting(0.1, "Guided volume score: mean of this top fraction of slice scores.", minimum=0.0, maximum=1.0)
    ddpt_backbone: str = setting(
        "litemedsam",
        "DDPT's frozen encoder: litemedsam (offline) or clip_vit_b32 (needs open_clip_torch and ViT-B-32.pt).",
        choices=("litemedsam", "clip_vit_b32"),
        paper="clip_vit_b32",
    )
    ddpt_epochs: int = setting(50, "DDPT training epochs.", paper=100, minimum=1)
    ddpt_lr: float = setting(0.01, "DDPT SGD learning rate.", paper=0.01, minimum=0.0)
    ddpt_batch_size: int = setting(16, "DDPT slices per step.", minimum=1)
    ddpt_eta: float = setting(0.3, "Weight eta of DDPT's auxiliary class-attention loss.", paper=0.3, minimum=0.0)
    ddpt_tau: float = setting(0.07, "Temperature tau of DDPT's similarity logits.", paper=0.07, minimum=1e-6)
    ddpt_prompts: int = setting(10, "Learnable visual prompt tokens.", minimum=1)
    ddpt_grid: int = setting(16, "Side of DDPT's attention grid.", minimum=2)
    ddpt_shots: int = setting(0, "Healthy/unhealthy shots per class for DDPT (0: every training slice).", paper=10000, minimum=0)
    ddpt_threshold: float = setting(0.5, "Attention threshold of DDPT's weak masks.", minimum=0.0, maximum=1.0)
    ddpt_context: int = setting(4, "Learnable context tokens around the class token.", note="the paper's M is not stated", minimum=1)
    ddpt_match_position: bool = setting(True, "Draw healthy shots at the unhealthy slices' relative positions.")
    weak_mask: str = setting(
        "auto",
        "Source of the weak masks: auto (healthy_contrast with LiteMedSAM, ddpt_attention with CLIP), ddpt_attention (the "
        "paper) or healthy_contrast.",
        choices=("auto", "ddpt_attention", "healthy_contrast"),
        paper="ddpt_attention",
    )
    contrast_grid: int = setting(32, "Token grid of the healthy-reference contrast.", minimum=4)
    contrast_memory: int = setting(65536, "Healthy reference tokens kept for the contrast.", minimum=16)
    contrast_rule: str = setting(
        "healthy_quantile",
        "How the contrast weak masks are thresholded: healthy_quantile (a quantile of the healthy reference slices' own "
        "distances; no pixel labels) or minmax (per-slice [0, 1] scaling at contrast_threshold).",
        choices=("healthy_quantile", "minmax"),
    )
    contrast_quantile: float = setting(
        0.99, "Quantile of healthy tokens' distances a weak-mask token must reach (healthy_quantile rule).", minimum=0.5, maximum=0.99999
    )
    contrast_threshold: float = setting(
        0.7,
        "Level on the per-slice [0, 1] scaled contrast (minmax rule only).",
        note="0.7 was chosen by Dice against the demo's true lesion masks: an oracle, not the default",
        minimum=0.0,
        maximum=1.0,
    )
    sequences: str = setting("auto", "MRI sequences to train (comma-separated; auto: every sequence found).")
    bridge_sequence: str = setting("t2", "Bridge sequence of the multi-modality stage.", paper="t2")
    align_weight: float = setting(1.0, "Weight of the bridge alignment loss.", minimum=0.0)
    multimodal_epochs: int = setting(0, "Epochs of the multi-modality stage (0: as many as epochs).", minimum=0)

    def validate(self) -> None:
        if self.image_size % 4:
            raise ConfigError(f"rasalore: image_size must be a multiple of 4 and at least 16, got {self.image_size}")
        if self.embed_dim % 8 or self.embed_dim % self.heads:
            raise ConfigError("rasalore: embed_dim must be a multiple of 8 and of heads")

    @property
    def sequence_list(self) -> list[str]:
        return [s.strip() for s in self.sequences.split(",") if s.strip()]
