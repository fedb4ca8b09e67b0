"""SAM embeddings start ahead of the first click as the GPU worker's lowest-priority task: they wait
for other work, are dropped when the image changes before they start, and a click then decodes
without encoding again."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.editing.sam_assist import SamAssist
from app.workers.pool import TaskRunner
from tests.app.editing.label_helpers import click


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
    sam = SamAssist(runner, lambda: None, service_factory=lambda store: service, prefetch_enabled=True)
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
    sam = SamAssist(runner, lambda: None, service_factory=lambda store: service, prefetch_enabled=True)
    gate = threading.Event()
    runner.submit(gate.wait, 10)
    sam.set_image(np.zeros((30, 30), np.uint8), "sha-c")
    sam.prefetch()
    task = sam.prefetch_task
    sam.ensure_embedding()  # the click: the waiting prefetch is replaced by a normal-priority encode
    assert task.cancelled and not task.started
    gate.set()
    qtbot.waitUntil(sam.has_embedding, timeout=5000)
    qtbot.wait(50)
    assert service.encoded == ["sha-c"]
    runner.shutdown(wait=True)


class CountingService:
    """The real LiteMedSAM service (torch on the CPU), counting the embeddings asked of it."""

    def __init__(self, real):
        self.real = real
        self.encoded: list[str | None] = []

    def embedding(self, image, sha=None):
        self.encoded.append(sha)
        return self.real.embedding(image, sha)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.mark.slow
def test_first_click_in_the_window_uses_the_prefetched_embedding(window, qtbot):
    """Label mode opens a fundus case: its embedding is computed in the background before any SAM
    click; the first click then only decodes (no second encoding) and gives a mask on the lesion."""
    from scipy import ndimage

    from core.sam.service import get_sam_service

    window.label_mode.set_active(True)
    view = window.label_mode.view2d
    real = get_sam_service("litemedsam", "cpu", window.session.workspace.arrays, backend="torch")
    service = CountingService(real)
    view.sam.service_factory = lambda store: service
    view.sam.prefetch_enabled = True
    window.open_case_now("FUN-L01")
    qtbot.waitUntil(lambda: view.current is not None and view.current.target.image.case_id == "FUN-L01")
    assert view.canvas.tool.name != "sam"  # nothing asked for SAM yet
    qtbot.waitUntil(view.sam.has_embedding, timeout=120000)
    assert service.encoded == [view.sam.sha] and view.sam.prefetch_task is None

    ed = view.current.editor
    gt = next(s for s in ed.shapes if s.label == "retinal whitening").rasterize(ed.height, ed.width)
    iy, ix = np.unravel_index(np.argmax(ndimage.distance_transform_edt(gt)), gt.shape)
    view.set_active_label("retinal whitening")
    view.canvas.panel.graphics.setFocus()
    qtbot.keyClick(view.canvas.panel.graphics, Qt.Key_S)
    assert view.canvas.tool.name == "sam"
    click(view.canvas.panel, ix + 0.5, iy + 0.5)
    qtbot.waitUntil(lambda: view.sam.result is not None, timeout=60000)
    assert service.encoded == [view.sam.sha]  # the click decoded from the prefetched embedding
    m = view.sam.result.mask
    assert (m & gt).sum() / (m | gt).sum() > 0.7
