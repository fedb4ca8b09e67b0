"""Stage 2 of RASALoRE: train the segmentation network on the weak masks.

``L = L_Dec + L_PA + L_Struct`` (SGD lr 0.01, momentum 0.9, batch 16, lr halved every 20 epochs),
on the bridge sequence first. After every epoch the network's masks are compared with the weak
masks of validation slices (held-out volumes, :func:`split_validation`) and the epoch with the
highest Dice is the one kept. With more than one sequence a second run trains every sequence's
RASA (shared encoder, refiner, FFN and decoder) with ``+ lambda_align * L_align`` towards the
enriched embeddings a frozen copy of the bridge model gives the same (co-registered, identically
augmented) slice of the bridge sequence.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from core.models.rasalore.data import TrainCase, augment, index_batches
from core.models.rasalore.settings import RasaloreSettings
from core.models.rasalore.supervision import HEALTHY, UNHEALTHY
from core.models.rasalore.weak_masks import WeakMasks, _sub_context
from core.runtime.progress import CancelToken, Progress

if TYPE_CHECKING:
    import torch


@dataclass
class SliceSet:
    """Training samples in memory: (N, 1, S, S) pixels and weak masks, sequence ids, bridge pixels."""

    x: torch.Tensor
    m_ddpt: torch.Tensor
    m_sam: torch.Tensor
    seq: torch.Tensor  # (N,) long: index into the sequence list
    bridge: torch.Tensor | None  # (N, 1, S, S) pixels of the same slice in the bridge sequence
    keys: list


def _resize_mask(m: np.ndarray, size: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    if m.shape[-1] == size:
        return m.astype(np.float32)
    t = torch.from_numpy(m.astype(np.float32))[None, None]
    return (
        F.adaptive_avg_pool2d(t, size) if size < m.shape[-1] else F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    )[0, 0].numpy() >= 0.5


def build_slice_set(cases: list[TrainCase], masks: WeakMasks, sequences: list[str], bridge: str, config: RasaloreSettings) -> SliceSet:
    import torch

    size, gamma = config.image_size, config.gamma
    xs, mds, mss, seqs, brs, keys = [], [], [], [], [], []
    for c in cases:
        if c.selected is None or not len(c.selected):
            continue
        ks = c.selected
        md = np.zeros((len(ks), size, size), np.float32)
        ms = np.zeros((len(ks), size, size), np.float32)
        for j, k in enumerate(ks):
            if c.labels[k] == UNHEALTHY and (c.case_id, int(k)) in masks.ddpt:
                md[j] = _resize_mask(masks.ddpt[(c.case_id, int(k))], size)
                ms[j] = _resize_mask(masks.sam.get((c.case_id, int(k)), masks.ddpt[(c.case_id, int(k))]), size)
        if bridge not in c.images:  # every sample needs its bridge slice (weak masks, alignment)
            continue
        bridge_px = c.slices(bridge, size, ks, gamma)
        for si, seq in enumerate(sequences):
            if seq not in c.images:
                continue
            xs.append(bridge_px if seq == bridge else c.slices(seq, size, ks, gamma))
            mds.append(md)
            mss.append(ms)
            seqs.append(np.full(len(ks), si, np.int64))
            brs.append(bridge_px)
            keys += [(c.case_id, int(k), seq) for k in ks]
    if not xs:
        from core.errors import InputError

        raise InputError(None, f"no training slices of the bridge sequence '{bridge}'")
    cat = lambda a: torch.from_numpy(np.concatenate(a))[:, None]  # noqa: E731
    multi = len(sequences) > 1
    return SliceSet(
        cat(xs).to(torch.float16),
        cat(mds).to(torch.uint8),
        cat(mss).to(torch.uint8),
        torch.from_numpy(np.concatenate(seqs)),
        cat(brs).to(torch.float16) if multi else None,
        keys,
    )


def split_validation(cases: list[TrainCase], fraction: float, seed: int) -> tuple[list[TrainCase], list[TrainCase]]:
    """(training, validation) cases: ``fraction`` of the volumes with selected unhealthy slices (at
    least one) are held out, whole, as the paper's validation split; none with fewer than three."""
    candidates = [i for i, c in enumerate(cases) if c.selected is not None and (c.labels[c.selected] == UNHEALTHY).any()]
    if fraction <= 0 or len(candidates) < 3:
        return list(cases), []
    n_val = min(len(candidates) - 2, max(1, int(round(fraction * len(candidates)))))
    held = set(np.random.default_rng(seed + 7).choice(candidates, n_val, replace=False).tolist())
    return [c for i, c in enumerate(cases) if i not in held], [c for i, c in enumerate(cases) if i in held]


def weak_mask_dice(net, data: SliceSet, sequences: list[str], device, threshold: float = 0.5, batch: int = 32) -> float:
    """Dice between the network's masks (probability >= threshold, eval mode) and the weak masks
    M_DDPT, pooled over every slice of ``data`` as a volume-level Dice: a healthy slice (empty weak
    mask) counts its false positives. NaN when neither has a pixel."""
    import torch

    was_training = net.training
    net.eval()
    inter, total = 0.0, 0.0
    with torch.inference_mode():
        for start in range(0, len(data.seq), batch):
            part = slice(start, start + batch)
            x, m, seq = data.x[part].to(device).float(), data.m_ddpt[part].to(device).bool(), data.seq[part]
            for si in torch.unique(seq).tolist():
                sel = (seq == si).nonzero().squeeze(1).to(device)
                pred = net(x[sel], sequences[si])["mask"] >= threshold
                g = m[sel]
                inter += float((pred & g).sum())
                total += float(pred.sum() + g.sum())
    net.train(was_training)
    return 2.0 * inter / total if total > 0 else float("nan")


def validation_slices(case: TrainCase) -> TrainCase:
    """A held-out case judged on its selected (weak-masked) slices and every healthy slice."""
    chosen = set(int(k) for k in (case.selected if case.selected is not None else []))
    chosen |= set(np.flatnonzero(case.labels == HEALTHY).tolist())
    return replace(case, selected=np.array(sorted(chosen), dtype=np.int64))


class BestEpoch:
    """The weights of the epoch with the highest validation Dice, kept in memory and (rank 0, with a
    run folder) in ``best.pt`` beside the checkpoint so a resumed run still knows them."""

    def __init__(self, net, context):
        self.net = net
        self.path = None if context.run_dir is None else context.run_dir / "best.pt"
        self.write = context.is_main
        self.epoch, self.score, self.state = 0, -1.0, None
        if context.resume and self.path is not None and self.path.exists():
            import torch

            saved = torch.load(self.path, map_location="cpu", weights_only=True)
            self.epoch, self.score, self.state = int(saved["epoch"]), float(saved["score"]), saved["module"]

    def offer(self, epoch: int, score: float) -> None:
        if not (score > self.score):  # NaN never wins
            return
        import torch

        from core.io.atomic import atomic_path

        self.epoch, self.score = epoch, score
        self.state = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        if self.path is not None and self.write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.path) as tmp:
                torch.save({"epoch": epoch, "score": score, "module": self.state}, tmp)

    def restore(self) -> None:
        if self.state is not None:
            self.net.load_state_dict(self.state)


def train_network(
    net,
    data: SliceSet,
    sequences: list[str],
    config: RasaloreSettings,
    *,
    device,
    context,
    stage: str,
    progress: Progress,
    cancel: CancelToken,
    bridge_net=None,
    bridge: str | None = None,
    epochs: int | None = None,
    validation: SliceSet | None = None,
):
    """Run one training stage of ``net`` with the shared loop; returns the loop state. With
    ``select_best_epoch`` the weights of the epoch whose masks best match the weak masks of
    ``validation`` (the training slices, unaugmented, when there is none) are kept; the state's
    ``best`` says which epoch that was."""
    import torch

    from core.models.rasalore.losses import alignment_loss, decoder_loss, point_activation_loss, structural_loss
    from core.models.rasalore.network import point_mask
    from core.training import Trainer

    size = config.image_size
    scale = size / 256.0
    sig, sig_bg = config.sigma * scale, config.sigma_background * scale
    use_sam = config.use_medsam
    phi, eps = config.phi, config.dice_eps
    align_w = config.align_weight if bridge_net is not None else 0.0
    if bridge_net is not None and data.bridge is None:
        raise ValueError("aligning to the bridge model needs the bridge sequence's pixels of every slice")
    gen = torch.Generator().manual_seed(config.seed + (1 if stage != "network" else 0))
    do_aug = config.augment
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=config.lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=config.lr_step, gamma=0.5)
    sub = _sub_context(context, stage)
    trainer = Trainer(net, opt, sched, device=device, context=sub, progress=progress, cancel=cancel, grad_clip=config.grad_clip or None)
    if bridge_net is not None:
        bridge_net.to(device).eval()
        for p in bridge_net.parameters():
            p.requires_grad_(False)

    def step(idx: torch.Tensor) -> dict[str, torch.Tensor]:
        x = data.x[idx].to(device).float()
        md = data.m_ddpt[idx].to(device).float()
        ms = data.m_sam[idx].to(device).float()
        seq = data.seq[idx].to(device)
        br = data.bridge[idx].to(device).float() if bridge_net is not None and data.bridge is not None else None
        if do_aug:
            stacked = x if br is None else torch.cat([x, br], 1)
            stacked, (md, ms) = augment(stacked, [md, ms], gen, max_rotation=config.augment_rotation)
            x, br = (stacked, None) if br is None else (stacked[:, :1], stacked[:, 1:])
        totals: dict[str, torch.Tensor] = {}
        n = x.shape[0]
        for si in torch.unique(seq).tolist():
            sel = (seq == si).nonzero().squeeze(1)
            out = net(x[sel], sequences[si])
            dec = decoder_loss(
                out["mask"],
                md[sel],
                ms[sel] if use_sam else None,
                alpha=config.alpha,
                beta=config.beta,
                phi=phi,
                eps=eps,
                sigma=sig,
                sigma_background=sig_bg,
            )
            m_pa = point_mask(md[sel], net.grid)
            terms = {**dec, "pa": point_activation_loss(out["points"], m_pa, phi, eps), "struct": structural_loss(out["xi"], m_pa)}
            loss = terms["dec"] + terms["pa"] + terms["struct"]
            if align_w > 0 and br is not None:
                with torch.no_grad():
                    target = bridge_net.embed(br[sel], bridge)
                terms["align"] = alignment_loss(out["xi"], target)
                loss = loss + align_w * terms["align"]
            terms["loss"] = loss
            w = sel.numel() / n
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + w * v
        return totals

    per_epoch = max(len(data.seq), config.min_samples_per_epoch)
    loader = index_batches(len(data.seq), config.batch_size, config.seed + 3, per_epoch)
    n_epochs = int(epochs if epochs is not None else config.epochs)
    if not config.select_best_epoch:
        return trainer.run(loader, step, n_epochs)
    judge = validation if validation is not None and len(validation.seq) else data
    best = BestEpoch(net, sub)

    def on_epoch_end(epoch: int) -> dict:
        score = weak_mask_dice(net, judge, sequences, device, config.mask_threshold)
        best.offer(epoch, score)
        return {"val_dice": round(score, 4) if score == score else None}

    state = trainer.run(loader, step, n_epochs, on_epoch_end=on_epoch_end)
    best.restore()
    state.best = {
        "epoch": best.epoch,
        "val_dice": round(best.score, 4) if best.state is not None else None,
        "on": "validation volumes" if judge is validation else "training slices",
    }
    return state


def frozen_copy(net):
    twin = copy.deepcopy(net)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin.eval()
