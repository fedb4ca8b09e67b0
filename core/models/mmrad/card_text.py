"""MMRAD's model card text: where the offline default deviates from the paper, and the
paper-faithful configuration."""

from __future__ import annotations

from core.models.pages import VOLUME_NOTE

DEVIATIONS = (
    "Offline default encoder is LiteMedSAM's TinyViT (256 px) instead of SAM ViT-B (1024 px); prompts go into its 8 "
    "transformer blocks on the 64 x 64 embedding grid, with one shared up-projection per block width (160, 320).",
    "Offline default low-level CNN is TinyViT's own pretrained convolutional stage instead of two ImageNet ResNet-50s "
    "(no ImageNet weights offline); low_level_cnn=resnet50x2 with the torchvision files is the paper's setting.",
    "The map logit is the mask token . image token product divided by sqrt(256) (eq. 4 without the scale saturates at start).",
    "An epoch is at least 200 simulated cases (min_samples_per_epoch), the size of one epoch over the paper's 199 training "
    "pairs, so the default single epoch trains as long on a small workspace.",
    "Case and image scores use the fusion token's logit (monotone in S = sigmoid) so calibration does not saturate.",
    "Pairs are simulated per case (pair_anomaly=per_case): with probability p_anomaly the pair gets an anomaly in the "
    "fundus, the OCT or both (one of the three at random), else neither; drawn per image (per_image), 91 % of the pairs "
    "would be anomalous and the fusion token learned to call every pair anomalous in a 200-case CPU epoch. The "
    "case-score CE is weighted so both case labels count equally (balance_score).",
    "case_score=auto (default) scores a pair with the fusion token only when it ranks simulated validation pairs (made "
    "from normal training pairs) at least as well as the maximum of the two calibrated image scores, the paper's "
    "'Maximum' strategy (Table 12); after a short CPU training the fusion token can still give every pair the same "
    "score. case_score=fusion always uses the token, as the paper.",
    "Gradients are clipped to norm 1 (grad_clip) and AdamW's weight decay is 0.01 (weight_decay; the paper states neither): "
    "short CPU runs diverged without the clip.",
    VOLUME_NOTE + " Paired with a fundus photo, every B-scan is decoded with the fundus (encoded once) and gets its own "
    "fusion logit; the pair's fusion score is the highest of them (calibrated per B-scan). In training a volume gives "
    "one random B-scan each time its case is drawn.",
)

FAITHFUL_CONFIG = {
    "encoder": "sam_vit_b",
    "image_size": 1024,
    "low_level_cnn": "resnet50x2",
    "lr": 2e-4,
    "epochs": 1,
    "loss": "ce",
    "p_anomaly": 0.7,
    "fusion_order": "fundus,oct",
}
