"""RASALoRE: region aware spatial attention with location-based random embeddings, weakly
supervised brain-MRI anomaly segmentation (Sharma, Jaganathan, Palaniappan, BMVC 2025).

Fit: :mod:`.fitting` (slice labels -> weak masks -> segmentation network -> slice classifier), then
calibration of the volume score on held-out normal volumes (base contract) or, when every training
volume carries lesions (BraTS-like data), on the healthy slices of the training volumes.

Predict: every kept slice through the network (the RASA of the image's sequence). With classifier
guidance (default, :mod:`.guidance`) DDPT also gives every slice P(unhealthy): the maps are the
network's probabilities times that, the mask is the network's mask (probability >= 0.5) on the
slices DDPT calls unhealthy, and the volume score is the mean of the highest ``volume_score_top``
fraction of slice scores. Without it the maps are the probabilities and the volume score is the
highest slice score. A slice's score is the mean of the top ``slice_score_top`` fraction of its map.
Maps go back on the original voxel grid; scores are calibrated against normals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from core.domain import LoadedCase, LoadedImage
from core.errors import InputError, StudioError
from core.models.base import AnomalyModel
from core.models.contract import Capabilities, FitContext, PredictContext, Supervision
from core.models.rasalore import supervision
from core.models.rasalore.card_text import CASE_SCORE_CAVEAT, DEVIATIONS, FAITHFUL_CONFIG
from core.models.rasalore.fitting import fit_rasalore, guided, weak_mask_source
from core.models.rasalore.settings import RasaloreSettings
from core.runtime.progress import part_progress
from core.workspace.cards import Calibration
from core.workspace.results import SliceScores

if TYPE_CHECKING:
    from core.models.rasalore.guidance import SliceClassifier
    from core.models.rasalore.network import RasaloreNet

HEALTHY_SLICES = "healthy slices of the training volumes (no normal volumes): each volume's score formed from its healthy slices"


class Rasalore(AnomalyModel):
    name = "rasalore"
    title = "RASALoRE (weakly supervised brain MRI: DDPT weak masks + LoRE / RASA segmentation)"
    paper = (
        "Sharma, Jaganathan, Palaniappan. RASALoRE: Region Aware Spatial Attention with Location-based "
        "Random Embeddings for Weakly Supervised Anomaly Detection in Brain MRI Scans (BMVC 2025)"
    )
    Settings = RasaloreSettings
    config: RasaloreSettings
    # seconds_per_sample: per slice-labelled volume and epoch (3.6 s per 256 px slice, ~30 training slices a volume)
    capabilities = Capabilities(
        Supervision.WEAKLY_SUPERVISED,
        ("mri",),
        trained=True,
        segments=True,
        volumes=True,
        uses_slice_labels=True,
        seconds_per_sample=108.0,
        samples_per_case=30,
    )
    deviations = DEVIATIONS
    faithful_config = FAITHFUL_CONFIG

    gather_labelled_cases = staticmethod(supervision.gather_labelled_cases)

    def __init__(self, settings: RasaloreSettings | None = None, **config):
        super().__init__(settings, **config)
        self.net: RasaloreNet | None = None
        self._ddpt_state: dict = {}
        self._exclude: set[str] = set()  # normal volumes held out for calibration
        self._classifier: SliceClassifier | None = None  # built on first use

    @property
    def network(self) -> RasaloreNet:
        """The segmentation network; a clear error before fit or load built it."""
        if self.net is None:
            raise StudioError(f"{self.name}: the network is not built yet (fit or load the model first)")
        return self.net

    @property
    def ddpt_state(self) -> dict:
        """The trained DDPT slice classifier's tensors (empty when fitted without one); read-only."""
        return dict(self._ddpt_state)

    def guided(self) -> bool:
        return guided(self.config)

    def weak_mask_source(self) -> str:
        return weak_mask_source(self.config)

    # -- fit hooks -------------------------------------------------------------------------------
    def check_training_data(self, units, normals: Sequence[LoadedCase], ctx: FitContext) -> None:
        if ctx.labelled_cases is None:
            raise InputError(
                None,
                "rasalore is weakly supervised: it needs training cases with slice labels (label volumes or "
                "per-slice review decisions); fit it on a workspace or pass FitContext(labelled_cases=...)",
            )

    def calibration_split(self, units):
        train, calib, source = super().calibration_split(units) if units else ([], [], HEALTHY_SLICES)
        self._exclude = {im.sha256 for im in calib if source == "held-out normals"}
        return train, calib, source

    def _fit(self, units: list[LoadedImage], ctx: FitContext) -> None:
        if self.guided():  # the slice classifier's encoder: calibration and prediction use this backend
            self.record_inference_backend()
        fitted = fit_rasalore(self.config, units, ctx, exclude=self._exclude, device=self.device, store=self.array_store)
        self.net, self._ddpt_state, self._classifier = fitted.net, fitted.ddpt_state, None
        self.config = replace(self.config, sequences=",".join(fitted.sequences), bridge_sequence=fitted.bridge)
        self.card.metrics.update(fitted.metrics)

    def calibrate(self, units, source: str, ctx: FitContext, *, trained_on=()) -> Calibration:
        if units:
            return super().calibrate(units, source, ctx, trained_on=trained_on)
        return self._calibrate_on_healthy_slices(ctx)

    def _calibrate_on_healthy_slices(self, ctx: FitContext) -> Calibration:
        """Without normal volumes: each training volume's healthy slices stand for a normal volume,
        and the score calibrated is the one reported (the guided top-fraction mean, or the highest
        slice score without guidance), computed from those slices only."""
        from core.models.rasalore.data import build_cases

        raws, maps = [], []
        cases = build_cases([], ctx.labelled_cases or [], self.config)
        for i, tc in enumerate(cases):
            ctx.cancel.raise_if_cancelled()
            what = f"calibrating on the healthy slices of volume {i + 1}/{len(cases)}"
            ctx.progress(i, len(cases), what)
            healthy = tc.labels == supervision.HEALTHY
            if not healthy.any():
                continue
            sub = part_progress(ctx.progress, i, len(cases), what + ": ")
            for im in tc.images.values():
                out = self.slice_maps(im, PredictContext(progress=sub, cancel=ctx.cancel))
                healthy_maps = out["maps"][healthy]
                raws.append(self.volume_score(self._slice_scores(healthy_maps), guided_scores=out["p_unhealthy"] is not None))
                maps.append(healthy_maps)
        return Calibration.from_samples(raws, maps, HEALTHY_SLICES)

    # -- predict ---------------------------------------------------------------------------------
    def slice_probabilities(self, image: LoadedImage, normalised: np.ndarray | None = None):
        """(geometry, (n, S, S) probability maps, sequence used) for one volume (``normalised``: its
        :func:`.slicing.normalise_volume`, when the caller has it already)."""
        import torch

        from core.models.rasalore.data import plan_for, sequence_of
        from core.models.rasalore.slicing import normalise_volume

        if image.array.ndim != 3:
            raise InputError(None, f"{image.record.id}: rasalore scores 3-D MRI volumes, got shape {image.array.shape}")
        geo = plan_for(image, self.config)
        seq = sequence_of(image)
        net = self.network
        used = seq if seq in net.sequences else self.config.bridge_sequence
        if normalised is None:
            normalised = normalise_volume(image.array, self.config.gamma)
        x = torch.from_numpy(geo.extract(normalised))[:, None]
        dev = self.device
        net.to(dev).eval()
        out = []
        bs = max(1, self.config.predict_batch)
        with torch.inference_mode():
            for s in range(0, x.shape[0], bs):
                out.append(net(x[s : s + bs].to(dev), used)["mask"][:, 0].float().cpu())
        return geo, torch.cat(out).numpy(), used

    def _slice_scores(self, probs: np.ndarray) -> np.ndarray:
        flat = probs.reshape(probs.shape[0], -1)
        top = max(1, int(math.ceil(self.config.slice_score_top * flat.shape[1])))
        return np.sort(flat, axis=1)[:, -top:].mean(axis=1)

    def volume_score(self, slice_scores: np.ndarray, *, guided_scores: bool) -> float:
        """The reported volume score: the mean of the top ``volume_score_top`` slice scores with
        guidance, the highest slice score without."""
        from core.models.rasalore.guidance import volume_score

        return volume_score(slice_scores, self.config.volume_score_top) if guided_scores else float(np.max(slice_scores))

    def slice_maps(self, image: LoadedImage, ctx: PredictContext | None = None) -> dict:
        """One volume's slices: ``geo``, network ``probs`` (n, S, S), ``maps`` (the guided maps, or
        ``probs`` without guidance), ``p_unhealthy`` (n,) or None, ``sequence`` used."""
        from core.models.rasalore.slicing import normalise_volume

        ctx = ctx or PredictContext()
        normalised = normalise_volume(image.array, self.config.gamma) if image.array.ndim == 3 else None
        geo, probs, used = self.slice_probabilities(image, normalised)
        p = None
        if self.guided():
            from core.models.rasalore.guidance import guided_maps
            from core.models.rasalore.weak_masks import SAM_SIZE

            slices = geo.extract(normalised, size=SAM_SIZE).astype(np.float32)
            p = self.slice_classifier().probabilities(slices, progress=ctx.progress, cancel=ctx.cancel)
            maps = guided_maps(probs, p)
        else:
            maps = probs
        return {"geo": geo, "probs": probs, "maps": maps, "p_unhealthy": p, "sequence": used}

    def slice_classifier(self) -> SliceClassifier:
        if not self._ddpt_state:
            raise InputError(
                None,
                "rasalore: this model has no trained DDPT classifier for classifier guidance "
                "(it was fitted without it); predict with classifier_guidance=false or retrain",
            )
        if self._classifier is None:
            from core.models.rasalore.guidance import SliceClassifier

            self._classifier = SliceClassifier(self.config, self._ddpt_state, self.device, self.array_store, backend=self.backend)
        return self._classifier

    def _predict_raw(self, image: LoadedImage, ctx: PredictContext) -> tuple[float, np.ndarray, dict]:
        from core.models.rasalore.data import sequence_of

        out = self.slice_maps(image, ctx)
        geo, probs, maps, p, used = out["geo"], out["probs"], out["maps"], out["p_unhealthy"], out["sequence"]
        scores = self._slice_scores(maps)
        threshold = self.config.mask_threshold
        mask = geo.to_volume(probs, fill=0.0) >= threshold
        volume = geo.to_volume(maps, fill=0.0)
        per_slice: list[float | None] = [None] * geo.shape[geo.array_axis]
        per_slice_p: list[float | None] = [None] * geo.shape[geo.array_axis]
        for k, idx in enumerate(geo.array_indices()):
            per_slice[idx] = float(f"{float(scores[k]):.6g}")  # 6 significant digits: tiny scores still rank
            if p is not None:
                per_slice_p[idx] = round(float(p[k]), 4)
                if p[k] < 0.5:  # classifier-guided mask: healthy slice, no mask
                    sl = [slice(None)] * 3
                    sl[geo.array_axis] = idx
                    mask[tuple(sl)] = False
        slices = SliceScores(
            axis=geo.array_axis,
            plane=self.config.slice_plane,
            scores=per_slice,
            p_unhealthy=per_slice_p if p is not None else None,
            top=int(geo.array_index(int(np.argmax(scores)))),
        )
        extras = {
            "mask": mask,
            "slices": slices,
            "sequence": used,
            "mask_threshold": threshold,
            "probability_max": float(probs.max()),
            "classifier_guidance": p is not None,
        }
        if p is not None:
            extras["slices_unhealthy"] = int((p >= 0.5).sum())
        if used != sequence_of(image):
            extras["note"] = f"sequence '{sequence_of(image)}' was not trained; scored with the bridge sequence '{used}'"
        return self.volume_score(scores, guided_scores=p is not None), volume, extras

    # -- persistence -----------------------------------------------------------------------------
    @classmethod
    def load(cls, folder, **overrides):
        card = cls.read_card(folder)
        if "classifier_guidance" not in card.config and "classifier_guidance" not in overrides:
            overrides["classifier_guidance"] = False  # versions from before guidance: scored as they were
        return super().load(folder, **overrides)

    def _build_net(self) -> RasaloreNet:
        from core.models.rasalore.network import RasaloreNet

        return RasaloreNet.from_settings(self.config)

    def state_tensors(self) -> dict:
        out = {f"net.{k}": v for k, v in self.network.state_dict().items()}
        out.update({f"ddpt.{k}": v for k, v in self._ddpt_state.items()})
        return out

    def load_tensors(self, state: dict) -> None:
        net = self._build_net()
        net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")}, strict=True)
        self.net = net.eval()
        self._ddpt_state = {k[5:]: v for k, v in state.items() if k.startswith("ddpt.")}

    def _update_card(self) -> None:
        from core.runtime import weights

        c = self.config
        if self.guided():
            self.card.metrics.pop("case_score_caveat", None)
        else:
            self.card.metrics["case_score_caveat"] = CASE_SCORE_CAVEAT
        source = self.weak_mask_source()
        if source == "healthy_contrast":
            masks = "healthy-reference contrast of frozen LiteMedSAM features"
        else:
            masks = "DDPT attention over " + ("CLIP ViT-B/32" if c.ddpt_backbone == "clip_vit_b32" else "frozen LiteMedSAM")
        refine = " + LiteMedSAM box refinement" if c.use_medsam else ""
        self.card.backbone = f"RASALoRE network (LoRE + RASA, U-Net encoder); weak masks: {masks}{refine}"
        self.card.metrics["ddpt_backbone"] = c.ddpt_backbone
        self.card.metrics["weak_mask"] = source
        try:
            path, digest = weights.resolve("litemedsam")
            self.card.weights = {path.name: digest}
            if c.ddpt_backbone == "clip_vit_b32":
                cpath, cdigest = weights.resolve("clip_vit_b32")
                self.card.weights[cpath.name] = cdigest
        except Exception as exc:  # noqa: BLE001 - the card records what it can
            self.card.notes = f"weights not recorded: {exc}"
