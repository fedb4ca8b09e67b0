import json

import pytest

from core.classes import default_set, load_catalog
from core.errors import InputError


def test_catalog_has_the_design_classes():
    sets, defaults = load_catalog()
    assert [c.name for c in sets["fundus"].classes][:2] == ["retinal whitening", "cherry-red spot"]
    assert len(sets["fundus"].classes) == 9 and len(sets["oct"].classes) == 8
    assert [c.short for c in sets["fundus_dr"].classes] == ["MA", "HE", "EX", "SE"]
    assert default_set("mri").ids() == {"necrotic / non-enhancing tumour core": 1, "peritumoural edema": 2, "enhancing tumour": 3}
    for s in sets.values():
        ids = [c.id for c in s.classes]
        assert len(set(ids)) == len(ids) and min(ids) == 1
        for c in s.classes:
            assert len(c.rgb()) == 3


def test_workspace_classes_extend_a_set():
    s = default_set("oct", {"oct": [{"name": "drusen", "color": "#123456"}, {"name": "subretinal fluid"}]})
    assert s.by_name("drusen").id == 9 and len(s.classes) == 9


def test_broken_catalog_names_the_file(tmp_path):
    bad = tmp_path / "c.json"
    bad.write_text("{oops")
    with pytest.raises(InputError, match="c.json"):
        load_catalog(bad)
    bad.write_text(json.dumps({"sets": {"x": {"modality": "fundus", "classes": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}}}))
    with pytest.raises(InputError, match="duplicate"):
        load_catalog(bad)
