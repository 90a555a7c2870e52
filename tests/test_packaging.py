"""Packaging (issue 12): `pip install .` is the library alone; the pipeline is an extra.

The wheel is built for real (setuptools, no network) and its metadata and file list are read back; the
library's entry points are imported in a fresh interpreter to check they load none of dvc, mlflow and
submitit.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from tests.helpers import REPO

PIPELINE_ONLY = ("dvc", "mlflow", "submitit")


def test_wheel_holds_the_library_only_and_the_pipeline_is_an_extra(tmp_path):
    source = tmp_path / "source"  # a copy (building in the checkout would leave build/ behind), with the
    source.mkdir()                 # pipeline, slurm and tests folders beside the library, as in a checkout
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("digan", "pipeline", "slurm", "tests"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("digan-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"digan"}, top
    assert not any("clip_stats" in n or n.startswith("digan/tests") for n in names)
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    assert core and not any(r.startswith(PIPELINE_ONLY) for r in core), core
    pipeline = [r for r in requires if "extra == \"pipeline\"" in r]
    assert sorted(r.split("==")[0] for r in pipeline) == sorted(PIPELINE_ONLY), pipeline
    assert not any(r.startswith("pandas") for r in requires)


def test_library_entry_points_import_without_the_pipeline_packages():
    code = ("import sys, digan.train, digan.generate, digan.metrics.__main__, digan.official, digan.analysis.media; "
            f"print(sorted(m for m in {PIPELINE_ONLY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
