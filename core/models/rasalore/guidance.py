"""Classifier guidance: DDPT's healthy / unhealthy decision on every slice at prediction time.

The paper's appendix (B.2, Table 14) evaluates RASALoRE's masks "with classifier guidance": slices
DDPT classifies as healthy are set aside, because a slice with too little lesion to convince the
classifier does not carry a reliable mask either. The segmentation network alone is trained on
unhealthy slices only and outlines a region on nearly every slice, so its own scores hardly tell a
healthy slice from a lesion slice (demo workspace: slice AUROC 0.63-0.69). DDPT was trained on both.

With ``classifier_guidance`` on:

* every kept slice is encoded by the frozen LiteMedSAM encoder at 256 px (DDPT's pooled tokens are
  cached in the workspace by the slice's content) and DDPT gives ``p`` = P(unhealthy);
* the guided map of a slice is the network's probability map times ``p``, so its top (the slice
  score) is high only where both the classifier and the segmentation agree;
* the mask keeps the network's mask (probability >= threshold) on the slices DDPT calls unhealthy
  (``p >= 0.5``) and nothing on the others, as the paper's classifier-guided masks;
* the volume score is the mean of the highest ``volume_score_top`` fraction of slice scores: a lesion
  spans several slices, while one odd healthy slice should not decide the case.
"""

from __future__ import annotations

import math

import numpy as np

from core.models.rasalore.settings import RasaloreSettings
from core.runtime.progress import CancelToken, Progress, no_progress


def guided_maps(probs: np.ndarray, p_unhealthy: np.ndarray) -> np.ndarray:
    """(n, S, S) network probabilities, (n,) P(unhealthy) -> (n, S, S) guided maps."""
    p = np.clip(np.asarray(p_unhealthy, np.float32), 0.0, 1.0)
    return (np.asarray(probs, np.float32) * p[:, None, None]).astype(np.float32)


def volume_score(slice_scores: np.ndarray, top_fraction: float) -> float:
    """Mean of the highest ``top_fraction`` of the slice scores (at least one slice)."""
    s = np.sort(np.asarray(slice_scores, np.float64))
    if s.size == 0:
        return float("nan")
    k = min(s.size, max(1, int(math.ceil(float(top_fraction) * s.size))))
    return float(s[-k:].mean())


def build_classifier(net, config: RasaloreSettings, state: dict | None = None):
    """A SamDDPT over ``net``'s frozen transformer; ``state`` (the saved learnable part) loaded when given."""
    from core.models.rasalore.ddpt import SamDDPT

    module = SamDDPT(
        net.mask_decoder.transformer,
        net.prompt_encoder.get_dense_pe(),
        grid=config.ddpt_grid,
        n_prompts=config.ddpt_prompts,
        tau=config.ddpt_tau,
    )
    if state:
        missing, unexpected = module.load_state_dict(state, strict=False)
        learnable = [k for k in missing if k.split(".")[0] not in module.frozen_prefixes]
        if learnable or unexpected:
            raise ValueError(f"DDPT state does not fit the classifier (missing {learnable}, unexpected {list(unexpected)})")
    return module


def train_classifier(
    cases, sequence: str, config: RasaloreSettings, *, device, context, progress: Progress, cancel: CancelToken, store=None
) -> tuple[dict, dict]:
    """Train DDPT over frozen LiteMedSAM on the planned healthy / unhealthy shots of ``sequence``
    (the weak-mask stage's plan, so the encodings are already cached). Returns (the learnable state,
    statistics: shots, epochs, training accuracy)."""
    import torch

    from core.models.rasalore.weak_masks import encode_slices, infer_ddpt, plan_ddpt, train_ddpt
    from core.sam.model import load_sam

    plan = plan_ddpt(cases, sequence, config)
    net = load_sam("litemedsam", device)
    module = build_classifier(net, config)
    tokens = torch.zeros(len(plan.items), module.grid * module.grid, module.image_pe.shape[-1], dtype=torch.float16)
    for i, emb in encode_slices(net, plan.slices, progress=progress, cancel=cancel, what="slice", store=store):
        tokens[i] = module.pool(emb[None].float())[0].to(torch.float16)
    state = train_ddpt(module, tokens, plan, config, device=device, context=context, progress=progress, cancel=cancel)
    logits, _attn = infer_ddpt(module, tokens[plan.train_idx], device)
    labels = plan.labels()[plan.train_idx]
    stats = {
        "shots": int(len(plan.train_idx)),
        "epochs": int(state.epoch),
        "training_accuracy": round(float((logits.argmax(1) == labels).float().mean()), 4),
    }
    learnable = {k: v.detach().cpu() for k, v in module.state_dict().items() if k.split(".")[0] not in module.frozen_prefixes}
    return learnable, stats


class SliceClassifier:
    """DDPT at prediction time: P(unhealthy) of 256 px normalised slices. The frozen LiteMedSAM
    encoder runs on the model's inference backend (ONNX Runtime on a CPU, torch on CUDA), the
    slices of a volume ``batch`` at a time."""

    def __init__(self, config: RasaloreSettings, state: dict, device, store=None, backend: str | None = None, batch: int = 8):
        from core.runtime.inference import model_backend
        from core.sam.model import load_sam

        self.device = device
        self.store = store
        self.batch = max(1, int(batch))
        self.net = load_sam("litemedsam", device)
        self.backend = backend or model_backend(None, self.net.device)
        self.module = build_classifier(self.net, config, state).to(device).eval()

    def token_key(self, sha: str) -> str:
        suffix = "" if self.backend == "torch" else f"-{self.backend}"
        return f"rasalore/ddpt-tokens-{self.module.grid}{suffix}/{sha}"

    def probabilities(self, slices: np.ndarray, *, progress: Progress = no_progress, cancel: CancelToken | None = None) -> np.ndarray:
        """(n, 256, 256) slices in [0, 1] -> (n,) P(unhealthy). With a workspace array store the
        pooled DDPT tokens of each slice (128 KB, not the 2 MB embedding) are cached by content (per
        backend), and the embeddings cached by training are used where they exist (torch's, equal to
        ONNX Runtime's within 1e-5)."""
        import torch

        from core.hashing import array_sha256
        from core.models.rasalore.weak_masks import infer_ddpt

        cancel = cancel or CancelToken()
        g = self.module.grid
        tokens = torch.zeros(len(slices), g * g, self.module.image_pe.shape[-1])
        shas = [array_sha256(np.ascontiguousarray(s)) for s in slices] if self.store else None
        keys = [self.token_key(sha) for sha in shas] if shas else None
        todo = []
        for i in range(len(slices)):
            hit = self.store.get(keys[i]) if keys else None
            full = None if hit is not None or not shas else self.store.get(f"rasalore/litemedsam/{shas[i]}")
            if hit is not None:
                tokens[i] = torch.from_numpy(np.asarray(hit, np.float32))
            elif full is not None:  # a training slice: its embedding is cached already
                tokens[i] = self.module.pool(torch.from_numpy(np.asarray(full))[None].float())[0]
            else:
                todo.append(i)
        if todo:
            from core.sam.encoder import image_encoder

            encoder = image_encoder(self.net, self.backend)
            for start in range(0, len(todo), self.batch):
                cancel.raise_if_cancelled()
                progress(start, len(todo), f"LiteMedSAM encoder: slice {start + 1}/{len(todo)}")
                part = todo[start : start + self.batch]
                x = torch.cat([self.net.preprocess(slices[i])[0] for i in part])
                emb = encoder.run(x, ("embedding",))["embedding"].cpu()
                # float16 as the training embeddings (weak_masks.encode_slices) before pooling
                pooled = self.module.pool(emb.to(torch.float16).float())
                for j, i in enumerate(part):
                    tokens[i] = pooled[j]
                    if keys:
                        self.store.put(
                            keys[i], tokens[i].numpy().astype(np.float16), attrs={"encoder": "litemedsam", "backend": self.backend}
                        )
        progress(len(slices), len(slices), "slice classifier")
        logits, _attn = infer_ddpt(self.module, tokens, self.device)
        return torch.softmax(logits.float(), dim=1)[:, 1].numpy().astype(np.float32)
