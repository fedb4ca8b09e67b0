"""MMRAD: SAM adapted for multi-modal (fundus + OCT) retinal anomaly detection and localisation
(Li et al.).

A frozen SAM image encoder with low-level prompt tuning embeds each image; a modality-shared
decoder gives each modality's anomaly map (mask token, in parallel) and the case score (fusion
token, fundus then OCT). Trained on simulated anomalies only (probability 0.7 per image), with CE
on both maps and CE on the case score against max(B_fundus, B_oct); AdamW, lr 2e-4.

A paired case gives one map per image plus the fused case score; a single image (or a model
trained on single images) gives its map and an image score (max of the map). ``modality`` picks
which cases are fitted and predicted (those with an image of that modality); a paired case always
contributes both of its images.

An OCT volume is scored B-scan by B-scan (core.models.pages): paired with its fundus photo, every
B-scan is decoded with the fundus (encoded once) and gets its own map and fusion logit; the OCT
image's score is its highest calibrated B-scan score and the pair's fusion score the highest
B-scan fusion logit (calibrated per B-scan, like the maps). In training a volume gives one B-scan,
drawn at random, each time its case is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from core.domain import LoadedCase, LoadedImage
from core.errors import InputError, StudioError
from core.models.base import AnomalyModel, AnomalyResult, ImageMap
from core.models.contract import Capabilities, FitContext, PredictContext, Supervision
from core.models.mmrad.card_text import DEVIATIONS, FAITHFUL_CONFIG
from core.models.mmrad.cases import CaseInference, infer_case, simulate_case, to_grids
from core.models.mmrad.settings import MMRADSettings
from core.models.pages import PageOutput, combine_pages, image_pages
from core.models.volume_scores import bscan_scores, note_contour, note_volume_scores, with_enface
from core.runtime.progress import CancelToken
from core.workspace.cards import Calibration

if TYPE_CHECKING:
    from core.models.mmrad.network import Inference, MMRADNet
    from core.workspace.results import SliceScores

MODS = ("fundus", "oct")


class MMRAD(AnomalyModel):
    name = "mmrad"
    title = "MMRAD (SAM + low-level prompts, modality-shared decoder, fusion token)"
    paper = "Li et al., Adapting the segment anything model for multi-modal retinal anomaly detection and localization"
    Settings = MMRADSettings
    config: MMRADSettings
    capabilities = Capabilities(
        Supervision.SELF_SUPERVISED, MODS, trained=True, pairs=True, uses_labelled_anomalies=True, seconds_per_sample=7.5
    )
    deviations = DEVIATIONS
    faithful_config = FAITHFUL_CONFIG

    def __init__(self, settings: MMRADSettings | None = None, **config):
        super().__init__(settings, **config)
        self.order = self.config.fusion_order_list
        self.net: MMRADNet | None = None
        self.mod_calibration: dict[str, Calibration] = {}

    # -- pieces --------------------------------------------------------------------------------
    def _build(self) -> MMRADNet:
        from core.models.mmrad.network import MMRADNet

        self.net = MMRADNet(self.config.encoder, self.device, self.config.prompt_dim, self.config.low_level_cnn)
        return self.net

    @property
    def network(self) -> MMRADNet:
        """The built network; a clear error before fit or load built it."""
        if self.net is None:
            raise StudioError(f"{self.name}: the network is not built yet (fit or load the model first)")
        return self.net

    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        from core.models.mmrad.network import prepare_image

        return prepare_image(pixels, self.config.image_size)

    def case_images(self, case: LoadedCase) -> dict[str, LoadedImage]:
        out = {}
        for m in MODS:
            ims = case.scored(m)
            if ims:
                out[m] = ims[0]
        return out

    def select_images(self, cases: Sequence[LoadedCase]) -> list[LoadedImage]:
        return [im for c in cases for im in self.case_images(c).values()]

    # -- fit hooks: MMRAD learns from whole cases (a pair stays a pair) ----------------------------
    def training_units(self, normals: Sequence[LoadedCase]) -> list[dict[str, LoadedImage]]:
        return [c for c in (self.case_images(n) for n in normals) if c]

    def unit_images(self, units) -> list[LoadedImage]:
        return [im for c in units for im in c.values()]

    def check_training_data(self, units, normals, ctx: FitContext) -> None:
        if not units:
            raise InputError(None, f"{self.name}: no fundus or OCT images among the {len(normals)} normal case(s)")

    def loss_fn(self):
        from core.training.losses import bce_loss, focal_loss

        if self.config.loss == "focal":
            gamma = self.config.focal_gamma
            return lambda logits, target, weight=None: focal_loss(logits, target, gamma, weight)
        return bce_loss

    # -- training ------------------------------------------------------------------------------
    def _fit(self, cases: list[dict[str, LoadedImage]], ctx: FitContext) -> None:
        import torch

        from core.training import Trainer, seed_everything
        from core.training.batches import EpochBatches

        cfg = self.config
        progress, cancel = ctx.progress, ctx.cancel
        seed = cfg.seed
        seed_everything(seed)
        items = []
        for i, c in enumerate(cases):
            cancel.raise_if_cancelled()
            progress(i, len(cases), f"preparing normal case {i + 1}/{len(cases)}")
            items.append(self._sim_entry(c))
        labelled = self._labelled(ctx.labelled_anomalies)
        net = self._build()
        sims = self._simulators(cfg.p_anomaly)
        p_real = cfg.labelled_fraction
        p_anom, per_case = cfg.p_anomaly, cfg.pair_anomaly == "per_case"

        def make_batch(rng, idx):
            out = []
            for i in idx:
                if labelled and rng.random() < p_real:
                    out.append(labelled[int(rng.integers(0, len(labelled)))])
                    continue
                out.append(simulate_case(items[i], sims, rng, p_anom, per_case))
            return out

        # share of anomalous pairs, and the case-score weights (normal, anomalous) that balance them
        p_pos = p_anom if per_case else 1.0 - (1.0 - p_anom) ** 2
        score_weights = (0.5 / (1.0 - p_pos), 0.5 / p_pos) if cfg.balance_score and 0.0 < p_pos < 1.0 else (1.0, 1.0)

        params = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
        spe = cfg.samples_per_epoch or max(len(items), cfg.min_samples_per_epoch)
        loader = EpochBatches(len(items), cfg.batch_size, make_batch, seed=seed, samples_per_epoch=spe)
        loss_fn, paired = self.loss_fn(), cfg.paired
        trainer = Trainer(
            net, opt, None, device=self.device, context=ctx.training, progress=progress, cancel=cancel, grad_clip=cfg.grad_clip
        )
        net.encoder.enc.eval()
        state = trainer.run(loader, lambda samples: net.training_terms(samples, self.order, paired, loss_fn, score_weights), cfg.epochs)
        net.eval()
        self.card.metrics["training"] = state.history[-1] if state.history else {}
        self.card.metrics["training_history"] = state.history
        self.card.metrics["labelled_anomalies"] = len(labelled)
        self.card.metrics["training_cases"] = {"paired": sum(len(c) == 2 for c in cases), "single": sum(len(c) == 1 for c in cases)}

    def _sim_entry(self, case: dict[str, LoadedImage]) -> dict:
        """{modality: (prepared image, foreground mask)}: what the anomaly simulator works on."""
        from core.data.anomaly_synthesis.common import foreground_mask

        entry: dict = {}
        for m, im in case.items():
            pages = [(prep, foreground_mask(prep, m)) for prep in (self.prepare(p) for p in image_pages(im))]
            entry[m] = pages if im.record.is_stack else pages[0]  # a volume: one entry per B-scan
        return entry

    def _simulators(self, p_anomaly: float) -> dict:
        from core.data.anomaly_synthesis import MMRADSimulator

        size = (self.config.sim_size_min, self.config.sim_size_max)
        return {m: MMRADSimulator(m, p_anomaly=p_anomaly, size_fraction=size) for m in MODS}

    def _labelled(self, labelled_anomalies: list) -> list[dict]:
        import cv2

        out: list[dict] = []
        if not self.config.use_labelled_anomalies:
            return out
        for lc in labelled_anomalies:
            sample = {}
            for im in lc.images.values():
                if im.modality in MODS:
                    prep = self.prepare(im.pixels)
                    mask = cv2.resize(im.mask.astype(np.uint8), (prep.shape[1], prep.shape[0]), interpolation=cv2.INTER_NEAREST)
                    sample[im.modality] = (prep, mask.astype(bool))
            if sample and any(m.any() for _p, m in sample.values()):
                out.append(sample)
        return out

    def calibrate(self, units, source: str, ctx: FitContext, *, trained_on=()) -> Calibration:
        """Each modality's maps and image scores and the fused case score, on the held-out cases
        (a modality or the pair no held-out case has: on the training cases); then pick how pairs
        are scored (:meth:`choose_case_score`)."""
        calib, fit_set = list(units), list(trained_on)
        hold = source == "held-out normals"
        raws: dict[str, list] = {m: [] for m in MODS}
        maps: dict[str, list] = {m: [] for m in MODS}
        volumes: dict[str, list] = {m: [] for m in MODS}  # (B-scans, highest raw) of every normal volume
        fused: list[float] = []

        def add(c: dict[str, LoadedImage], only: set[str] | None, with_fusion: bool) -> None:
            ci = self.infer_case(c)
            for m, pms in ci.maps.items():
                if only is None or m in only:
                    page_raws = [self.image_raw(pm) for pm in pms]  # one sample per B-scan of a volume
                    raws[m].extend(page_raws)
                    maps[m].extend(pms)
                    if c[m].record.is_stack:
                        volumes[m].append((len(pms), max(page_raws)))
            if with_fusion:
                fused.extend(ci.fusion)

        for i, c in enumerate(calib):
            ctx.cancel.raise_if_cancelled()
            ctx.progress(i, len(calib), f"calibrating on normal case {i + 1}/{len(calib)}")
            add(c, None, True)
        missing = {m for m in MODS if not raws[m]} | ({"pair"} if not fused else set())
        needed = [c for c in fit_set if hold and ((set(c) & missing) or ("pair" in missing and len(c) == 2))]
        fallback = {m: "training normals (no held-out case has this modality)" for m in missing}
        for c in needed:
            add(c, missing, "pair" in missing)
        self.mod_calibration = {m: Calibration.from_samples(raws[m], maps[m], fallback.get(m, source)) for m in MODS if raws[m]}
        oct_cal = self.mod_calibration.get("oct")
        note_volume_scores(self.card, oct_cal or Calibration(), volumes["oct"] if oct_cal is not None else [])
        primary = self.modality if self.modality in self.mod_calibration else next(iter(self.mod_calibration))
        calibration = (
            Calibration.from_samples(fused, maps[primary], fallback.get("pair", source) + " (fusion score)")
            if fused
            else self.mod_calibration[primary]
        )
        self.fitted = True
        self.choose_case_score([c for c in calib + (fit_set if hold else []) if len(c) == 2], ctx.cancel)
        return calibration

    def _finish_card(self, t0: float, images: list[LoadedImage], also_trained_on=()) -> None:
        super()._finish_card(t0, images, also_trained_on)
        self.card.metrics["calibration_by_modality"] = {m: asdict(c) for m, c in self.mod_calibration.items()}
        self.card.pixel_threshold = note_contour(self.card, list(self.mod_calibration.values()), self.config.resolved_contour_rule())

    def choose_case_score(self, pairs: list[dict[str, LoadedImage]], cancel: CancelToken | None = None) -> None:
        """Pick how a pair is scored (``case_score``): with ``auto``, simulate validation pairs from
        normal pairs (half anomalous: fundus, OCT or both), and keep the fusion token unless the
        maximum of the calibrated image scores ranks them better. Recorded in the card."""
        from core.metrics.classification import auroc

        mode = self.config.case_score
        self.card.metrics["case_score"] = {"mode": mode, "used": "max" if mode == "max" else "fusion"}
        n = self.config.validation_pairs
        if mode != "auto" or not pairs or n < 2 or not self.config.paired:
            return
        rng = np.random.default_rng(self.config.seed + 101)
        sims = self._simulators(1.0)
        entries = [self._sim_entry(p) for p in pairs[:n]]  # each pair prepared once
        labels, fusion, best_image = [], [], []
        for i in range(n):
            (cancel or CancelToken()).raise_if_cancelled()
            entry = entries[i % len(entries)]
            anomalous = (i + i // len(entries)) % 2 == 1  # every pair both normal and anomalous in turn
            sample = simulate_case(entry, sims, rng, 1.0 if anomalous else 0.0, per_case=True)
            inf = self.network.infer({m: img for m, (img, _mask) in sample.items()}, self.order, True)
            if inf.fusion_logit is None:
                raise StudioError(f"{self.name}: a validation pair got no fusion score")
            labels.append(anomalous)
            fusion.append(float(inf.fusion_logit))
            best_image.append(max(self.mod_calibration[m].image_z(self.image_raw(pm)) for m, pm in inf.maps.items()))
        a_fusion, a_max = float(auroc(labels, fusion)), float(auroc(labels, best_image))
        used = "fusion" if a_fusion >= a_max else "max"
        self.card.metrics["case_score"] = {
            "mode": mode,
            "used": used,
            "validation_pairs": n,
            "validation_auroc": {"fusion": round(a_fusion, 4), "max": round(a_max, 4)},
        }

    def case_score_mode(self) -> str:
        return ((self.card.metrics or {}).get("case_score") or {}).get("used", "fusion")

    # -- inference -----------------------------------------------------------------------------
    def image_raw(self, prob_map: np.ndarray) -> float:
        return float(prob_map.max() if self.config.image_score == "max" else prob_map.mean())

    def infer(self, pixels: dict[str, np.ndarray]) -> Inference:
        """{modality: 2-D image} -> network.Inference with maps on each image's own grid."""
        inf = self.network.infer({m: self.prepare(p) for m, p in pixels.items()}, self.order, self.config.paired)
        return to_grids(inf, pixels)

    def infer_case(self, images: dict[str, LoadedImage], ctx: PredictContext | None = None) -> CaseInference:
        """Maps of every page of a case's images and the fusion logits (core.models.mmrad.cases)."""
        return infer_case(self, images, ctx)

    def _predict_raw(self, image: LoadedImage, ctx: PredictContext) -> PageOutput:
        m = image.modality.value
        pms = self.infer_case({m: image}, ctx).maps[m]
        return combine_pages([(self.image_raw(pm), pm, {}) for pm in pms], image.record.is_stack)

    def predict(self, case: LoadedCase, ctx: PredictContext | None = None, *, progress=None, cancel=None) -> AnomalyResult:
        if not self.fitted:
            raise StudioError(f"{self.name}: model is not fitted")
        ctx = PredictContext.make(ctx, progress, cancel)
        images = self.case_images(case)
        if not images:
            raise InputError(None, f"case {case.id} has no fundus or OCT image for {self.name}")
        ci = self.infer_case(images, ctx)
        out: dict[str, ImageMap] = {}
        slices: SliceScores | None = None
        scores: dict[str, tuple[float, float]] = {}  # image -> (calibrated, raw) score
        for m, im in images.items():
            cal = self.mod_calibration.get(m)
            if cal is None:
                raise InputError(None, f"this {self.name} model was trained without {m} images and cannot score {case.id}/{im.record.name}")
            pms = ci.maps[m]
            raws = [self.image_raw(pm) for pm in pms]
            raw = max(raws)
            heat = cal.pixel_z(np.stack(pms) if im.record.is_stack else pms[0])
            if im.record.is_stack:
                slices = bscan_scores(cal, raws)
            z = cal.image_z(raw)
            scores[im.record.name] = (z, raw)
            out[im.record.name] = ImageMap(heatmap=heat, score=z, raw_score=raw)
        out = with_enface(case, out)
        fusion_logit = max(ci.fusion) if ci.fusion else None
        primary_mod = self.config.modality if self.config.modality in images else next(iter(images))
        primary = images[primary_mod].record.name
        extras: dict[str, Any] = {"modalities": list(images), "image_scores": {n: float(z) for n, (z, _raw) in scores.items()}}
        if fusion_logit is not None:
            extras.update(fusion_logit=float(fusion_logit), fusion_probability=float(1.0 / (1.0 + np.exp(-fusion_logit))))
            if len(ci.fusion) > 1:
                extras["bscan_fusion_logits"] = [round(float(f), 5) for f in ci.fusion]
        if fusion_logit is not None and self.case_score_mode() == "fusion":
            score, raw = self.calibration.image_z(fusion_logit), fusion_logit
            source = "the fusion token of the fundus + OCT pair" + (
                f" (the highest of its {len(ci.fusion)} B-scans' fusion scores)" if len(ci.fusion) > 1 else ""
            )
        else:
            best = max(scores, key=lambda n: scores[n][0])
            score, raw = scores[best]
            why = (
                "the higher of the pair's calibrated image scores (the fusion token ranked simulated validation pairs less well)"
                if fusion_logit is not None
                else "no image pair for the fusion token"
            )
            source = f"the calibrated image score of {best} ({why})"
            if slices is not None and best == images["oct"].record.name and slices.top is not None:
                source += f"; {best}: its highest calibrated B-scan score (B-scan {slices.top + 1} of {len(slices.scores)})"
        return AnomalyResult(
            score=float(score),
            heatmap=out[primary].heatmap,
            mask=None,
            extras=extras,
            image=primary,
            raw_score=float(raw),
            maps=out,
            slices=slices,
            score_source=source,
        )

    # -- persistence ---------------------------------------------------------------------------
    def state_tensors(self) -> dict:
        return {f"net.{k}": v for k, v in self.network.state_dict().items()}

    def load_tensors(self, state: dict) -> None:
        net = self._build()
        net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
        net.eval()
        cals = (self.card.metrics or {}).get("calibration_by_modality") or {}
        self.mod_calibration = {m: Calibration(**c) for m, c in cals.items()}

    def _update_card(self) -> None:
        net = self.network
        enc = net.encoder
        n = sum(p.numel() for p in net.parameters() if p.requires_grad)
        self.card.backbone = (
            f"{self.config.encoder} image encoder (frozen) + low-level prompts ({enc.low_level_kind} CNN) "
            f"+ modality-shared decoder; {n / 1e6:.2f} M trained parameters"
        )
        self.card.weights = dict(enc.weights)
