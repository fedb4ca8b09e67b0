"""Seconds per training epoch of RASALoRE's two trained stages, on synthetic inputs of the real sizes.

    python bench/rasalore_epoch.py [--device cpu|cuda] [--slices 64] [--image-size 256] [--grid 32] [--dim 256]

* network: the segmentation network with all losses (L_Dec, L_PA, L_Struct), augmentation, SGD,
  batch 16, through the shared training loop (what one epoch over ``--slices`` slices costs);
* DDPT: prompt tuning over the frozen LiteMedSAM two-way transformer on cached encoder tokens;
* the frozen LiteMedSAM encoder, once per training slice (the cache makes it once per slice ever).

Prints one JSON line per figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="auto")
    p.add_argument("--slices", type=int, default=64)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--grid", type=int, default=32)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--ddpt-grid", type=int, default=16)
    p.add_argument("--encoder-slices", type=int, default=4)
    args = p.parse_args()

    import torch

    from core.models.rasalore.model import Rasalore
    from core.models.rasalore.network import RasaloreNet, count_parameters
    from core.models.rasalore.train import SliceSet, train_network
    from core.runtime.device import configure_cpu_threads, describe_device, resolve_device
    from core.runtime.progress import CancelToken

    configure_cpu_threads()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    config = Rasalore.parse_settings(
        dict(image_size=args.image_size, grid_size=args.grid, embed_dim=args.dim, seed=0, ddpt_grid=args.ddpt_grid)
    )
    n, s = args.slices, args.image_size
    x = torch.rand(n, 1, s, s)
    masks = torch.zeros(n, 1, s, s, dtype=torch.uint8)
    masks[: n // 2, :, s // 3 : s // 2, s // 3 : s // 2] = 1  # half the slices carry a weak mask
    data = SliceSet(x.half(), masks, masks.clone(), torch.zeros(n, dtype=torch.long), None, [])

    net = RasaloreNet(["t2"], image_size=s, grid=args.grid, dim=args.dim)
    t0 = time.perf_counter()
    state = train_network(
        net,
        data,
        ["t2"],
        config,
        device=device,
        context=None,
        stage="network",
        progress=lambda *a: None,
        cancel=CancelToken(),
        epochs=args.epochs,
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t0
    per_epoch = total / max(1, state.epoch)
    print(
        json.dumps(
            {
                "figure": "network_seconds_per_epoch",
                "value": round(per_epoch, 2),
                "slices": n,
                "image_size": s,
                "grid": args.grid,
                "dim": args.dim,
                "batch_size": config.batch_size,
                "seconds_per_slice": round(per_epoch / n, 4),
                "parameters": count_parameters(net),
                "device": describe_device(str(device)),
                "epochs_timed": state.epoch,
            }
        )
    )

    from core.models.rasalore.data import Batches
    from core.models.rasalore.ddpt import SamDDPT
    from core.sam.model import load_sam

    sam = load_sam("litemedsam", device)
    ddpt = SamDDPT(sam.mask_decoder.transformer, sam.prompt_encoder.get_dense_pe(), grid=args.ddpt_grid).to(device)
    tokens = torch.randn(n, args.ddpt_grid**2, 256)
    labels = torch.arange(n) % 2
    opt = torch.optim.SGD(ddpt.trainable(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        for idx in Batches(n, 16, 0):
            loss = ddpt.loss(ddpt(tokens[idx].to(device)), labels[idx].to(device))["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_epoch = (time.perf_counter() - t0) / args.epochs
    print(
        json.dumps(
            {
                "figure": "ddpt_seconds_per_epoch",
                "value": round(per_epoch, 2),
                "slices": n,
                "ddpt_grid": args.ddpt_grid,
                "device": describe_device(str(device)),
            }
        )
    )

    imgs = torch.rand(args.encoder_slices, 256, 256).numpy()
    with torch.inference_mode():
        sam.image_encoder(sam.preprocess(imgs[0])[0])  # warm-up
        t0 = time.perf_counter()
        for im in imgs:
            sam.image_encoder(sam.preprocess(im)[0])
        if device.type == "cuda":
            torch.cuda.synchronize()
    print(
        json.dumps(
            {
                "figure": "litemedsam_encoder_seconds_per_slice",
                "value": round((time.perf_counter() - t0) / len(imgs), 3),
                "device": describe_device(str(device)),
            }
        )
    )


if __name__ == "__main__":
    main()
