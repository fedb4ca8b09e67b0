"""RASALoRE: region aware spatial attention with location-based random embeddings, weakly
supervised brain-MRI anomaly segmentation (Sharma, Jaganathan, Palaniappan, BMVC 2025).

Fit (weak supervision: slice labels only):

1. volumes -> slices (:mod:`.slicing`), slice labels (:mod:`.supervision`);
2. weak masks: the healthy-reference contrast (offline default, :mod:`.contrast`) or DDPT's attention
   (:mod:`.weak_masks`, :mod:`.ddpt`), then LiteMedSAM box refinement;
3. the segmentation network (:mod:`.network`) on the weak masks (:mod:`.train`), and with several
   sequences the multi-modality stage with the bridge alignment loss;
4. calibration of volume scores and heatmaps on held-out normal volumes (base contract).

Predict: every kept slice through the network (the RASA of the image's sequence). With classifier
guidance (default, :mod:`.guidance`) DDPT also gives every slice P(unhealthy): the maps are the
network's probabilities times that, the mask is the network's mask (probability >= 0.5) on the
slices DDPT calls unhealthy, and the volume score is the mean of the highest ``volume_score_top``
fraction of slice scores. Without it the maps are the probabilities and the volume score is the
highest slice score. A slice's score is the mean of the top ``slice_score_top`` fraction of its map.
Maps go back on the original voxel grid; scores are calibrated against normals.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence

import numpy as np

from core.domain import LoadedCase, LoadedImage
from core.errors import InputError
from core.models.base import AnomalyModel, Calibration
from core.models.rasalore import supervision
from core.runtime.progress import CancelToken, Progress, no_progress


class Rasalore(AnomalyModel):
    name = "rasalore"
    title = "RASALoRE (weakly supervised brain MRI: DDPT weak masks + LoRE / RASA segmentation)"
    paper = (
        "Sharma, Jaganathan, Palaniappan. RASALoRE: Region Aware Spatial Attention with Location-based "
        "Random Embeddings for Weakly Supervised Anomaly Detection in Brain MRI Scans (BMVC 2025)"
    )
    modalities = ("mri",)
    trained = True
    refit_on_all = False
    needs_labelled_cases = True  # store.fit_on_workspace also passes slice-labelled training cases
    samples_per_case = 30  # training slices a lesion volume gives (demo: 59 in 2), for time estimates
    default_config = dict(
        image_size=256,
        skip_slices=15,
        slice_plane="axial",
        crop_margin=4,
        gamma=2.0,
        label_min_pixels=200,
        healthy_max_pixels=0,
        grid_size=32,
        embed_dim=256,
        heads=4,
        lore_scale=128.0,
        noise_std=1.0,
        dropout=0.1,
        epochs=100,
        batch_size=16,
        lr=0.01,
        lr_step=20,
        min_samples_per_epoch=0,
        grad_clip=5.0,
        alpha=0.6,
        beta=0.0,
        phi=0.3,
        dice_eps=1.0,
        sigma=10.0,
        sigma_background=15.0,
        use_medsam=True,
        augment=True,
        augment_rotation=90.0,
        healthy_ratio=0.0,
        max_train_slices=0,
        val_fraction=0.1,
        select_best_epoch=True,
        mask_prior=0.0,
        mask_threshold=0.5,
        slice_score_top=0.005,
        predict_batch=16,
        classifier_guidance=True,
        volume_score_top=0.1,
        ddpt_backbone="litemedsam",
        ddpt_epochs=50,
        ddpt_lr=0.01,
        ddpt_batch_size=16,
        ddpt_eta=0.3,
        ddpt_tau=0.07,
        ddpt_prompts=10,
        ddpt_grid=16,
        ddpt_shots=0,
        ddpt_threshold=0.5,
        ddpt_context=4,
        ddpt_match_position=True,
        weak_mask="auto",
        contrast_grid=32,
        contrast_memory=65536,
        contrast_threshold=0.7,
        sequences="auto",
        bridge_sequence="t2",
        align_weight=1.0,
        multimodal_epochs=0,
    )
    deviations = (
        "DDPT's healthy shots are drawn at the relative slice positions of the unhealthy ones (ddpt_match_position): "
        "lesions sit mid-brain, and healthy slices drawn anywhere let DDPT separate the classes by the brain's size alone "
        "(demo workspace, 30 epochs: accuracy 0.83 -> 0.94).",
        "Weak masks, offline default (weak_mask=auto with LiteMedSAM): a healthy-reference contrast instead of DDPT's "
        "attention. An unhealthy slice's weak mask marks where its frozen LiteMedSAM features are far from every feature "
        "of the position-matched healthy slices (1 - highest cosine similarity on a 32 x 32 token grid, scaled to [0, 1] "
        "in the brain, threshold 0.7). DDPT's attention over frozen LiteMedSAM does not find lesions: on the demo "
        "workspace its Dice with the true lesion masks is 0.02-0.07, the contrast's 0.60. weak_mask=ddpt_attention "
        "restores the paper's rule; with the CLIP backbone it is the default.",
        "DDPT (weak_mask=ddpt_attention): the offline path runs DDPT over frozen LiteMedSAM (its TinyViT encoder and its two-way "
        "transformer as the frozen attention layers) with learned class embeddings in place of CLIP text features; "
        "the paper's CLIP ViT-B/32 path is ddpt_backbone=clip_vit_b32 (needs open_clip_torch and ViT-B-32.pt).",
        "MedSAM refinement uses LiteMedSAM (MedSAM distilled into TinyViT) with the same box prompt.",
        "RASA keys get the LoRE of the candidate point at the same grid cell, and the decoder keys the LoRE at the "
        "token positions, so a candidate can find its region (the paper's key is R(X) alone; the official code adds a "
        "learned positional code to the values instead). The value noise N(0, I) is applied while training only.",
        "Refiner output is average-pooled to the sqrt(k) x sqrt(k) CPP grid for any image size; the decoder works on the "
        "S/4 x S/4 map of the image encoder (two poolings), as the paper's decoder table implies.",
        "Stage 2 is stabilised (measured on the demo workspace, reduced CPU configuration: 64 px, d = 64, 16 x 16 points, "
        "30 epochs): beta = 0 by default (paper: 0.6), because with the fourth L_Dec term and the paper's augmentation the "
        "output went to zero everywhere in every run (weak-mask Dice term stuck at its empty-prediction value 1.50; the "
        "paper's Table 4 puts beta = 0 about 1.3 Dice points below 0.6 on BraTS20); gradients are clipped to norm 5 "
        "(grad_clip; without it one of two runs still collapsed after 25 epochs); the network trains on unhealthy slices only "
        "(healthy_ratio = 0, as the official code: healthy slices with empty masks also drove the output to zero). Through the "
        "whole product path (bench/rasalore_demo.py: contrast weak masks, 9 training volumes and 1 validation volume, 30 epochs) "
        "the network found unseen lesions: Dice 0.29 on the test lesion slices (0.33 with seed 1 and 40 epochs). "
        "beta=0.6, grad_clip=0 restore the paper.",
        "Classifier guidance (classifier_guidance, default on with the LiteMedSAM backbone): the paper's appendix B.2 reports "
        "classifier-guided masks (slices DDPT classifies healthy are set aside) as a variant; here it is the default, because "
        "the network alone, trained on unhealthy slices only as the paper, outlines a region on most slices, healthy ones "
        "too (demo workspace, reduced configuration: slice AUROC 0.63-0.69, and the highest slice score did not separate "
        "the normal test volume from the lesion volumes). DDPT is trained on the weak-mask stage's healthy / unhealthy shots "
        "(also when the contrast makes the weak masks) and classifies every slice at prediction: a slice's map is the "
        "network's probability times P(unhealthy), its mask is kept only where P(unhealthy) >= 0.5, and the volume score "
        "(the paper has none) is the mean of the highest volume_score_top (10 %) slice scores. Through the whole training "
        "path (bench/rasalore_demo.py, reduced configuration) the slice AUROC rose from 0.69 to 0.85 (seed 0) and 0.93 "
        "(seed 1), and the three lesion test volumes scored above the normal test volume in both runs (0.45-0.54 against "
        "0.38; 0.77-0.86 against 0.68); Dice on the lesion slices 0.27 and 0.25 (0.29 unguided: some lesion slices are "
        "classified healthy). Limitation: DDPT learns from frozen embeddings without augmentation and is sensitive to "
        "acquisition: the demo's one noise-free volume (the MNI template), held out for calibration in the seed-1 run, had "
        "126 of its 159 slices called unhealthy and a volume score (0.88) above every lesion volume. Cost: LiteMedSAM encodes every slice at 256 px, about 1.1 s per slice "
        "on the 2-core CPU (3 min for a 159-slice volume; DDPT's pooled tokens are then cached in the workspace). "
        "classifier_guidance=false restores the unguided scores; the CLIP backbone predicts unguided.",
        "Model selection: the paper splits its data 80/10/10 but does not say how the validation part is used. Here "
        "val_fraction (0.1, at least one volume once three slice-labelled volumes have unhealthy slices) of the volumes is "
        "held out, and after every epoch the Dice between the network's masks and those volumes' weak masks, pooled over "
        "their weak-masked and healthy slices (masks on healthy slices count against it), decides which epoch's weights are "
        "kept (select_best_epoch; with fewer volumes the unaugmented training slices judge). A run that drifts to an empty "
        "output late keeps its earlier, better weights. mask_prior (default 0: off) starts the mask bias at logit(prior); "
        "at 0.02 the network began to segment at epoch 7-9 instead of 25, with no better final masks.",
        "ELDice uses the smoothing eps = 1 (Wong et al.); Gaussian weight maps use sigma 10 px (weak masks) and 15 px "
        "(background) at 256 px, as the official code, scaled with image_size. The alignment loss is the mean squared "
        "difference (the paper's squared norm divided by k * d).",
        "Intensities are scaled per volume (99.5th percentile of brain voxels) before the paper's gamma 2, so the "
        "slices of one scan stay comparable; the first and last skip_slices (15) slices are not scored.",
        "The paper does not give the RASALoRE epoch count: 100 epochs with the lr halved every 20 is the default. "
        "min_samples_per_epoch (default 0: one pass) makes an epoch at least that many augmented slices, for small "
        "workspaces whose one pass is only a few optimiser steps.",
    )
    faithful_config = {
        "ddpt_backbone": "clip_vit_b32",
        "weak_mask": "ddpt_attention",
        "beta": 0.6,
        "grad_clip": 0.0,
        "image_size": 256,
        "grid_size": 32,
        "embed_dim": 256,
        "ddpt_epochs": 100,
        "ddpt_shots": 10000,
        "batch_size": 16,
        "classifier_guidance": False,
    }

    gather_labelled_cases = staticmethod(supervision.gather_labelled_cases)

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if int(c["image_size"]) % 4 or int(c["image_size"]) < 16:
            raise InputError(None, f"rasalore: image_size must be a multiple of 4 and at least 16, got {c['image_size']}")
        if int(c["embed_dim"]) % 8 or int(c["embed_dim"]) % int(c["heads"]):
            raise InputError(None, "rasalore: embed_dim must be a multiple of 8 and of heads")
        if c["ddpt_backbone"] not in ("litemedsam", "clip_vit_b32"):
            raise InputError(None, f"rasalore: unknown ddpt_backbone '{c['ddpt_backbone']}': use litemedsam or clip_vit_b32")
        if c["weak_mask"] not in ("auto", "ddpt_attention", "healthy_contrast"):
            raise InputError(None, f"rasalore: unknown weak_mask '{c['weak_mask']}': use auto, ddpt_attention or healthy_contrast")
        self.net = None
        self.labelled_cases: list[supervision.LabelledCase] | None = None
        self.labelled_skipped: list[dict] = []
        self._ddpt_state: dict = {}
        self._normal_shas: set[str] = set()
        self._classifier = None  # guidance.SliceClassifier, built on first use

    # -- fit -------------------------------------------------------------------------------------
    def fit(self, normals: Sequence[LoadedCase], *, progress: Progress | None = None, cancel: CancelToken | None = None) -> None:
        if self.labelled_cases is None:
            raise InputError(
                None,
                "rasalore is weakly supervised: it needs training cases with slice labels (label volumes or "
                "per-slice review decisions); fit it on a workspace or set model.labelled_cases",
            )
        images = self.select_images(normals)
        self._normal_shas = {im.sha256 for im in images}
        if images:
            super().fit(normals, progress=progress, cancel=cancel)
            return
        # every training volume carries lesions (BraTS-like data): calibrate on the healthy slices instead
        progress, cancel = progress or no_progress, cancel or CancelToken()
        t0 = time.monotonic()
        self._fit([], progress=progress, cancel=cancel, final=True)
        self.calibration = self._calibrate_on_healthy_slices(progress, cancel)
        self._finish_card(t0, [])

    def _fit(self, images: list[LoadedImage], *, progress: Progress, cancel: CancelToken, final: bool) -> None:
        from core.models.rasalore.data import build_cases, select_slices
        from core.models.rasalore.network import RasaloreNet, count_parameters
        from core.models.rasalore.train import build_slice_set, frozen_copy, split_validation, train_network, validation_slices
        from core.training import seed_everything

        c = self.config
        cancel.raise_if_cancelled()
        exclude = self._normal_shas - {im.sha256 for im in images}  # calibration hold-outs
        cases = build_cases(images, self.labelled_cases or [], c, exclude=exclude)
        if not cases:
            raise InputError(None, "rasalore: no training volumes with usable slice labels")
        found = sorted({s for tc in cases for s in tc.images})
        sequences = found if c["sequences"] in ("auto", "", None) else [s for s in _as_list(c["sequences"]) if s in found]
        if not sequences:
            raise InputError(None, f"rasalore: none of the sequences {c['sequences']} is in the training data ({', '.join(found)})")
        bridge = self._bridge(cases, sequences)
        select_slices(cases, c, int(c["seed"]))
        n_unhealthy = int(sum((tc.labels[tc.selected] == supervision.UNHEALTHY).sum() for tc in cases if tc.selected is not None))
        if n_unhealthy == 0:
            raise InputError(
                None,
                "rasalore needs unhealthy training slices: give training cases label volumes or mark "
                "abnormal slices (none of the training slices is labelled unhealthy)",
            )
        seed_everything(int(c["seed"]))
        masks = self._weak_masks(cases, bridge, progress, cancel)
        net = RasaloreNet(
            sequences,
            image_size=int(c["image_size"]),
            grid=int(c["grid_size"]),
            dim=int(c["embed_dim"]),
            heads=int(c["heads"]),
            lore_scale=float(c["lore_scale"]),
            noise_std=float(c["noise_std"]),
            dropout=float(c["dropout"]),
            seed=int(c["seed"]),
        )
        net.set_mask_prior(float(c["mask_prior"]))
        fit_cases, val_cases = split_validation(cases, float(c["val_fraction"]), int(c["seed"]))
        val_cases = [validation_slices(tc) for tc in val_cases]
        data = build_slice_set(fit_cases, masks, [bridge], bridge, c)
        val = build_slice_set(val_cases, masks, [bridge], bridge, c) if val_cases else None
        t0 = time.monotonic()
        state = train_network(
            net,
            data,
            [bridge],
            c,
            device=self.device,
            context=self.training_context,
            stage="network",
            progress=progress,
            cancel=cancel,
            validation=val,
        )
        history = list(state.history or [])
        selected = {"network": state.best} if state.best else {}
        if len(sequences) > 1:
            mm = build_slice_set(fit_cases, masks, sequences, bridge, c)
            mm_val = build_slice_set(val_cases, masks, sequences, bridge, c) if val_cases else None
            state = train_network(
                net,
                mm,
                sequences,
                c,
                device=self.device,
                context=self.training_context,
                stage="multimodal",
                progress=progress,
                cancel=cancel,
                bridge_net=frozen_copy(net),
                bridge=bridge,
                epochs=int(c["multimodal_epochs"]) or int(c["epochs"]),
                validation=mm_val,
            )
            history += [{"stage": "multimodal", **h} for h in (state.history or [])]
            if state.best:
                selected["multimodal"] = state.best
        if self.guided() and not self._ddpt_state:  # the contrast weak masks trained no DDPT
            from core.models.rasalore.guidance import train_classifier

            self._ddpt_state, classifier_stats = train_classifier(
                cases,
                bridge,
                c,
                device=self.device,
                context=self.training_context,
                progress=progress,
                cancel=cancel,
                store=self.array_store,
            )
        elif self.guided():
            classifier_stats = {
                "training_accuracy": masks.stats.get("ddpt_accuracy"),
                "shots": masks.stats.get("ddpt_slices"),
                "epochs": masks.stats.get("ddpt_epochs"),
            }
        else:
            classifier_stats = None
        self._classifier = None
        self.net = net.eval()
        self.config["sequences"] = list(sequences)
        self.config["bridge_sequence"] = bridge
        self.card.metrics.update(
            {
                "weak_masks": masks.stats,
                "slices": supervision.describe([tc.labels for tc in cases]),
                "train_slices": int(len(data.seq)),
                "train_slices_unhealthy": n_unhealthy,
                "training_volumes": len(cases),
                "sequences": list(sequences),
                "bridge_sequence": bridge,
                "parameters": count_parameters(net),
                "network_seconds": round(time.monotonic() - t0, 1),
                "epochs": int(state.epoch),
                "final_losses": {k: round(float(v), 5) for k, v in (history[-1] if history else {}).items() if isinstance(v, (int, float))},
                "labelled_cases_skipped": list(self.labelled_skipped),
                "validation_volumes": [tc.case_id for tc in val_cases],
                "selected_epoch": selected,
                "val_dice_history": [h.get("val_dice") for h in history if "val_dice" in h],
                "slice_classifier": classifier_stats,
            }
        )

    def _bridge(self, cases, sequences: list[str]) -> str:
        want = str(self.config["bridge_sequence"]).lower()
        if want in sequences:
            return want
        counts = {s: sum(s in tc.images for tc in cases) for s in sequences}
        return max(sequences, key=lambda s: (counts[s], -sequences.index(s)))

    def guided(self) -> bool:
        """Classifier guidance (:mod:`.guidance`) runs DDPT over LiteMedSAM on every slice at prediction
        time; the CLIP backbone's DDPT would need the CLIP encoder there too, so it predicts unguided."""
        return bool(self.config["classifier_guidance"]) and self.config["ddpt_backbone"] == "litemedsam"

    def weak_mask_source(self) -> str:
        """``ddpt_attention`` (the paper's rule) or ``healthy_contrast`` (the offline default: DDPT's
        attention over frozen LiteMedSAM does not find lesions, see :mod:`.contrast`)."""
        want = str(self.config["weak_mask"])
        if want != "auto":
            return want
        return "ddpt_attention" if self.config["ddpt_backbone"] == "clip_vit_b32" else "healthy_contrast"

    def _weak_masks(self, cases, bridge: str, progress: Progress, cancel: CancelToken):
        if self.weak_mask_source() == "healthy_contrast":
            from core.models.rasalore.contrast import make_contrast_masks

            masks = make_contrast_masks(
                cases, bridge, self.config, device=self.device, progress=progress, cancel=cancel, store=self.array_store
            )
        elif self.config["ddpt_backbone"] == "clip_vit_b32":
            from core.models.rasalore.ddpt_clip import make_weak_masks_clip

            masks = make_weak_masks_clip(
                cases,
                bridge,
                self.config,
                device=self.device,
                context=self.training_context,
                progress=progress,
                cancel=cancel,
                store=self.array_store,
            )
        else:
            from core.models.rasalore.weak_masks import make_weak_masks

            masks = make_weak_masks(
                cases,
                bridge,
                self.config,
                device=self.device,
                context=self.training_context,
                progress=progress,
                cancel=cancel,
                store=self.array_store,
            )
        self._ddpt_state = masks.ddpt_state
        return masks

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
        used = seq if seq in self.net.sequences else self.config["bridge_sequence"]
        if normalised is None:
            normalised = normalise_volume(image.array, float(self.config["gamma"]))
        x = torch.from_numpy(geo.extract(normalised))[:, None]
        dev = self.device
        self.net.to(dev).eval()
        out = []
        bs = max(1, int(self.config["predict_batch"]))
        with torch.inference_mode():
            for s in range(0, x.shape[0], bs):
                out.append(self.net(x[s : s + bs].to(dev), used)["mask"][:, 0].float().cpu())
        return geo, torch.cat(out).numpy(), used

    def _slice_scores(self, probs: np.ndarray) -> np.ndarray:
        flat = probs.reshape(probs.shape[0], -1)
        top = max(1, int(math.ceil(float(self.config["slice_score_top"]) * flat.shape[1])))
        return np.sort(flat, axis=1)[:, -top:].mean(axis=1)

    def slice_maps(self, image: LoadedImage) -> dict:
        """One volume's slices: ``geo``, network ``probs`` (n, S, S), ``maps`` (the guided maps, or
        ``probs`` without guidance), ``p_unhealthy`` (n,) or None, ``sequence`` used."""
        from core.models.rasalore.slicing import normalise_volume

        normalised = normalise_volume(image.array, float(self.config["gamma"])) if image.array.ndim == 3 else None
        geo, probs, used = self.slice_probabilities(image, normalised)
        p = None
        if self.guided():
            from core.models.rasalore.guidance import guided_maps
            from core.models.rasalore.weak_masks import SAM_SIZE

            slices = geo.extract(normalised, size=SAM_SIZE).astype(np.float32)
            p = self.slice_classifier().probabilities(
                slices, progress=self.prediction_progress or no_progress, cancel=self.prediction_cancel
            )
            maps = guided_maps(probs, p)
        else:
            maps = probs
        return {"geo": geo, "probs": probs, "maps": maps, "p_unhealthy": p, "sequence": used}

    def slice_classifier(self):
        if not self._ddpt_state:
            raise InputError(
                None,
                "rasalore: this model has no trained DDPT classifier for classifier guidance "
                "(it was fitted without it); predict with classifier_guidance=false or retrain",
            )
        if self._classifier is None:
            from core.models.rasalore.guidance import SliceClassifier

            self._classifier = SliceClassifier(self.config, self._ddpt_state, self.device, self.array_store)
        return self._classifier

    def _predict_raw(self, image: LoadedImage) -> tuple[float, np.ndarray, dict]:
        from core.models.rasalore.data import sequence_of
        from core.models.rasalore.guidance import volume_score

        out = self.slice_maps(image)
        geo, probs, maps, p, used = out["geo"], out["probs"], out["maps"], out["p_unhealthy"], out["sequence"]
        scores = self._slice_scores(maps)
        threshold = float(self.config["mask_threshold"])
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
        extras = {
            "mask": mask,
            "slice_scores": per_slice,
            "slice_axis": geo.array_axis,
            "slice_plane": self.config["slice_plane"],
            "top_slice": int(geo.array_index(int(np.argmax(scores)))),
            "sequence": used,
            "mask_threshold": threshold,
            "probability_max": float(probs.max()),
            "classifier_guidance": p is not None,
        }
        if p is not None:
            extras["slice_unhealthy_probability"] = per_slice_p
            extras["slices_unhealthy"] = int((p >= 0.5).sum())
        if used != sequence_of(image):
            extras["note"] = f"sequence '{sequence_of(image)}' was not trained; scored with the bridge sequence '{used}'"
        raw = volume_score(scores, float(self.config["volume_score_top"])) if p is not None else float(scores.max())
        return raw, volume, extras

    def _calibrate_on_healthy_slices(self, progress: Progress, cancel: CancelToken) -> Calibration:
        """Without normal volumes: slice scores and maps of the healthy slices of the training volumes."""
        from core.models.rasalore.data import build_cases

        raws, maps = [], []
        cases = build_cases([], self.labelled_cases or [], self.config)
        for i, tc in enumerate(cases):
            cancel.raise_if_cancelled()
            progress(i, len(cases), "calibrating on healthy slices")
            for im in tc.images.values():
                slice_maps = self.slice_maps(im)["maps"]
                healthy = tc.labels == supervision.HEALTHY
                if healthy.any():
                    raws += [float(v) for v in self._slice_scores(slice_maps[healthy])]
                    maps.append(slice_maps[healthy])
        return Calibration.from_samples(raws, maps, "healthy slices of the training volumes (no normal volumes)")

    # -- persistence -----------------------------------------------------------------------------
    @classmethod
    def load(cls, folder, **overrides):
        from pathlib import Path

        from core.models.base import CARD_FILE

        try:
            saved = json.loads((Path(folder) / CARD_FILE).read_text(encoding="utf-8")).get("config") or {}
        except (OSError, ValueError, AttributeError):
            saved = {}  # the base class reports a missing or damaged card
        if "classifier_guidance" not in saved and "classifier_guidance" not in overrides:
            overrides["classifier_guidance"] = False  # versions from before guidance: scored as they were
        return super().load(folder, **overrides)

    def _build_net(self):
        from core.models.rasalore.network import RasaloreNet

        c = self.config
        return RasaloreNet(
            _as_list(c["sequences"]),
            image_size=int(c["image_size"]),
            grid=int(c["grid_size"]),
            dim=int(c["embed_dim"]),
            heads=int(c["heads"]),
            lore_scale=float(c["lore_scale"]),
            noise_std=float(c["noise_std"]),
            dropout=float(c["dropout"]),
            seed=int(c["seed"]),
        )

    def state_tensors(self) -> dict:
        out = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        out.update({f"ddpt.{k}": v for k, v in self._ddpt_state.items()})
        return out

    def load_tensors(self, state: dict) -> None:
        net = self._build_net()
        net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")}, strict=True)
        self.net = net.eval()
        self._ddpt_state = {k[5:]: v for k, v in state.items() if k.startswith("ddpt.")}

    def _update_card(self) -> None:
        from core.runtime import weights

        self.card.config = dict(self.config)
        if self.guided():
            self.card.metrics.pop("case_score_caveat", None)
        else:
            self.card.metrics["case_score_caveat"] = CASE_SCORE_CAVEAT
        source = self.weak_mask_source()
        self.card.backbone = (
            "RASALoRE network (LoRE + RASA, U-Net encoder); weak masks: "
            + (
                "healthy-reference contrast of frozen LiteMedSAM features"
                if source == "healthy_contrast"
                else "DDPT attention over " + ("CLIP ViT-B/32" if self.config["ddpt_backbone"] == "clip_vit_b32" else "frozen LiteMedSAM")
            )
            + (" + LiteMedSAM box refinement" if self.config["use_medsam"] else "")
        )
        self.card.metrics["ddpt_backbone"] = self.config["ddpt_backbone"]
        self.card.metrics["weak_mask"] = source
        try:
            path, digest = weights.resolve("litemedsam")
            self.card.weights = {path.name: digest}
            if self.config["ddpt_backbone"] == "clip_vit_b32":
                cpath, cdigest = weights.resolve("clip_vit_b32")
                self.card.weights[cpath.name] = cdigest
        except Exception as exc:  # noqa: BLE001 - the card records what it can
            self.card.notes = f"weights not recorded: {exc}"


# shown beside the model's case suggestion in the review panel when classifier guidance is off (see the card)
CASE_SCORE_CAVEAT = (
    "RASALoRE without classifier guidance segments lesions; its case score (the highest slice score) did "
    "not separate normal from lesion volumes in testing. Judge the case from the heatmap and mask."
)


def _as_list(value) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [s.strip() for s in str(value).split(",") if s.strip()]
