"""SAM service timings on the real fundus photo: encoder (uncached), embedding cache read, and
click-to-mask / box-to-mask with a cached embedding (median of repeats; target < 150 ms on CPU).

    python -m bench.sam [--device cpu|cuda] [--out bench/results/sam.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import device_info, median_time, write_json


def run(device: str = "auto") -> dict:
    from core.data.synthetic.fundus import RETINA_DISC_XY, load_retina
    from core.sam.model import load_sam
    from core.sam.service import SamService
    from core.workspace.arrays import ArrayStore

    img = load_retina()
    t0 = time.perf_counter()
    net = load_sam("litemedsam", device)
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        store = ArrayStore(Path(d) / "arrays.h5")
        sam = SamService(net, store, memory_items=0)
        encode_s = median_time(lambda: sam._encode(img), repeat=3, warmup=1)
        emb = sam.embedding(img)
        cold = SamService(net, store, memory_items=0)
        cache_read_s = median_time(lambda: cold.embedding(img), repeat=5)
        x, y = RETINA_DISC_XY
        click_s = median_time(lambda: sam.predict(emb, img.shape[:2], points=np.array([[x, y]]), labels=np.array([1])), repeat=15)
        box_s = median_time(
            lambda: sam.predict(emb, img.shape[:2], box=np.array([x - 130, y - 130, x + 130, y + 130]), multimask=False), repeat=15
        )
        prev = sam.predict(emb, img.shape[:2], points=np.array([[x, y]]), labels=np.array([1]))
        refine_s = median_time(
            lambda: sam.predict(
                emb,
                img.shape[:2],
                points=np.array([[x, y], [x + 200, y]]),
                labels=np.array([1, 0]),
                mask_input=prev.low_res_logits[0],
                multimask=False,
            ),
            repeat=15,
        )
    return {
        "device": device_info(),
        "image": f"{img.shape[1]}x{img.shape[0]}",
        "model_load_s": round(load_s, 3),
        "encoder_s": round(encode_s, 3),
        "cached_embedding_read_s": round(cache_read_s, 4),
        "click_to_mask_ms": round(click_s * 1000, 1),
        "box_to_mask_ms": round(box_s * 1000, 1),
        "refine_click_ms": round(refine_s * 1000, 1),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="bench/results/sam.json")
    a = p.parse_args(argv)
    r = run(a.device)
    write_json(a.out, r)
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
