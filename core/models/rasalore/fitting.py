"""RASALoRE's training pipeline (weak supervision: slice labels only):

1. volumes -> slices (:mod:`.slicing`), slice labels (:mod:`.supervision`);
2. weak masks: the healthy-reference contrast (offline default, :mod:`.contrast`) or DDPT's attention
   (:mod:`.weak_masks`, :mod:`.ddpt`, :mod:`.ddpt_clip`), then LiteMedSAM box refinement;
3. the segmentation network (:mod:`.network`) on the weak masks (:mod:`.train`), and with several
   sequences the multi-modality stage with the bridge alignment loss;
4. DDPT as the slice classifier of classifier guidance (:mod:`.guidance`) when the weak masks did not
   train it already.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.domain import LoadedImage
from core.errors import InputError
from core.models.contract import FitContext
from core.models.rasalore import supervision
from core.models.rasalore.settings import RasaloreSettings

if TYPE_CHECKING:
    from core.models.rasalore.network import RasaloreNet


@dataclass
class Fitted:
    net: RasaloreNet
    ddpt_state: dict
    sequences: list[str]
    bridge: str
    metrics: dict = field(default_factory=dict)


def guided(config: RasaloreSettings) -> bool:
    """Classifier guidance runs DDPT over LiteMedSAM on every slice at prediction time; the CLIP
    backbone's DDPT would need the CLIP encoder there too, so it predicts unguided."""
    return config.classifier_guidance and config.ddpt_backbone == "litemedsam"


def weak_mask_source(config: RasaloreSettings) -> str:
    """``ddpt_attention`` (the paper's rule) or ``healthy_contrast`` (the offline default: DDPT's
    attention over frozen LiteMedSAM does not find lesions, see :mod:`.contrast`)."""
    if config.weak_mask != "auto":
        return config.weak_mask
    return "ddpt_attention" if config.ddpt_backbone == "clip_vit_b32" else "healthy_contrast"


def choose_bridge(config: RasaloreSettings, cases, sequences: list[str]) -> str:
    want = config.bridge_sequence.lower()
    if want in sequences:
        return want
    counts = {s: sum(s in tc.images for tc in cases) for s in sequences}
    return max(sequences, key=lambda s: (counts[s], -sequences.index(s)))


def make_weak_masks(config: RasaloreSettings, cases, bridge: str, ctx: FitContext, device, store):
    common = dict(device=device, progress=ctx.progress, cancel=ctx.cancel, store=store)
    if weak_mask_source(config) == "healthy_contrast":
        from core.models.rasalore.contrast import make_contrast_masks

        return make_contrast_masks(cases, bridge, config, **common)
    if config.ddpt_backbone == "clip_vit_b32":
        from core.models.rasalore.ddpt_clip import make_weak_masks_clip

        return make_weak_masks_clip(cases, bridge, config, context=ctx.training, **common)
    from core.models.rasalore.weak_masks import make_weak_masks as ddpt_masks

    return ddpt_masks(cases, bridge, config, context=ctx.training, **common)


def fit_rasalore(config: RasaloreSettings, images: list[LoadedImage], ctx: FitContext, *, exclude: set[str], device, store) -> Fitted:
    """Train everything on the normal volumes ``images`` and the slice-labelled volumes of ``ctx``
    (``exclude``: image hashes held out for calibration)."""
    from core.models.rasalore.data import build_cases, select_slices
    from core.models.rasalore.network import RasaloreNet, count_parameters
    from core.models.rasalore.train import build_slice_set, frozen_copy, split_validation, train_network, validation_slices
    from core.training import seed_everything

    c = config
    ctx.cancel.raise_if_cancelled()
    cases = build_cases(images, ctx.labelled_cases or [], c, exclude=exclude)
    if not cases:
        raise InputError(None, "rasalore: no training volumes with usable slice labels")
    found = sorted({s for tc in cases for s in tc.images})
    wanted = c.sequence_list if c.sequences not in ("auto", "") else found
    sequences = [s for s in wanted if s in found]
    if not sequences:
        raise InputError(None, f"rasalore: none of the sequences {c.sequences} is in the training data ({', '.join(found)})")
    bridge = choose_bridge(c, cases, sequences)
    select_slices(cases, c, c.seed)
    n_unhealthy = int(sum((tc.labels[tc.selected] == supervision.UNHEALTHY).sum() for tc in cases if tc.selected is not None))
    if n_unhealthy == 0:
        raise InputError(
            None,
            "rasalore needs unhealthy training slices: give training cases label volumes or mark "
            "abnormal slices (none of the training slices is labelled unhealthy)",
        )
    seed_everything(c.seed)
    masks = make_weak_masks(c, cases, bridge, ctx, device, store)
    ddpt_state = masks.ddpt_state
    net = RasaloreNet.from_settings(c, sequences)
    net.set_mask_prior(c.mask_prior)
    fit_cases, val_cases = split_validation(cases, c.val_fraction, c.seed)
    val_cases = [validation_slices(tc) for tc in val_cases]
    data = build_slice_set(fit_cases, masks, [bridge], bridge, c)
    val = build_slice_set(val_cases, masks, [bridge], bridge, c) if val_cases else None
    t0 = time.monotonic()
    common = dict(device=device, context=ctx.training, progress=ctx.progress, cancel=ctx.cancel)
    state = train_network(net, data, [bridge], c, stage="network", validation=val, **common)
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
            stage="multimodal",
            bridge_net=frozen_copy(net),
            bridge=bridge,
            epochs=c.multimodal_epochs or c.epochs,
            validation=mm_val,
            **common,
        )
        history += [{"stage": "multimodal", **h} for h in (state.history or [])]
        if state.best:
            selected["multimodal"] = state.best
    classifier_stats = None
    if guided(c) and not ddpt_state:  # the contrast weak masks trained no DDPT
        from core.models.rasalore.guidance import train_classifier

        ddpt_state, classifier_stats = train_classifier(cases, bridge, c, store=store, **common)
    elif guided(c):
        classifier_stats = {
            k: masks.stats.get(v) for k, v in (("training_accuracy", "ddpt_accuracy"), ("shots", "ddpt_slices"), ("epochs", "ddpt_epochs"))
        }
    last = history[-1] if history else {}
    metrics = {
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
        "final_losses": {k: round(float(v), 5) for k, v in last.items() if isinstance(v, (int, float))},
        "labelled_cases_skipped": list(ctx.labelled_skipped),
        "validation_volumes": [tc.case_id for tc in val_cases],
        "selected_epoch": selected,
        "val_dice_history": [h.get("val_dice") for h in history if "val_dice" in h],
        "slice_classifier": classifier_stats,
    }
    return Fitted(net.eval(), ddpt_state, list(sequences), bridge, metrics)
