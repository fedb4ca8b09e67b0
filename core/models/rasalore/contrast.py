"""Healthy-reference weak masks: the offline default of RASALoRE's stage 1.

Over frozen LiteMedSAM, DDPT's final-layer attention does not find the lesion (demo workspace: Dice
0.02-0.07 with the true lesion masks; the attention sits on the cortex whatever the lesion), so the
segmentation network learns nothing that carries over to unseen scans. The slice labels say more
than DDPT's attention uses: the healthy slices show what normal tissue looks like at each level of
the brain. So by default the weak mask of an unhealthy slice marks where its frozen LiteMedSAM
features are far from every feature of the healthy reference slices:

1. every unhealthy training slice and the healthy DDPT shots (drawn at the same relative slice
   positions, :func:`core.models.rasalore.weak_masks.plan_ddpt`) are encoded once by the frozen
   LiteMedSAM encoder at 256 px (cached in the workspace like DDPT's inputs);
2. the 64 x 64 embeddings are average-pooled to a ``contrast_grid`` x ``contrast_grid`` token map and
   L2-normalised; the healthy tokens form a memory (at most ``contrast_memory`` of them, drawn at
   random with the seed);
3. a token's distance is 1 - its highest cosine similarity to the memory;
4. the threshold comes from the healthy slices alone (``contrast_rule=healthy_quantile``, default):
   the reference slices are split in two halves, each half's brain tokens are scored against a
   memory of the other half, and the ``contrast_quantile`` (0.99) of those healthy distances is the
   level healthy tissue rarely exceeds; an unhealthy slice's weak mask is where its distance map
   (upsampled, inside the brain) reaches it. No pixel label is used.
   ``contrast_rule=minmax`` keeps the earlier rule (the map scaled to [0, 1] per slice, thresholded
   at ``contrast_threshold`` = 0.7): that level was chosen by Dice against the demo's true lesion
   masks, so it is an oracle and not the default.

MedSAM refinement is the same as for DDPT masks (:func:`core.models.rasalore.weak_masks.refine_with_medsam`).
"""

from __future__ import annotations

from core.models.rasalore.data import TrainCase
from core.models.rasalore.settings import RasaloreSettings
from core.runtime.progress import CancelToken, Progress


def token_maps(embeddings, grid: int):
    """(B, 256, 64, 64) encoder embeddings -> (B, grid * grid, 256) unit-length tokens."""
    import torch.nn.functional as F

    pooled = F.adaptive_avg_pool2d(embeddings.float(), grid).flatten(2).transpose(1, 2)
    return F.normalize(pooled, dim=-1)


def sample_memory(healthy, limit: int, seed: int):
    """(m, N, d) healthy tokens -> (<= limit, d) memory, a seeded random subset when there are more."""
    import torch

    flat = healthy.reshape(-1, healthy.shape[-1])
    if limit <= 0 or flat.shape[0] <= limit:
        return flat
    idx = torch.randperm(flat.shape[0], generator=torch.Generator().manual_seed(int(seed)))[:limit]
    return flat[idx.sort().values]


def distance_maps(queries, memory, *, device=None, chunk: int = 16384):
    """(n, N, d) unit tokens, (M, d) unit memory -> (n, N) distances 1 - max cosine similarity."""
    import torch

    dev = device or torch.device("cpu")
    out = torch.empty(queries.shape[:2])
    with torch.inference_mode():
        for i in range(queries.shape[0]):
            q = queries[i].to(dev).float()
            best = torch.full((q.shape[0],), -2.0, device=dev)
            for s in range(0, memory.shape[0], chunk):
                best = torch.maximum(best, (q @ memory[s : s + chunk].to(dev).float().t()).amax(1))
            out[i] = (1.0 - best).cpu()
    return out


def healthy_level(tokens, foreground, grid: int, config: RasaloreSettings, *, device=None) -> float:
    """The ``contrast_quantile`` of healthy brain tokens' distances, each half of the reference
    slices scored against a memory of the other half (a slice never meets its own tokens)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    m = tokens.shape[0]
    if m < 2:
        raise ValueError("the healthy-quantile rule needs at least two healthy reference slices")
    inside = F.adaptive_avg_pool2d(foreground[:, None].float(), grid)[:, 0].flatten(1) > 0.5  # (m, grid*grid)
    halves = (np.arange(m) % 2 == 0, np.arange(m) % 2 == 1)
    found = []
    for score, ref in (halves, halves[::-1]):
        memory = sample_memory(tokens[torch.from_numpy(ref)], config.contrast_memory, config.seed)
        d = distance_maps(tokens[torch.from_numpy(score)], memory, device=device)
        found.append(d[inside[torch.from_numpy(score)]])
    values = torch.cat(found).numpy()
    return float(np.quantile(values, config.contrast_quantile)) if values.size else 1.0


def absolute_mask(maps, foreground, level: float):
    """(n, g, g) distance maps -> (n, S, S) weak masks: upsampled (bilinear), inside the brain, >= level."""
    import torch.nn.functional as F

    s = foreground.shape[-1]
    up = F.interpolate(maps[:, None].float(), size=(s, s), mode="bilinear", align_corners=False)[:, 0]
    return (up >= level) & foreground.bool()


def make_contrast_masks(
    cases: list[TrainCase], sequence: str, config: RasaloreSettings, *, device, progress: Progress, cancel: CancelToken, store=None
):
    """Weak masks of the selected unhealthy ``sequence`` slices of ``cases`` from the healthy reference."""
    import torch

    from core.models.rasalore.ddpt import attention_to_mask
    from core.models.rasalore.weak_masks import brain_foreground, encode_slices, plan_ddpt, refine_with_medsam
    from core.sam.model import load_sam

    plan = plan_ddpt(cases, sequence, config)
    net = load_sam("litemedsam", device)
    grid = config.contrast_grid
    n = plan.n_unhealthy
    healthy_idx = [int(i) for i in plan.train_idx if i >= n]
    tokens = torch.zeros(len(plan.items), grid * grid, 256, dtype=torch.float16)
    full: dict[int, torch.Tensor] = {}
    for i, emb in encode_slices(net, plan.slices, progress=progress, cancel=cancel, what="slice", store=store):
        tokens[i] = token_maps(emb[None], grid)[0].to(torch.float16)
        if i < n and config.use_medsam:
            full[i] = emb
    memory = sample_memory(tokens[healthy_idx], config.contrast_memory, config.seed)
    dist = []
    for s in range(0, n, 16):
        cancel.raise_if_cancelled()
        progress(s, n, f"healthy-reference distances {s + 1}/{n}")
        dist.append(distance_maps(tokens[s : min(s + 16, n)], memory, device=device))
    maps = torch.cat(dist).reshape(n, grid, grid)
    fg = torch.from_numpy(brain_foreground(plan.slices[:n]))
    level = None
    if config.contrast_rule == "minmax":
        _scaled, masks = attention_to_mask(maps, fg, config.contrast_threshold)
    else:
        healthy_fg = torch.from_numpy(brain_foreground(plan.slices[healthy_idx]))
        level = healthy_level(tokens[healthy_idx], healthy_fg, grid, config, device=device)
        masks = absolute_mask(maps, fg, level)
    out = refine_with_medsam(plan, masks.numpy(), config, net=net, embeddings=full, progress=progress, cancel=cancel)
    out.stats.update(
        {
            "weak_mask": "healthy_contrast",
            "reference_slices": len(healthy_idx),
            "memory_tokens": int(memory.shape[0]),
            "contrast_grid": grid,
            "contrast_rule": config.contrast_rule,
            "contrast_level": None if level is None else round(float(level), 5),
        }
    )
    return out
