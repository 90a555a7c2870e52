"""What a stage's code is made of: the repository files a module loads, found from the source.

Imports anywhere in a file count (function-local ones too), and so do modules started as child processes
(a string constant naming a repository module, as in ``[sys.executable, "-m", "digan.train"]``).
tests/test_stage_deps.py checks dvc.yaml's deps against these closures, and the train stage fingerprints
the training code with them, so that a changed file cannot leave a finished run looking current.
"""
from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("digan", "pipeline", "slurm")
_MODULE_STRING = re.compile(r"(digan|pipeline|slurm)(\.\w+)+")


def module_file(name: str, root: Path = REPO) -> Path | None:
    """The file of a dotted module name under ``root`` (a module or a package's __init__), if any."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, root: Path = REPO) -> set[str]:
    """Dotted repository names a file imports (``from a import b`` gives a and a.b) or runs with -m."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = _module_name(path, root)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                module = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_STRING.fullmatch(node.value):
            names.add(node.value)
    return {n for n in names if n.split(".")[0] in PACKAGES}


def import_closure(module: str, root: Path = REPO) -> set[Path]:
    """Every repository file loaded when ``module`` runs, parent packages' __init__ files included."""
    todo, seen, files = [module], set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:i]), root)
            if path is not None and path not in files:
                files.add(path)
                todo.extend(imported_names(path, root))
    return files


def fingerprint(files: Iterable[Path], root: Path = REPO) -> str:
    """sha256 over the relative paths and contents of ``files``, in a fixed order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()
