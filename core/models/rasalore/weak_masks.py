"""Stage 1 of RASALoRE: weak masks from slice labels.

1. Encode the DDPT training slices (every unhealthy slice and as many healthy ones, or ``ddpt_shots``
   pairs; each healthy shot at the relative slice position of an unhealthy one) once with the
   frozen LiteMedSAM encoder at 256 px.
2. Train DDPT (:mod:`core.models.rasalore.ddpt`) on healthy / unhealthy with the shared training
   loop (SGD lr 0.01, momentum 0.9, weight decay 5e-4, cosine schedule as in DPT).
3. M_DDPT: DDPT's attention map of every unhealthy slice, scaled to [0, 1] inside the brain,
   thresholded at 0.5.
4. M_SAM: the bounding box of M_DDPT (left-, right-most columns, top-, bottom-most rows) prompts
   LiteMedSAM (MedSAM distilled), as the paper prompts MedSAM with boxes.

Healthy slices have empty weak masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from core.errors import InputError
from core.models.rasalore.data import TrainCase
from core.models.rasalore.settings import RasaloreSettings
from core.models.rasalore.supervision import HEALTHY, UNHEALTHY
from core.runtime.progress import CancelToken, Progress

SAM_SIZE = 256


@dataclass
class WeakMasks:
    """Weak masks of the unhealthy training slices, keyed by (case id, kept-slice index), at 256 px."""

    ddpt: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    sam: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    ddpt_state: dict = field(default_factory=dict)


def brain_foreground(slices: np.ndarray, level: float = 0.02) -> np.ndarray:
    from scipy import ndimage

    return np.stack([ndimage.binary_fill_holes(s > level) for s in slices])


def box_of(mask: np.ndarray) -> np.ndarray | None:
    """[x0, y0, x1, y1] of a binary mask's non-zero pixels (all components), None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], np.float32)


def encode_slices(net, slices: np.ndarray, *, batch: int = 4, progress: Progress, cancel: CancelToken, what: str, store=None):
    """Yield (index, (256, 64, 64) float16 embedding) for every 256 px slice, encoder frozen. With a
    workspace array store, embeddings are cached by the slice's content hash (a retraining run does
    not encode the same slices again)."""
    import torch

    from core.hashing import array_sha256

    keys = [f"rasalore/litemedsam/{array_sha256(np.ascontiguousarray(s))}" for s in slices] if store is not None else []
    todo = []
    for i in range(len(slices)):
        hit = store.get(keys[i]) if store is not None else None
        if hit is not None:
            yield i, torch.from_numpy(hit)
        else:
            todo.append(i)
    for start in range(0, len(todo), batch):
        cancel.raise_if_cancelled()
        progress(start, len(todo), f"LiteMedSAM encoder: {what} {start + 1}/{len(todo)}")
        part = todo[start : start + batch]
        xs = torch.cat([net.preprocess(slices[i])[0] for i in part])
        with torch.inference_mode():
            emb = net.image_encoder(xs).to(torch.float16).cpu()
        for j, i in enumerate(part):
            if store is not None:
                store.put(keys[i], emb[j].numpy(), attrs={"encoder": "litemedsam", "weights_sha256": net.weights_sha256})
            yield i, emb[j]


def _sub_context(context, name: str):
    """The training context of one stage: its own checkpoint folder, events tagged with the stage."""
    from core.training.context import TrainingContext

    if context is None:
        return TrainingContext()
    run_dir = None if context.run_dir is None else context.run_dir / name
    emit = None if context.emit is None else (lambda ev, _e=context.emit: _e({**ev, "stage": name}))
    return replace(context, run_dir=run_dir, emit=emit)


@dataclass
class DdptPlan:
    """The slices stage 1 works on: every selected unhealthy slice first (they need weak masks),
    then the healthy DDPT shots; ``train_idx`` are the DDPT training shots among them."""

    items: list  # (TrainCase, kept index, label)
    train_idx: np.ndarray
    n_unhealthy: int
    slices: np.ndarray  # (n, 256, 256) normalised slices

    def labels(self):
        import torch

        return torch.tensor([lab for _c, _k, lab in self.items], dtype=torch.long)


def plan_ddpt(cases: list[TrainCase], sequence: str, config: RasaloreSettings) -> DdptPlan:
    rng = np.random.default_rng(config.seed + 17)
    usable = [c for c in cases if sequence in c.images]
    unhealthy = [(c, int(k)) for c in usable for k in (c.selected if c.selected is not None else ()) if c.labels[k] == UNHEALTHY]
    healthy_all = [(c, int(k)) for c in usable for k in np.flatnonzero(c.labels == HEALTHY)]
    if not unhealthy or not healthy_all:
        raise InputError(
            None,
            f"RASALoRE needs healthy and unhealthy training slices of sequence '{sequence}' "
            f"to train DDPT (found {len(healthy_all)} healthy, {len(unhealthy)} unhealthy)",
        )
    shots = config.ddpt_shots or len(unhealthy)  # a shot = one (healthy, unhealthy) pair
    pick_u = unhealthy if shots >= len(unhealthy) else [unhealthy[i] for i in np.sort(rng.choice(len(unhealthy), shots, replace=False))]
    pick_h = (
        matched_healthy(pick_u, healthy_all, rng)
        if config.ddpt_match_position
        else [healthy_all[i] for i in np.sort(rng.choice(len(healthy_all), min(shots, len(healthy_all)), replace=False))]
    )
    items = [(c, k, UNHEALTHY) for c, k in unhealthy] + [(c, k, HEALTHY) for c, k in pick_h]
    chosen = {(c.case_id, k) for c, k in pick_u} | {(c.case_id, k) for c, k in pick_h}
    train_idx = np.array([i for i, (c, k, _l) in enumerate(items) if (c.case_id, k) in chosen])
    return DdptPlan(items, train_idx, len(unhealthy), _gather(items, sequence, config.gamma))


def relative_position(case: TrainCase, k: int) -> float:
    """Where kept slice ``k`` lies in its volume's kept range, 0 (first) .. 1 (last)."""
    return float(k) / max(1, len(case.labels) - 1)


def matched_healthy(unhealthy: list, healthy: list, rng) -> list:
    """One healthy slice per unhealthy one, each at the nearest free relative slice position
    (without replacement, random among ties). Lesions sit in the middle of the brain, healthy
    slices anywhere: drawn at random, the healthy shots would let DDPT tell the classes apart by the
    brain's size and shape alone, and its attention would not go to the lesion."""
    pos = np.array([relative_position(c, k) for c, k in healthy], dtype=np.float64)
    pos = pos + rng.uniform(0.0, 1e-6, len(pos))  # random among equally placed slices
    out = []
    for c, k in unhealthy[: len(healthy)]:
        j = int(np.argmin(np.abs(pos - relative_position(c, k))))
        out.append(healthy[j])
        pos[j] = np.inf  # taken
    return sorted(out, key=lambda ck: (ck[0].case_id, ck[1]))


def train_ddpt(module, inputs, plan: DdptPlan, config: RasaloreSettings, *, device, context, progress: Progress, cancel: CancelToken):
    """Prompt tuning with the shared loop: SGD lr 0.01, momentum 0.9, weight decay 5e-4, cosine
    schedule (DPT's), loss CE + eta CE_ca."""
    import torch

    from core.models.rasalore.data import index_batches
    from core.training import Trainer

    labels = plan.labels()
    sub_x, sub_y = inputs[plan.train_idx], labels[plan.train_idx]
    opt = torch.optim.SGD(module.trainable(), lr=config.ddpt_lr, momentum=0.9, weight_decay=5e-4)
    epochs = config.ddpt_epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    trainer = Trainer(module, opt, sched, device=device, context=_sub_context(context, "ddpt"), progress=progress, cancel=cancel)
    eta = config.ddpt_eta

    def step(idx):
        return module.loss(module(sub_x[idx].to(device).float()), sub_y[idx].to(device), eta)

    return trainer.run(index_batches(len(plan.train_idx), config.ddpt_batch_size, config.seed), step, epochs)


def infer_ddpt(module, inputs, device, batch: int = 32):
    """(logits (n, 2), attention (n, g, g)) of every planned slice, on the CPU."""
    import torch

    module.eval()
    logits, attn = [], []
    with torch.inference_mode():
        for s in range(0, len(inputs), batch):
            o = module(inputs[s : s + batch].to(device).float())
            logits.append(o["logits"].float().cpu())
            attn.append(o["attention"].float().cpu())
    return torch.cat(logits), torch.cat(attn)


def refine_with_medsam(
    plan: DdptPlan, masks: np.ndarray, config: RasaloreSettings, *, net, embeddings: dict, progress: Progress, cancel: CancelToken
) -> WeakMasks:
    """M_DDPT = ``masks`` (n_unhealthy, 256, 256) of the planned unhealthy slices; M_SAM from a
    LiteMedSAM box prompt around each (the paper prompts MedSAM with the box of M_DDPT)."""
    from core.sam.service import SamService

    n = plan.n_unhealthy
    service = SamService(net, store=None) if config.use_medsam else None
    out, gammas = WeakMasks(), []
    for i, (c, k, _lab) in enumerate(plan.items[:n]):
        cancel.raise_if_cancelled()
        progress(i, n, f"weak masks {i + 1}/{n}")
        m = masks[i]
        out.ddpt[(c.case_id, k)] = m
        if service is not None:
            box = box_of(m)
            sam = (
                np.zeros_like(m)
                if box is None
                else service.predict(embeddings[i].float().numpy(), (SAM_SIZE, SAM_SIZE), box=box, multimask=False).masks[0]
            )
            out.sam[(c.case_id, k)] = sam
            inter = float(np.logical_and(sam, m).sum())
            gammas.append((2 * inter + 1.0) / (float(sam.sum()) + float(m.sum()) + 1.0))
    out.stats = {
        "weak_masks": n,
        "weak_mask_area_mean": round(float(masks.mean()), 5) if n else 0.0,
        "medsam_ddpt_dice_mean": round(float(np.mean(gammas)), 4) if gammas else None,
    }
    return out


def finish_weak_masks(
    plan: DdptPlan,
    module,
    inputs,
    state,
    config: RasaloreSettings,
    *,
    net,
    embeddings: dict,
    device,
    progress: Progress,
    cancel: CancelToken,
) -> WeakMasks:
    """M_DDPT from the attention maps, M_SAM from LiteMedSAM box prompts, and the stage statistics."""
    import torch

    from core.models.rasalore.ddpt import attention_to_mask

    logits, attn = infer_ddpt(module, inputs, device)
    labels = plan.labels()
    n = plan.n_unhealthy
    fg = torch.from_numpy(brain_foreground(plan.slices[:n]))
    _maps, masks = attention_to_mask(attn[:n], fg, config.ddpt_threshold)
    out = refine_with_medsam(plan, masks.numpy(), config, net=net, embeddings=embeddings, progress=progress, cancel=cancel)
    out.stats = {
        "weak_mask": "ddpt_attention",
        "ddpt_slices": int(len(plan.train_idx)),
        "ddpt_epochs": int(state.epoch),
        "ddpt_accuracy": round(float((logits.argmax(1) == labels).float().mean()), 4),
        "ddpt_final_loss": round(float(state.history[-1]["loss"]), 5) if state.history else None,
        **out.stats,
    }
    out.ddpt_state = {k: v.detach().cpu() for k, v in module.state_dict().items() if k.split(".")[0] not in module.frozen_prefixes}
    return out


def make_weak_masks(
    cases: list[TrainCase],
    sequence: str,
    config: RasaloreSettings,
    *,
    device,
    context=None,
    progress: Progress,
    cancel: CancelToken,
    store=None,
) -> WeakMasks:
    """Offline default: DDPT over frozen LiteMedSAM on the ``sequence`` slices of ``cases``; weak
    masks of their selected unhealthy slices."""
    import torch

    from core.models.rasalore.guidance import build_classifier
    from core.sam.model import load_sam

    plan = plan_ddpt(cases, sequence, config)
    net = load_sam("litemedsam", device)
    ddpt = build_classifier(net, config)
    grid = ddpt.grid
    tokens = torch.zeros(len(plan.items), grid * grid, ddpt.image_pe.shape[-1], dtype=torch.float16)
    full: dict[int, torch.Tensor] = {}
    for i, emb in encode_slices(net, plan.slices, progress=progress, cancel=cancel, what="slice", store=store):
        tokens[i] = ddpt.pool(emb[None].float())[0].to(torch.float16)
        if i < plan.n_unhealthy and config.use_medsam:
            full[i] = emb
    state = train_ddpt(ddpt, tokens, plan, config, device=device, context=context, progress=progress, cancel=cancel)
    return finish_weak_masks(plan, ddpt, tokens, state, config, net=net, embeddings=full, device=device, progress=progress, cancel=cancel)


def _gather(items, sequence: str, gamma: float) -> np.ndarray:
    """256 px normalised slices of (case, kept index) items, one volume read per case."""
    out = np.zeros((len(items), SAM_SIZE, SAM_SIZE), np.float32)
    by_case: dict[int, list[int]] = {}
    for i, (c, _k, _l) in enumerate(items):
        by_case.setdefault(id(c), []).append(i)
    for idxs in by_case.values():
        c = items[idxs[0]][0]
        ks = np.array([items[i][1] for i in idxs])
        out[idxs] = c.slices(sequence, SAM_SIZE, ks, gamma)
    return out
