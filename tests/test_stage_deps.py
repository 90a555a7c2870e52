"""Stage dependencies cannot go stale (issue 12): every repository file a stage's code imports is a dep.

For each stage of dvc.yaml whose command is ``python -m <module>``, the import closure of that module
inside the repository (pipeline.closure: imports anywhere in a file, function-local ones included, plus
modules started as child processes with ``python -m <name>``) is computed, and every file of it must be
covered by a dep of the stage: the file itself or a directory above it. A second test edits a
default in digan/config.py in a fresh copy and checks that ``dvc status`` reports the stages that read it.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline.closure import REPO, import_closure, module_file
from tests.helpers import assert_lock_current, fresh_copy, run_dvc


def _stage_modules() -> dict[str, tuple[str, list[str]]]:
    """stage name -> (module its command runs, deps as written in dvc.yaml)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        match = re.match(r"python -m ([\w.]+)", body["cmd"])
        assert match, f"stage {name}: command {body['cmd']!r} is not python -m <module>"
        deps = [next(iter(d)) if isinstance(d, dict) else d for d in body.get("deps", [])]
        out[name] = (match.group(1), deps)
    return out


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps if "${" not in d)


@pytest.mark.parametrize("stage", sorted(_stage_modules()))
def test_stage_lists_every_file_its_code_imports(stage):
    module, deps = _stage_modules()[stage]
    closure = import_closure(module)
    assert module_file(module) in closure
    missing = sorted(p.relative_to(REPO).as_posix() for p in closure if not _covered(p, deps))
    assert not missing, f"dvc.yaml stage {stage} misses deps of python -m {module}: {missing}"


def test_closure_follows_lazy_imports_and_child_processes():
    """The closure is not a toy: pipeline.train launches digan.train as a child process and imports
    submitit's launcher lazily; both must be in it, and a data-only stage must not pull in the model."""
    train = {p.relative_to(REPO).as_posix() for p in import_closure("pipeline.train")}
    assert {"digan/train.py", "pipeline/launch.py", "digan/config.py", "digan/data/clip_store.py",
            "pipeline/params.py", "digan/models/generator.py"} <= train
    synthesize = {p.relative_to(REPO).as_posix() for p in import_closure("pipeline.synthesize")}
    assert "digan/data/synthetic.py" in synthesize
    assert not any(p.startswith(("digan/models/", "digan/training/")) for p in synthesize), sorted(synthesize)


def _changed_stages(status: str) -> set[str]:
    """Stage names from ``dvc status`` ("train@main:" headers of stages with changed deps)."""
    return set(re.findall(r"^(\S+):\s*$", status, flags=re.M))


def test_changing_a_config_default_marks_the_stages_that_read_it(tmp_path):
    clone = fresh_copy(tmp_path / "clone")
    assert_lock_current(clone)
    config = clone / "digan" / "config.py"
    text = config.read_text()
    edited = re.sub(r"(r1_gamma: float = Field\()([0-9.]+)", r"\g<1>2.0", text, count=1)
    assert edited != text, "the r1_gamma default moved; update this test"
    config.write_text(edited)
    changed = _changed_stages(run_dvc(["status"], clone))
    experiments = yaml.safe_load((clone / "params.yaml").read_text())["experiments"]
    assert {f"train@{k}" for k in experiments} <= changed, changed
