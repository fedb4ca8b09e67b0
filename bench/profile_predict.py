"""Where the time of one PatchCore prediction goes: cProfile of ``predict`` + ``store_result`` on
the demo's 1411 px fundus photo (the encoder, the non-network work around it, the HDF5 write).

    python -m bench.profile_predict [--workspace W] [--backend onnx|torch] [--repeat 3] [--top 30]

Fits PatchCore on the workspace's training normals unless an active version exists (``--refit``
fits anyway). Prints the top functions by cumulative and by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--refit", action="store_true")
    a = p.parse_args(argv)
    os.environ["ANOMALY_STUDIO_BACKEND"] = a.backend

    from bench.common import demo_workspace
    from core.models import store
    from core.runtime.device import configure_cpu_threads

    configure_cpu_threads()
    ws = demo_workspace(a.workspace)
    version = None if a.refit else store.active_version(ws, "patchcore", "fundus")
    model = store.load_version(ws, "patchcore", version) if version else store.fit_on_workspace(ws, "patchcore", {"device": "cpu"})
    cid = next(c.id for c in ws.cases() if c.split == "test" and c.image("fundus") is not None)
    case = ws.load_case(cid)
    store.store_result(ws, model, case, model.predict(case))  # warm-up: sessions, imports
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(a.repeat):
        store.store_result(ws, model, case, model.predict(case))
    prof.disable()
    per = (time.perf_counter() - t0) / a.repeat
    print(f"patchcore {model.card.version} backend {model.backend}: {per:.3f} s per predict + store of {cid} (profiled)")
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(a.top)
        print(buf.getvalue())


if __name__ == "__main__":
    main()
