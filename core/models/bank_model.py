"""Shared machinery of the memory-bank methods (PatchCore, ReSAD, MIAS-SAM): feature caching
during fit, one coreset-bounded bank over every normal image, kNN patch scores, maps back on the
image grid.

Calibration scores the deployed bank itself: every normal image is scored by the bank without the
patches it contributed (leave-one-image-out), so no normal is scored by a bank that holds it and
the model that is calibrated is the model that is deployed (one coreset, no refit).

An OCT volume is scored B-scan by B-scan (core.models.pages): every B-scan of a normal volume adds
its patches to the bank, the B-scans of one volume leave the bank together during calibration (a
neighbouring B-scan is nearly the same image).

With ``tiles > 1`` every page (a photo or one B-scan) is encoded as overlapping native-resolution
tiles (core.models.tiling): the page's patch grid is a :class:`TiledGrid` and its map is stitched from
the tiles' maps; ``tiles = 1`` encodes the whole page.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import numpy as np

from core.domain import LoadedImage
from core.errors import StudioError
from core.models.bank_settings import CnnBankSettings, MemoryBankSettings
from core.models.base import AnomalyModel, Unit
from core.models.contract import FitContext, PredictContext
from core.models.memory_bank import MemoryBank, greedy_coreset
from core.models.pages import PageOutput, combine_pages, image_pages
from core.models.tiling import Tile, page_tiles, stitch
from core.models.volume_scores import CalibrationSamples
from core.workspace.cards import Calibration

TILING_DEFAULT_NOTE = (
    "tiles=1 (the whole image at the encoder's input) is the default for every modality: in bench/lesion_size (PatchCore, "
    "8 demo normals, 4 held-out photos, 2-core CPU) tiles=3 at its default contour (the normals' peaks) detected strong "
    "lesions of 6-40 px in 15 of 16 against 9 of 16 at tiles=1, with no held-out normal alarming at either, but took 8.5x "
    "the predict and 7x the fit time (tiles=2: 3.9x, nothing under 10 px); no tiling met 80 % at r >= 6 px within 3x "
    "today's predict time. tiles=2-4 is a setting (README, 'Small lesions')."
)
TILING_NOTE = (
    "Tiled inference (the product's, not the paper's): the encoder sees {n} x {n} overlapping native-resolution tiles "
    "of every image or B-scan (fundus tiles outside the field of view skipped), the bank holds tile features under the "
    "untiled bank's coreset budget, maps are stitched with blending, and the calibration belongs to this tiling."
)
LEAVE_ONE_OUT = "leave-one-image-out: each normal scored by the deployed bank without the patches it contributed"


class PatchGrid:
    """Patch features of one image (or of one tile of it) and where they lie."""

    def __init__(self, features: np.ndarray, grid: tuple[int, int], frame_hw: tuple[int, int], image_hw: tuple[int, int]):
        self.features = features  # (h * w, D) float32
        self.grid = grid  # (h, w) patch grid
        self.frame_hw = frame_hw  # resized image size the grid covers (model frame, no padding)
        self.image_hw = image_hw  # original image size (the tile's size for a tile)


class TiledGrid(PatchGrid):
    """Patch features of every kept tile of one page, concatenated in tile order; ``parts`` says
    which rows belong to which tile (the parts' own ``features`` are empty, the rows live here)."""

    def __init__(self, features: np.ndarray, parts: list[tuple[Tile, PatchGrid]], image_hw: tuple[int, int]):
        super().__init__(features, (len(features), 1), image_hw, image_hw)
        self.parts = parts


def gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return a
    from scipy import ndimage

    return ndimage.gaussian_filter(a, sigma=sigma, mode="nearest").astype(np.float32)


def upsample_map(frame: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """A model-frame map -> the image grid, bilinear with half-pixel centres (torch's
    ``align_corners=False``). OpenCV's resize does this 50-100x faster than torch at 1411 px;
    values agree with torch to 2e-5 of the map's largest magnitude."""
    import cv2

    h, w = int(image_hw[0]), int(image_hw[1])
    return cv2.resize(np.ascontiguousarray(frame, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def scores_to_map(scores: np.ndarray, frame_hw: tuple[int, int], image_hw: tuple[int, int], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Patch scores (h, w) -> (map in the model frame, map on the original image grid): upsampled
    to the model frame, blurred there, then upsampled once to the image grid."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(scores, np.float32))[None, None]
    frame = F.interpolate(t, size=frame_hw, mode="bilinear", align_corners=False)[0, 0].numpy()
    frame = gaussian_blur(frame, sigma)
    return frame.astype(np.float32), upsample_map(frame, image_hw)


def tiling_extras(pg: PatchGrid) -> dict:
    """What a result records of how its map was made: the patch grid, or the tiles encoded."""
    if isinstance(pg, TiledGrid):
        return {"tiles": [t.as_list() for t, _ in pg.parts], "patch_grid": list(pg.parts[0][1].grid)}
    return {"patch_grid": list(pg.grid)}


class MemoryBankModel(AnomalyModel):
    config: MemoryBankSettings
    floors_outside_view = True

    def __init__(self, settings: MemoryBankSettings | None = None, **config):
        super().__init__(settings, **config)
        self.bank: MemoryBank | None = None
        self._feature_cache: dict[str, list[PatchGrid]] = {}  # image sha -> one grid per page (fit only)
        self._owners: np.ndarray | None = None  # which training image each bank entry came from (fit only)

    @property
    def memory_bank(self) -> MemoryBank:
        """The deployed bank; a clear error before fit or load built it."""
        if self.bank is None:
            raise StudioError(f"{self.name}: the memory bank is empty (fit or load the model first)")
        return self.bank

    # -- subclass hooks ---------------------------------------------------------------------------
    @abstractmethod
    def patch_features(self, pixels: np.ndarray, sha: str | None = None) -> PatchGrid:
        """Patch features of one 2-D image (a photo, one B-scan, or one tile of either); ``sha``: its
        content hash when known (None for a tile)."""

    def image_score(self, patch_scores: np.ndarray, frame_map: np.ndarray) -> float:
        return float(patch_scores.max())

    def part_map(self, patch: np.ndarray, part: PatchGrid) -> tuple[float, np.ndarray, np.ndarray]:
        """Patch scores (h, w) of one page or tile -> (raw score, map on its pixel grid, model-frame map)."""
        frame_map, full_map = scores_to_map(patch, part.frame_hw, part.image_hw, self.config.smooth_sigma)
        return self.image_score(patch, frame_map), full_map, frame_map

    # -- tiling -----------------------------------------------------------------------------------
    def page_tiles(self, pixels: np.ndarray, fundus: bool) -> list[Tile] | None:
        """The tiles one page is encoded in (None: the whole page, ``tiles=1``); on a fundus photo,
        tiles outside the camera's field of view are left out."""
        return page_tiles(pixels, self.config.tiles, self.config.tile_overlap, fundus)

    def page_features(self, pixels: np.ndarray, sha: str | None = None, fundus: bool = False) -> PatchGrid:
        """Patch features of one page through the tiling: :meth:`patch_features` of the whole page
        (``tiles=1``) or of each kept tile, concatenated in a :class:`TiledGrid`."""
        tiles = self.page_tiles(pixels, fundus)
        if tiles is None:
            return self.patch_features(pixels, sha)
        feats, parts = [], []
        for t in tiles:
            pg = self.patch_features(np.ascontiguousarray(t.crop(pixels)), None)
            feats.append(pg.features)
            parts.append((t, PatchGrid(np.empty((len(pg.features), 0), np.float32), pg.grid, pg.frame_hw, pg.image_hw)))
        return TiledGrid(np.concatenate(feats, axis=0), parts, pixels.shape[:2])

    def page_maps(self, pg: PatchGrid, patch: np.ndarray) -> tuple[float, np.ndarray, list[np.ndarray]]:
        """One page's patch scores -> (raw score, map on the page's grid, model-frame map of each
        part); a tiled page's tile maps are stitched and its score is the highest tile score."""
        if not isinstance(pg, TiledGrid):
            score, full, frame = self.part_map(patch, pg)
            return score, full, [frame]
        flat = np.asarray(patch, np.float32).reshape(-1)
        scores, maps, frames, start = [], [], [], 0
        for _, part in pg.parts:
            n = part.features.shape[0]
            s, m, f = self.part_map(flat[start : start + n].reshape(part.grid), part)
            scores.append(s)
            maps.append(m)
            frames.append(f)
            start += n
        return max(scores), stitch(maps, [t for t, _ in pg.parts], pg.image_hw), frames

    # -- features ---------------------------------------------------------------------------------
    def features_batch(
        self, pages: list[np.ndarray], shas: list[str | None], ctx: PredictContext | None = None, fundus: bool = False
    ) -> list[PatchGrid]:
        """Patch features of several 2-D images (the B-scans of a volume), in order, each through the
        tiling. A loop over :meth:`page_features` for now: a batched encoder call (one forward pass
        per batch of B-scans or tiles) can replace it here without changing any caller."""
        ctx = ctx or PredictContext()
        out = []
        for i, (pixels, sha) in enumerate(zip(pages, shas, strict=True)):
            ctx.cancel.raise_if_cancelled()
            if len(pages) > 1:
                ctx.progress(i, len(pages), f"B-scan {i + 1}/{len(pages)}")
            out.append(self.page_features(pixels, sha, fundus))
        return out

    def image_features(self, image: LoadedImage, ctx: PredictContext | None = None) -> list[PatchGrid]:
        """One patch grid per page of ``image`` (one for a 2-D image, one per B-scan of a stack)."""
        pages = image_pages(image)
        shas: list[str | None] = [None] * len(pages) if image.record.is_stack else [image.sha256]
        return self.features_batch(pages, shas, ctx, fundus=image.modality.value == "fundus")

    def _features(self, image: LoadedImage, ctx: PredictContext | None = None) -> list[PatchGrid]:
        hit = self._feature_cache.get(image.sha256)
        return hit if hit is not None else self.image_features(image, ctx)

    # -- fit --------------------------------------------------------------------------------------
    def calibration_split(self, units: Sequence[Unit]) -> tuple[list[Unit], list[Unit], str]:
        units = list(units)
        if len(units) < 2:
            return units, units, "training normals (a single normal: scored by a bank that holds it)"
        return units, units, LEAVE_ONE_OUT

    def _fit(self, units: list[Unit], ctx: FitContext) -> None:
        self.record_inference_backend()  # fit, calibration and predict use this one
        feats, owners = [], []
        quiet = PredictContext(cancel=ctx.cancel)
        for i, im in enumerate(units):
            ctx.cancel.raise_if_cancelled()
            ctx.progress(i, len(units), f"features of normal image {i + 1}/{len(units)}")
            grids = self._features(im, quiet)
            self._feature_cache[im.sha256] = grids
            for g in grids:  # every B-scan of a normal volume is a normal sample
                feats.append(g.features)
                owners.append(np.full(len(g.features), i, np.int32))
        bank = np.concatenate(feats, axis=0)
        owner = np.concatenate(owners)
        c = self.config
        # with tiles the bank keeps the budget of the untiled bank (coreset_ratio of tiles^2 fewer
        # features): search cost then grows with the number of tiles, not with its square
        n_keep = int(round(len(bank) * c.coreset_ratio / c.tiles**2))
        if c.max_bank_size:
            n_keep = min(n_keep, c.max_bank_size)
        n_keep = max(1, min(n_keep, len(bank)))
        if n_keep < len(bank):
            idx = np.sort(
                greedy_coreset(
                    bank, n_keep, eps=c.projection_eps, seed=c.seed, device=self.device, progress=ctx.progress, cancel=ctx.cancel
                )
            )
            bank, owner = bank[idx], owner[idx]
        self.bank = MemoryBank(bank, index=c.index, device=self.device)
        self._owners = owner

    def calibrate(self, units, source: str, ctx: FitContext, *, trained_on=()) -> Calibration:
        samples = CalibrationSamples()
        leave_out = source == LEAVE_ONE_OUT and self._owners is not None
        deployed = self.memory_bank
        try:
            for i, im in enumerate(units):
                ctx.cancel.raise_if_cancelled()
                ctx.progress(i, len(units), f"calibrating on normal {i + 1}/{len(units)}")
                bank = MemoryBank(deployed.features[self._owners != i], index="exact", device=self.device) if leave_out else deployed
                raw, raw_map, extras = self._raw_map(im, bank)
                samples.add(raw, self.in_view(im, raw_map), extras)
        finally:
            self._feature_cache.clear()
            self._owners = None
        return samples.calibration(source, self.card)

    # -- predict ----------------------------------------------------------------------------------
    def page_distances(self, grids: list[PatchGrid], bank: MemoryBank) -> list[np.ndarray]:
        """Patch scores (h, w) of every page: the k-th neighbour distance (k=1: nearest). One search
        per page, so a B-scan gets bit for bit the same scores alone as inside its volume; a tiled
        page's scores are one column of its tiles' rows, split again by :meth:`page_maps`."""
        return [bank.search(g.features, k=self.config.knn_k)[0].max(axis=1).reshape(g.grid) for g in grids]

    def _raw_map(self, image: LoadedImage, bank: MemoryBank, ctx: PredictContext | None = None) -> PageOutput:
        """(raw score, raw map on the image grid, extras) of ``image`` against ``bank``."""
        grids = self._features(image, ctx)
        outputs = []
        for pg, patch in zip(grids, self.page_distances(grids, bank), strict=True):
            score, full_map, _ = self.page_maps(pg, patch)
            outputs.append((score, full_map, {"bank_size": len(bank), **tiling_extras(pg)}))
        return combine_pages(outputs, image.record.is_stack)

    def _predict_raw(self, image: LoadedImage, ctx: PredictContext) -> PageOutput:
        return self._raw_map(image, self.memory_bank, ctx)

    def state_tensors(self) -> dict:
        import torch

        bank = self.memory_bank
        return {"bank": torch.from_numpy(bank.features), "index_bytes": torch.from_numpy(np.asarray(bank.index_bytes()))}

    def load_tensors(self, state: dict) -> None:
        index_bytes = state["index_bytes"].numpy() if "index_bytes" in state else None
        self.bank = MemoryBank(state["bank"].numpy(), index=self.config.index, device=self.device, index_bytes=index_bytes)

    def _update_card(self) -> None:
        self.card.metrics["bank_size"] = len(self.bank) if self.bank is not None else 0
        self.card.metrics["tiling"] = f"{self.config.tiles} x {self.config.tiles} tiles, overlap {self.config.tile_overlap:g}"
        note = TILING_DEFAULT_NOTE if self.config.tiles == 1 else TILING_NOTE.format(n=self.config.tiles)
        if note not in self.card.deviations:
            self.card.deviations.append(note)


class CnnFeatureBankModel(MemoryBankModel):
    """A memory-bank method over stage features of a CNN-like backbone (``backbone`` setting:
    LiteMedSAM TinyViT at 256 px offline, WideResNet-50 with its weights file), loaded on first use."""

    config: CnnBankSettings

    def __init__(self, settings: CnnBankSettings | None = None, **config):
        super().__init__(settings, **config)
        self._backbone = None

    @property
    def backbone(self):
        if self._backbone is None:
            from core.models.backbones import make_backbone

            self._backbone = make_backbone(self.config.backbone, self.device, self.config.backbone_weights, self.backend)
        return self._backbone

    def stage_maps(self, pixels: np.ndarray) -> tuple[list, tuple[int, int]]:
        """The backbone's two feature maps of ``pixels`` (TinyViT stages or WideResNet layer2 +
        layer3) and the resized input size they cover."""
        c = self.config
        if c.backbone == "tinyvit":
            f = self.backbone.extract(pixels, c.stages)
            return [f.maps[f"stage{s}"] for s in c.stages], f.input_hw
        f = self.backbone.extract(pixels, c.image_size)
        return [f.maps["layer2"], f.maps["layer3"]], f.input_hw

    def _update_card(self) -> None:
        super()._update_card()
        self.card.backbone = self.backbone.name
        self.card.weights = {self.backbone.weights_file or "random": self.backbone.weights_sha256}
