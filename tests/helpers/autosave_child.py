"""Child process of the autosave kill test: edits one image's labels in a loop with autosave on.

Usage: python -m tests.helpers.autosave_child WORKSPACE IMAGE_ID START
Prints one JSON line per edit ({"i", "t", "label"}) after the edit is made in memory, and one per
finished save. The parent kills it with SIGKILL at a random moment.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main() -> int:
    from core.labels.autosave import Autosaver
    from core.labels.raster import Region
    from core.labels.targets import LabelTarget, open_editor, save_document
    from core.workspace import Workspace

    root, image_id, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ws = Workspace.open(root)
    target = LabelTarget(ws.image(image_id))
    editor = open_editor(ws, target)
    h, w = editor.height, editor.width
    saver = Autosaver(editor, lambda doc: save_document(ws, target, doc, user="kill-test"))
    rng = np.random.default_rng(start)
    print(json.dumps({"ready": True, "shapes": len(editor.shapes)}), flush=True)
    i = start
    while True:
        label = f"edit {i}"
        if i % 2:
            # a noisy mask stroke: incompressible PNG data makes every save take real time
            y, x = int(rng.integers(0, h - 200)), int(rng.integers(0, w - 200))
            noise = rng.random((200, 200)) < 0.5
            noise[0, 0] = noise[-1, -1] = True
            editor.paint(label, Region(noise, x, y), text="Brush stroke")
        else:
            x, y = rng.uniform(10, w - 60), rng.uniform(10, h - 60)
            from core.io.labelme import Shape

            editor.add_shape(Shape(label, [[x, y], [x + 50, y], [x + 25, y + 40]]))
        print(json.dumps({"i": i, "t": time.time(), "label": label}), flush=True)
        if saver.poll():
            print(json.dumps({"saved": editor.revision, "t": time.time()}), flush=True)
        if saver.last_error:
            print(json.dumps({"error": saver.last_error}), flush=True)
        i += 1
        time.sleep(0.03)


if __name__ == "__main__":
    sys.exit(main())
