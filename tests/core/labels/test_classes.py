import pytest

from core.errors import InputError, WorkspaceError
from core.labels.classes import add_class, legend_for, rename_class, set_active_set, workspace_class_set
from core.workspace import Workspace


def test_workspace_adds_and_renames_classes_persistently(small_demo):
    ws = Workspace.open(small_demo)
    base = workspace_class_set(ws, "fundus")
    assert base.name == "fundus" and len(base.classes) == 9
    drusen = add_class(ws, "fundus", "drusen")
    assert drusen.id == 10 and drusen.color.startswith("#")
    with pytest.raises(InputError, match="already exists"):
        add_class(ws, "fundus", "drusen")
    with pytest.raises(InputError, match="empty"):
        add_class(ws, "fundus", "  ")
    # the demo's lesion labels use 'retinal hemorrhage': renaming rewrites the stored files
    fundus = [im for c in ws.cases() for im in c.images if im.modality.value == "fundus"]
    docs = [d for d in (ws.read_labels(im) for im in fundus) if d is not None]
    had = sum(any(s.label == "retinal hemorrhage" for s in d.shapes) for d in docs)
    assert had > 0
    n = rename_class(ws, "fundus", "retinal hemorrhage", "haemorrhage")
    assert n == had
    for im in fundus:
        d = ws.read_labels(im)
        assert d is None or "retinal hemorrhage" not in {s.label for s in d.shapes}
    ws.close()
    ws = Workspace.open(small_demo)  # stored in the workspace, not in memory
    cs = workspace_class_set(ws, "fundus")
    assert cs.by_name("haemorrhage").id == 4 and cs.by_name("drusen").id == 10
    assert cs.by_name("retinal hemorrhage") is None
    rename_class(ws, "fundus", "haemorrhage", "retinal hemorrhage")  # back to the bundled name
    assert workspace_class_set(ws, "fundus").by_name("retinal hemorrhage").id == 4
    # another set for fundus; other modalities untouched
    dr = set_active_set(ws, "fundus", "fundus_dr")
    assert [c.short for c in dr.classes] == ["MA", "HE", "EX", "SE"]
    assert workspace_class_set(ws, "oct").name == "oct"
    with pytest.raises(WorkspaceError):
        set_active_set(ws, "fundus", "oct")
    ws.close()


def test_legend_appends_unknown_labels():
    from core.classes import default_set

    legend = legend_for(default_set("mri"), ["enhancing tumour", "cyst"])
    assert legend["enhancing tumour"] == 3 and legend["cyst"] == 4
