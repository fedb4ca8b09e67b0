"""Stage 1 of RASALoRE: weak masks from slice labels.

1. Encode the DDPT training slices (every unhealthy slice and as many healthy ones, or ``ddpt_shots``
   pairs) once with the frozen LiteMedSAM encoder at 256 px.
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
from core.models.base import CancelToken, Progress
from core.models.rasalore.data import TrainCase
from core.models.rasalore.supervision import HEALTHY, UNHEALTHY

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


def encode_slices(net, slices: np.ndarray, *, batch: int = 4, progress: Progress, cancel: CancelToken, what: str):
    """Yield (index, (256, 64, 64) float16 embedding) for every 256 px slice, encoder frozen."""
    import torch

    for start in range(0, len(slices), batch):
        cancel.raise_if_cancelled()
        progress(start, len(slices), f"LiteMedSAM encoder: {what} {start + 1}/{len(slices)}")
        xs = torch.cat([net.preprocess(s)[0] for s in slices[start:start + batch]])
        with torch.inference_mode():
            emb = net.image_encoder(xs)
        for j in range(emb.shape[0]):
            yield start + j, emb[j].to(torch.float16).cpu()


def _sub_context(context, name: str):
    """The training context of one stage: its own checkpoint folder, events tagged with the stage."""
    from core.training.context import TrainingContext

    if context is None:
        return TrainingContext()
    run_dir = None if context.run_dir is None else context.run_dir / name
    emit = None if context.emit is None else (lambda ev, _e=context.emit: _e({**ev, "stage": name}))
    return replace(context, run_dir=run_dir, emit=emit)


def make_weak_masks(cases: list[TrainCase], sequence: str, config: dict, *, device, context=None,
                    progress: Progress, cancel: CancelToken) -> WeakMasks:
    """Train DDPT on the ``sequence`` slices of ``cases`` and make the weak masks of their selected
    unhealthy slices."""
    import torch

    from core.models.rasalore.ddpt import SamDDPT, attention_to_mask
    from core.models.rasalore.data import Batches
    from core.sam.model import load_sam
    from core.sam.service import SamService
    from core.training import Trainer

    gamma = float(config["gamma"])
    seed = int(config["seed"])
    rng = np.random.default_rng(seed + 17)
    usable = [c for c in cases if sequence in c.images]
    unhealthy = [(c, int(k)) for c in usable for k in c.selected if c.labels[k] == UNHEALTHY]
    healthy_all = [(c, int(k)) for c in usable for k in np.flatnonzero(c.labels == HEALTHY)]
    if not unhealthy or not healthy_all:
        raise InputError(None, f"RASALoRE needs healthy and unhealthy training slices of sequence '{sequence}' "
                               f"to train DDPT (found {len(healthy_all)} healthy, {len(unhealthy)} unhealthy)")
    shots = int(config["ddpt_shots"]) or len(unhealthy)
    pick_u = unhealthy if shots >= len(unhealthy) else [unhealthy[i] for i in np.sort(rng.choice(len(unhealthy), shots, replace=False))]
    pick_h = [healthy_all[i] for i in np.sort(rng.choice(len(healthy_all), min(shots, len(healthy_all)), replace=False))]
    # unhealthy slices not among the DDPT shots still need weak masks (and embeddings)
    items = [(c, k, UNHEALTHY) for c, k in unhealthy] + [(c, k, HEALTHY) for c, k in pick_h]
    train_ids = {(c.case_id, k) for c, k in pick_u} | {(c.case_id, k) for c, k in pick_h}

    slices = _gather(items, sequence, gamma)
    net = load_sam("litemedsam", device)
    grid = int(config["ddpt_grid"])
    ddpt = SamDDPT(net.mask_decoder.transformer, net.prompt_encoder.get_dense_pe(), grid=grid,
                   n_prompts=int(config["ddpt_prompts"]), tau=float(config["ddpt_tau"]))
    tokens = torch.zeros(len(items), grid * grid, ddpt.image_pe.shape[-1], dtype=torch.float16)
    full: dict[int, torch.Tensor] = {}
    n_unh = len(unhealthy)
    for i, emb in encode_slices(net, slices, progress=progress, cancel=cancel, what="slice"):
        tokens[i] = ddpt.pool(emb[None].float())[0].to(torch.float16)
        if i < n_unh and config["use_medsam"]:
            full[i] = emb
    labels = torch.tensor([lab for _c, _k, lab in items], dtype=torch.long)
    train_idx = np.array([i for i, (c, k, _l) in enumerate(items) if (c.case_id, k) in train_ids])

    ddpt_ctx = _sub_context(context, "ddpt")
    opt = torch.optim.SGD(ddpt.trainable(), lr=float(config["ddpt_lr"]), momentum=0.9, weight_decay=5e-4)
    epochs = int(config["ddpt_epochs"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    trainer = Trainer(ddpt, opt, sched, device=device, context=ddpt_ctx, progress=progress, cancel=cancel)
    eta = float(config["ddpt_eta"])
    sub_tokens, sub_labels = tokens[train_idx], labels[train_idx]

    def step(idx):
        x = sub_tokens[idx].to(device).float()
        y = sub_labels[idx].to(device)
        return ddpt.loss(ddpt(x), y, eta)

    loader = Batches(len(train_idx), int(config["ddpt_batch_size"]), seed)
    state = trainer.run(loader, step, epochs)

    ddpt.eval()
    out = WeakMasks()
    with torch.inference_mode():
        logits, attn = [], []
        for s in range(0, len(items), 32):
            o = ddpt(tokens[s:s + 32].to(device).float())
            logits.append(o["logits"].float().cpu())
            attn.append(o["attention"].float().cpu())
        logits, attn = torch.cat(logits), torch.cat(attn)
    acc = float((logits.argmax(1) == labels).float().mean())
    fg = torch.from_numpy(brain_foreground(slices[:n_unh]))
    _maps, masks = attention_to_mask(attn[:n_unh], fg, float(config["ddpt_threshold"]))
    masks = masks.numpy()
    service = SamService(net, store=None) if config["use_medsam"] else None
    gammas = []
    for i, (c, k, _lab) in enumerate(items[:n_unh]):
        cancel.raise_if_cancelled()
        progress(i, n_unh, f"weak masks {i + 1}/{n_unh}")
        m = masks[i]
        out.ddpt[(c.case_id, k)] = m
        if service is not None:
            box = box_of(m)
            sam = np.zeros_like(m) if box is None else service.predict(full[i].float().numpy(), (SAM_SIZE, SAM_SIZE), box=box,
                                                                       multimask=False).masks[0]
            out.sam[(c.case_id, k)] = sam
            inter = float(np.logical_and(sam, m).sum())
            gammas.append((2 * inter + 1.0) / (float(sam.sum()) + float(m.sum()) + 1.0))
    out.stats = {"ddpt_slices": int(len(train_idx)), "ddpt_epochs": int(state.epoch), "ddpt_accuracy": round(acc, 4),
                 "ddpt_final_loss": round(float(state.history[-1]["loss"]), 5) if state.history else None,
                 "weak_masks": n_unh, "weak_mask_area_mean": round(float(masks.mean()), 5) if n_unh else 0.0,
                 "medsam_ddpt_dice_mean": round(float(np.mean(gammas)), 4) if gammas else None}
    out.ddpt_state = {k: v.detach().cpu() for k, v in ddpt.state_dict().items() if not k.startswith("transformer.")}
    return out


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
