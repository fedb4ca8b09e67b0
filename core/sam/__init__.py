"""SAM service: one encoder pass per image, embeddings cached by content hash, point/box/mask
prompts, masks back on the original image grid. LiteMedSAM by default; official SAM ViT-B when
its weights are supplied."""

from core.sam.service import SamPrediction, SamService, get_sam_service

__all__ = ["SamPrediction", "SamService", "get_sam_service"]
