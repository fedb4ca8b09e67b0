"""Saving labels without dropping what someone else saved meanwhile.

Two windows (or a window and ``labels import``) may edit the labels of one image. Each editor
saves through a guard that remembers what the file held when it was loaded or last written by
this editor (the *base*) and the file's identity (size, mtime, inode: an atomic write always
makes a new inode). When the file on disk is no longer the one we wrote, the save is a
three-way merge instead of an overwrite:

* 2-D labels: the shapes on disk, minus the shapes this editor deleted since its base, plus the
  shapes it added. A shape both sides changed is kept in both versions. Another user's shapes
  are never dropped.
* MRI label volumes: voxels this editor changed since its base take its value; every other
  voxel keeps the value on disk. The legends are united.

The outcome says whether a merge happened, so the window can tell the user to reopen the image
to see the other changes. Saves are serialised across processes by ``W/labels.lock``.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.io.filelock import FileLock
from core.io.labelme import LabelDocument, Shape

if TYPE_CHECKING:
    from core.domain import ImageRecord
    from core.labels.targets import LabelTarget
    from core.workspace.workspace import Workspace

LOCK_NAME = "labels.lock"


@dataclass
class SaveOutcome:
    path: Path
    merged: bool = False
    note: str = ""


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def shape_key(s: Shape) -> str:
    """Identity of a shape's content (masks by a digest of their bits, not their PNG)."""
    mask = None
    if s.mask is not None:
        m = np.asarray(s.mask, bool)
        mask = f"{m.shape}:{hashlib.sha1(np.packbits(m).tobytes()).hexdigest()}"
    obj = [s.label, s.points, s.shape_type, s.group_id, s.description, s.flags, mask, s.extra]
    return json.dumps(obj, sort_keys=True, default=str)


def merge_shapes(base: list[str], ours: list[Shape], theirs: list[Shape]) -> list[Shape]:
    """Theirs, minus what we deleted since ``base`` (keys), plus what we added (multiset diff)."""
    ours_keys = [shape_key(s) for s in ours]
    deleted = Counter(base) - Counter(ours_keys)
    added = Counter(ours_keys) - Counter(base)
    out = []
    for s in theirs:
        k = shape_key(s)
        if deleted[k] > 0:
            deleted[k] -= 1
            continue
        out.append(s)
    for k, s in zip(ours_keys, ours):
        if added[k] > 0:
            added[k] -= 1
            out.append(s)
    return out


def _merge_flags(base: dict, ours: dict, theirs: dict) -> dict:
    out = dict(theirs)
    for k in set(base) | set(ours):
        if k not in ours:
            out.pop(k, None)
        elif base.get(k) != ours[k] or k not in base:
            out[k] = ours[k]
    return out


class LabelSaveGuard:
    """Guarded saves of one 2-D target (an image or a B-scan page)."""

    def __init__(self, ws: Workspace, target: LabelTarget, base: LabelDocument):
        self.ws, self.target = ws, target
        self.path = ws.label_path(target.image, target.page)
        self.lock = FileLock(ws.root / LOCK_NAME, what="label files lock")
        self._base_keys = [shape_key(s) for s in base.shapes]
        self._base_flags = dict(base.flags)
        self._disk_shapes = list(base.shapes)  # what the file holds, as far as we know
        self._disk_flags = dict(base.flags)
        self._disk_matches_base = True
        self._stamp = _stamp(self.path)

    def save(self, doc: LabelDocument, user: str = "system") -> SaveOutcome:
        with self.lock:
            merged = False
            if _stamp(self.path) != self._stamp:  # someone else wrote (or removed) the file
                theirs = self.ws.read_labels(self.target.image, self.target.page)
                self._disk_shapes = list(theirs.shapes) if theirs else []
                self._disk_flags = dict(theirs.flags) if theirs else {}
                self._disk_matches_base = [shape_key(s) for s in self._disk_shapes] == self._base_keys
            out = doc
            if not self._disk_matches_base:
                out = LabelDocument(
                    image_path=doc.image_path,
                    image_height=doc.image_height,
                    image_width=doc.image_width,
                    shapes=merge_shapes(self._base_keys, doc.shapes, self._disk_shapes),
                    flags=_merge_flags(self._base_flags, doc.flags, self._disk_flags),
                    version=doc.version,
                    image_data=doc.image_data,
                    extra=dict(doc.extra),
                )
                merged = True
            path = self.ws.write_labels(self.target.image, out, page=self.target.page, user=user)
            self._stamp = _stamp(self.path)
            # our editor's content is the new base; the file holds ``out`` (differs after a merge)
            self._base_keys = [shape_key(s) for s in doc.shapes]
            self._base_flags = dict(doc.flags)
            self._disk_shapes, self._disk_flags = list(out.shapes), dict(out.flags)
            self._disk_matches_base = not merged
        note = "merged with labels saved elsewhere meanwhile (reopen the image to see them)" if merged else ""
        return SaveOutcome(path, merged, note)


class VolumeSaveGuard:
    """Guarded saves of one MRI label volume (voxel-wise three-way merge)."""

    def __init__(self, ws: Workspace, image: ImageRecord, base_labels: np.ndarray, base_legend: dict[str, int]):
        self.ws, self.image = ws, image
        self.path = ws.label_volume_path(image)
        self.lock = FileLock(ws.root / LOCK_NAME, what="label files lock")
        self._shape = base_labels.shape
        self._base = zlib.compress(np.ascontiguousarray(base_labels, np.uint8).tobytes(), 1)  # mostly zeros: small
        self._stamp = _stamp(self.path)

    def _base_array(self) -> np.ndarray:
        return np.frombuffer(zlib.decompress(self._base), np.uint8).reshape(self._shape)

    def save(self, payload: tuple[np.ndarray, dict[str, int]], user: str = "system") -> SaveOutcome:
        labels, legend = payload
        with self.lock:
            merged = False
            out, out_legend = labels, legend
            if self._stamp is None or _stamp(self.path) != self._stamp:
                stored = self.ws.read_label_volume(self.image)
                if stored is not None and stored[0].shape == labels.shape:
                    theirs, their_legend = stored
                    base = self._base_array()
                    if not np.array_equal(theirs, base):
                        out = np.where(labels != base, labels, theirs).astype(np.uint8)
                        out_legend = {**their_legend, **legend}
                        merged = True
            path = self.ws.write_label_volume(self.image, out, out_legend, user=user)
            # after a merge the file holds more than our editor: read it back at the next save
            self._stamp = None if merged else _stamp(self.path)
            self._shape = labels.shape
            self._base = zlib.compress(np.ascontiguousarray(labels, np.uint8).tobytes(), 1)
        note = "merged with a label volume saved elsewhere meanwhile (reopen the image to see it)" if merged else ""
        return SaveOutcome(path, merged, note)
