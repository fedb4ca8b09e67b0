"""ReSynthDetect: reconstruction + synthetic features for fundus anomaly detection (Niu et al.).

Stage 1 trains an autoencoder (L2) on normal images; its encoder E_r is frozen. Stage 2 trains a
U-Net localisation network, whose encoder concatenates E_r's features at every level, on
synthetic anomalies from the consistent generator, with focal loss (gamma 2). Images are CLAHE
enhanced (clip limit 2, 8 x 8 tiles) and resized to ``image_size``. Image score = mean of the 10
highest pixel probabilities. Optimiser: Adam, lr 5e-5 with cosine decay to 2.5e-5 after a warm-up
of 50 epochs (the paper's schedule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.data.anomaly_synthesis.common import as_hwc_uint8
from core.domain import LoadedImage
from core.errors import StudioError
from core.models.contract import Capabilities, FitContext, PredictContext, Supervision
from core.models.pages import VOLUME_NOTE, PageModel, PageOutput, image_pages
from core.models.resynthdetect.settings import ReSynthDetectSettings
from core.models.tiling import Tile, page_tiles, resize_map, stitch

if TYPE_CHECKING:
    from core.models.resynthdetect.network import AutoEncoder, LocalizationUNet


def clahe(rgb: np.ndarray, clip: float = 2.0, grid: int = 8) -> np.ndarray:
    """CLAHE on the lightness channel (LAB) of an RGB uint8 image; on the image itself when grey."""
    import cv2

    op = cv2.createCLAHE(clipLimit=float(clip), tileGridSize=(int(grid), int(grid)))
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        g = op.apply(np.ascontiguousarray(rgb[..., 0]))
        return np.repeat(g[..., None], 3, axis=-1)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    lab[..., 0] = op.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


TILING_NOTE = (
    "Tiled inference (the product's, not the paper's): both networks train on and score {n} x {n} overlapping "
    "native-resolution tiles of every image or B-scan, each resized to image_size (fundus tiles outside the field of "
    "view skipped); probability maps are stitched with blending and the calibration belongs to this tiling."
)


class ReSynthDetect(PageModel):
    name = "resynthdetect"
    title = "ReSynthDetect (reconstruction features + consistent synthetic lesions)"
    paper = "Niu et al., ReSynthDetect: A Fundus Anomaly Detection Network with Reconstruction and Synthetic Features"
    Settings = ReSynthDetectSettings
    config: ReSynthDetectSettings
    capabilities = Capabilities(
        Supervision.SELF_SUPERVISED, ("fundus", "oct"), trained=True, uses_labelled_anomalies=True, seconds_per_sample=0.9
    )
    deviations = (
        "Default input is 256 x 256 instead of the paper's 768 x 768 so training runs on a laptop CPU "
        "(image_size=768 restores it; a GPU is advisable).",
        "The paper does not give the networks' widths or normalisation: both encoders have 5 levels of "
        "32/64/128/256/256 channels (base_channels) with GroupNorm, which stays consistent at the small batch sizes of CPU training.",
        "The warm-up (50 epochs in the paper) is shortened to at most a quarter of a run with fewer epochs, "
        "so short runs reach the base learning rate.",
        "Half of the training samples carry a synthetic lesion (p_anomaly=0.5, as in DRAEM which ReSynthDetect builds on); "
        "the paper does not state the ratio.",
        "Perlin shapes are thresholded at 0.3 with 2-8 lattice cells per crop side (the paper gives no numbers; "
        "DRAEM's 0.5 leaves slivers on crop-sized noise).",
        VOLUME_NOTE + " B-scans are scored in batches of 8 (one forward pass each).",
    )
    floors_outside_view = True
    faithful_config = {"image_size": 768, "lr": 5e-5, "min_lr": 2.5e-5, "warmup_epochs": 50, "focal_gamma": 2.0, "top_k": 10}

    def __init__(self, settings: ReSynthDetectSettings | None = None, **config):
        super().__init__(settings, **config)
        self.ae: AutoEncoder | None = None
        self.loc: LocalizationUNet | None = None

    # -- preprocessing -------------------------------------------------------------------------
    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        """2-D image -> (S, S, 3) uint8: resized to image_size, CLAHE enhanced."""
        import cv2

        rgb, _ = as_hwc_uint8(pixels)
        s = self.config.image_size
        interp = cv2.INTER_AREA if max(rgb.shape[:2]) > s else cv2.INTER_LINEAR
        rgb = cv2.resize(rgb, (s, s), interpolation=interp)
        return clahe(rgb, self.config.clahe_clip, self.config.clahe_grid)

    @staticmethod
    def to_tensor(batch: list[np.ndarray], device):
        import torch

        a = np.stack(batch).astype(np.float32) / 255.0
        return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous().to(device)

    def _build(self) -> tuple[AutoEncoder, LocalizationUNet]:
        from core.models.resynthdetect.network import AutoEncoder, LocalizationUNet

        b, lv = self.config.base_channels, self.config.levels
        ae = AutoEncoder(3, b, lv)
        loc = LocalizationUNet(3, b, lv, ae.encoder.channels, self.config.use_reconstruction)
        self.ae, self.loc = ae, loc
        return ae, loc

    @property
    def networks(self) -> tuple[AutoEncoder, LocalizationUNet]:
        """(autoencoder, localisation U-Net); a clear error before fit or load built them."""
        if self.ae is None or self.loc is None:
            raise StudioError(f"{self.name}: the networks are not built yet (fit or load the model first)")
        return self.ae, self.loc

    def _labelled(self, labelled_anomalies: list) -> list[tuple[np.ndarray, np.ndarray]]:
        import cv2

        out: list[tuple[np.ndarray, np.ndarray]] = []
        if not self.config.use_labelled_anomalies:
            return out
        s = self.config.image_size
        for lc in labelled_anomalies:
            im = lc.of(self.config.modality)
            if im is None or not im.mask.any():
                continue
            for part, tile in self.page_parts(im.pixels, self.config.modality == "fundus"):
                m = im.mask if tile is None else tile.crop(im.mask)
                if m.any():  # with tiles, the tiles that hold some of the lesion
                    mask = cv2.resize(m.astype(np.uint8), (s, s), interpolation=cv2.INTER_NEAREST).astype(bool)
                    out.append((self.prepare(part), mask))
        return out

    # -- training ------------------------------------------------------------------------------
    def _fit(self, images: list[LoadedImage], ctx: FitContext) -> None:
        import torch

        from core.data.anomaly_synthesis import ConsistentAnomalyGenerator
        from core.training import Trainer, seed_everything
        from core.training.batches import EpochBatches
        from core.training.losses import focal_loss
        from core.training.schedules import effective_warmup, warmup_cosine

        cfg = self.config
        progress, cancel = ctx.progress, ctx.cancel
        seed = cfg.seed
        seed_everything(seed)
        dev = self.device
        normals: list[np.ndarray] = []
        for i, im in enumerate(images):
            cancel.raise_if_cancelled()
            progress(i, len(images), f"preparing normal image {i + 1}/{len(images)}")
            fundus = im.modality.value == "fundus"
            for page in image_pages(im):  # every B-scan of a normal volume, every tile with tiles > 1
                normals.extend(self.prepare(part) for part, _ in self.page_parts(page, fundus))
        labelled = self._labelled(ctx.labelled_anomalies)
        ae, loc = self._build()
        epochs = cfg.epochs
        ae_epochs = cfg.ae_epochs if cfg.ae_epochs >= 0 else epochs
        bs, spe = cfg.batch_size, cfg.samples_per_epoch
        run = ctx.training

        def optimiser(module, n_epochs):
            opt = torch.optim.Adam(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            return opt, warmup_cosine(opt, n_epochs, effective_warmup(cfg.warmup_epochs, n_epochs), cfg.min_lr)

        def staged(stage: str, n: int):
            return lambda d, t, m: progress(d, t, f"stage {n}/2 ({stage}): {m}")

        history = {}
        # stage 1: autoencoder, L2 reconstruction of normal images
        if ae_epochs > 0:
            opt, sched = optimiser(ae, ae_epochs)
            trainer = Trainer(
                ae,
                opt,
                sched,
                device=dev,
                context=run.child("autoencoder", stage="autoencoder") if run else None,
                progress=staged("autoencoder", 1),
                cancel=cancel,
            )

            def ae_batch(rng, idx):
                return self.to_tensor([normals[i] for i in idx], dev)

            def ae_step(x):
                return {"loss": torch.mean((ae(x).float() - x) ** 2)}

            state = trainer.run(EpochBatches(len(normals), bs, ae_batch, seed=seed, samples_per_epoch=spe, stream=1), ae_step, ae_epochs)
            history["autoencoder"] = state.history
        ae.to(dev).eval()
        for p in ae.parameters():
            p.requires_grad_(False)
        # stage 2: localisation network on synthetic anomalies, E_r frozen
        gen = ConsistentAnomalyGenerator(
            normals,
            cfg.modality,
            alpha=cfg.alpha,
            n_augmentations=cfg.n_augmentations,
            crop_fraction=(cfg.crop_min, cfg.crop_max),
            threshold=cfg.perlin_threshold,
        )
        p_anom, p_real, gamma = cfg.p_anomaly, cfg.labelled_fraction, cfg.focal_gamma

        def loc_batch(rng, idx):
            xs, ms = [], []
            for i in idx:
                if labelled and rng.random() < p_real:
                    img, m = labelled[int(rng.integers(0, len(labelled)))]
                elif rng.random() < p_anom:
                    synth = gen.sample(rng, target=i)
                    img, m = synth.image, synth.mask
                else:
                    img, m = normals[i], np.zeros(normals[i].shape[:2], bool)
                xs.append(img)
                ms.append(m)
            return self.to_tensor(xs, dev), torch.from_numpy(np.stack(ms)[:, None].astype(np.float32)).to(dev)

        def loc_step(batch):
            x, m = batch
            with torch.no_grad():
                rf = ae.encoder(x) if cfg.use_reconstruction else None
            return {"loss": focal_loss(loc(x, rf), m, gamma)}

        opt, sched = optimiser(loc, epochs)
        trainer = Trainer(
            loc,
            opt,
            sched,
            device=dev,
            context=run.child("localization", stage="localization") if run else None,
            progress=staged("localization", 2),
            cancel=cancel,
        )
        state = trainer.run(EpochBatches(len(normals), bs, loc_batch, seed=seed, samples_per_epoch=spe, stream=2), loc_step, epochs)
        history["localization"] = state.history
        loc.eval()
        self.card.metrics["training"] = {k: (v[-1] if v else {}) for k, v in history.items()}
        self.card.metrics["training_history"] = history
        self.card.metrics["labelled_anomalies"] = len(labelled)

    # -- inference -----------------------------------------------------------------------------
    def page_parts(self, pixels: np.ndarray, fundus: bool) -> list[tuple[np.ndarray, Tile | None]]:
        """(pixels, tile) of each input one page gives the networks: the whole page (tile None) with
        ``tiles=1``, else each kept native-resolution tile (core.models.tiling)."""
        tiles = page_tiles(pixels, self.config.tiles, self.config.tile_overlap, fundus)
        if tiles is None:
            return [(pixels, None)]
        return [(np.ascontiguousarray(t.crop(pixels)), t) for t in tiles]

    def probabilities(self, prepared: list[np.ndarray], batch: int = 8) -> np.ndarray:
        """(n, S, S) anomaly probabilities of prepared inputs (see :meth:`prepare`), ``batch`` per forward pass."""
        import torch

        ae, loc = self.networks
        out = []
        for i in range(0, len(prepared), batch):
            x = self.to_tensor(prepared[i : i + batch], self.device)
            with torch.inference_mode():
                rf = ae.encoder(x) if self.config.use_reconstruction else None
                out.append(torch.sigmoid(loc(x, rf).float())[:, 0].cpu().numpy())
        return np.concatenate(out, axis=0)

    def probability_maps(self, pages: list[np.ndarray]) -> np.ndarray:
        """(n, S, S) anomaly probabilities of whole 2-D images in the model frame (untiled)."""
        return self.probabilities([self.prepare(p) for p in pages])

    def probability_map(self, pixels: np.ndarray) -> np.ndarray:
        """(S, S) anomaly probabilities in the model frame."""
        return self.probability_maps([pixels])[0]

    def _score_pages(self, pages: list[np.ndarray], image: LoadedImage, ctx: PredictContext) -> list[PageOutput]:
        fundus = image.modality.value == "fundus"
        parts = [self.page_parts(p, fundus) for p in pages]
        probs = iter(self.probabilities([self.prepare(px) for page in parts for px, _ in page]))
        out = []
        for pixels, page in zip(pages, parts, strict=True):
            frames = [next(probs) for _ in page]
            k = max(1, min(self.config.top_k, sum(f.size for f in frames)))
            # mean of the top-k pixel probabilities (over every tile of the page)
            score = float(np.sort(np.concatenate([f.ravel() for f in frames]))[-k:].mean())
            h, w = pixels.shape[:2]
            extras: dict = {"max_probability": float(max(f.max() for f in frames))}
            if page[0][1] is None:
                full = resize_map(frames[0], (h, w), antialias=False)
            else:
                tiles = [t for _, t in page if t is not None]
                full = stitch([resize_map(f, t.shape, antialias=False) for f, t in zip(frames, tiles, strict=True)], tiles, (h, w))
                extras["tiles"] = [t.as_list() for t in tiles]
            out.append((score, full, extras))
        return out

    def _score_page(self, pixels: np.ndarray, image: LoadedImage, ctx: PredictContext) -> PageOutput:
        return self._score_pages([pixels], image, ctx)[0]

    # -- persistence ---------------------------------------------------------------------------
    def state_tensors(self) -> dict:
        ae, loc = self.networks
        out = {f"ae.{k}": v for k, v in ae.state_dict().items()}
        out.update({f"loc.{k}": v for k, v in loc.state_dict().items()})
        return out

    def load_tensors(self, state: dict) -> None:
        ae, loc = self._build()
        ae.load_state_dict({k[3:]: v for k, v in state.items() if k.startswith("ae.")})
        loc.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("loc.")})
        dev = self.device
        ae.to(dev).eval()
        loc.to(dev).eval()

    def _update_card(self) -> None:
        c = self.config
        self.card.metrics["tiling"] = f"{c.tiles} x {c.tiles} tiles, overlap {c.tile_overlap:g}"
        if c.tiles > 1 and TILING_NOTE.format(n=c.tiles) not in self.card.deviations:
            self.card.deviations.append(TILING_NOTE.format(n=c.tiles))
        ae, loc = self.networks
        n = sum(p.numel() for p in ae.encoder.parameters()) + sum(p.numel() for p in loc.parameters())
        self.card.backbone = f"U-Net localisation + autoencoder features (trained from scratch, {n / 1e6:.1f} M parameters at inference)"
        self.card.weights = {}
