"""SAM embeddings start ahead of the first click as the GPU worker's lowest-priority task: they wait
for other work, are dropped when the image changes before they start, and a click then decodes
without encoding again."""

from __future__ import annotations

import threading

import numpy as np

from app.editing.sam_assist import SamAssist
from app.workers.pool import TaskRunner


class FakeService:
    """Records which images were encoded; decodes a fixed mask (no torch in these tests)."""

    def __init__(self):
        self.encoded: list[str] = []
        self.net = type("Net", (), {"encoder_id": "fake", "img_size": 256})()

    def embedding(self, image, sha):
        self.encoded.append(sha)
        return np.full((256, 64, 64), float(image.mean()), np.float32)


def test_idle_task_waits_for_other_work_and_can_be_cancelled(qtbot):
    runner = TaskRunner("gpu-test", max_workers=1)
    gate = threading.Event()
    order: list[str] = []
    runner.submit(lambda: (gate.wait(10), order.append("model run")))
    idle = runner.submit_idle(lambda: order.append("idle"))
    dropped = runner.submit_idle(lambda: order.append("dropped"))
    assert dropped.cancel()  # still waiting: it will never run
    assert not idle.started
    runner.submit(lambda: order.append("click"))  # normal work queued meanwhile goes first
    gate.set()
    qtbot.waitUntil(lambda: "idle" in order, timeout=5000)
    assert order == ["model run", "click", "idle"] and idle.started
    runner.shutdown(wait=True)


def test_prefetch_is_dropped_on_image_change_and_reused_by_the_first_click(qtbot):
    runner = TaskRunner("gpu-test", max_workers=1)
    service = FakeService()
    sam = SamAssist(runner, lambda: None, service_factory=lambda store: service)
    gate = threading.Event()
    runner.submit(gate.wait, 10)  # a model run keeps the worker busy
    a, b = np.zeros((40, 50), np.uint8), np.full((40, 50), 9, np.uint8)
    sam.set_image(a, "sha-a")
    sam.prefetch()
    sam.set_image(b, "sha-b")  # the user moved on before the prefetch of A could start
    sam.prefetch()
    gate.set()
    qtbot.waitUntil(sam.has_embedding, timeout=5000)
    assert service.encoded == ["sha-b"]
    # a click needs no second encoding: the prefetched embedding is used
    sam.ensure_embedding()
    runner.submit(lambda: None)
    qtbot.wait(50)
    assert service.encoded == ["sha-b"] and sam.has_embedding()
    runner.shutdown(wait=True)


def test_click_during_a_waiting_prefetch_encodes_at_normal_priority(qtbot):
    runner = TaskRunner("gpu-test", max_workers=1)
    service = FakeService()
    sam = SamAssist(runner, lambda: None, service_factory=lambda store: service)
    gate = threading.Event()
    runner.submit(gate.wait, 10)
    sam.set_image(np.zeros((30, 30), np.uint8), "sha-c")
    sam.prefetch()
    task = sam._prefetch_task
    sam.ensure_embedding()  # the click: the waiting prefetch is replaced by a normal-priority encode
    assert task.cancelled and not task.started
    gate.set()
    qtbot.waitUntil(sam.has_embedding, timeout=5000)
    qtbot.wait(50)
    assert service.encoded == ["sha-c"]
    runner.shutdown(wait=True)
