"""Stage ``download@dataset``: make ``data/raw/<dataset>/`` hold the dataset's raw layout (``digan.data.real``).

``python -m pipeline.download <dataset> [--params params.yaml] [--out data/raw]``

Either downloads the dataset's archives (resumable, sha256-verified, atomic: ``digan.download``) into a
cache beside the outputs (``<out>/.downloads/<dataset>/``, kept so a re-run or a changed source needs no
network) and unpacks them, or links the directories of a ``local_dir`` the user already has; the official
metadata files are fetched unless the local directory holds them. A layout check then writes
``report.json`` (counts, every missing item) and fails if an essential part is missing. ``.complete.json``
is written last, atomically: while it matches the source in params, a re-run does nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from digan.atomic import atomic_write
from digan.config import ConfigError
from digan.data.real import DATASETS, SPECS
from digan.data.real.layout_report import LayoutReport
from digan.data.real.spec import DatasetSource, RawLayout, RemoteFile
from digan.data.sources import check_obtainable, load_sources, require_available
from digan.download import ChecksumError, download

COMPLETE = ".complete.json"
REPORT = "report.json"
SHOW = 10  # missing items printed; report.json lists all of them

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
RAR_INSTALL_HINT = ("RAR archives need bsdtar (libarchive) or unar on PATH. Install one: Debian/Ubuntu "
                    "'sudo apt-get install libarchive-tools' (or 'sudo apt-get install unar'); Fedora "
                    "'sudo dnf install bsdtar'; conda 'conda install -c conda-forge libarchive'; macOS ships bsdtar")


class StageError(RuntimeError):
    """The stage cannot finish; the message says what is missing or wrong."""


# --------------------------------------------------------------------------------------------- fetching


def _cached_digest(dest: Path, sha256: str | None) -> str:
    """The verified digest of a cached download: the published one, else the one ``digan.download``
    recorded in ``<dest>.sha256`` on first download (trust on first use)."""
    if sha256 is not None:
        return sha256
    return dest.with_name(dest.name + ".sha256").read_text().split()[0]


def fetch(remote: RemoteFile, cache: Path, raw_dir: Path, layout: RawLayout) -> dict[str, Any]:
    """Download ``remote`` into ``cache`` and install it under ``raw_dir``; return what was fetched."""
    dest = cache / remote.name
    try:
        download(remote.url, dest, remote.sha256)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        raise StageError(f"could not fetch {remote.url}: {err}. A partial file is kept as {dest}.part and the "
                         f"next run resumes it") from err
    if remote.extract_to is None:
        target = raw_dir / remote.name
        with open(dest, "rb") as src, atomic_write(target) as dst:
            shutil.copyfileobj(src, dst)
    else:
        unpack(dest, raw_dir, remote.extract_to, layout)
    return {"url": remote.url, "name": remote.name, "sha256": _cached_digest(dest, remote.sha256),
            "extract_to": remote.extract_to}


# ------------------------------------------------------------------------------------------- unpacking


def _inside(root: Path, member: str, archive: Path) -> None:
    """Refuse an archive member that would land outside ``root`` (absolute path or '..')."""
    target = (root / member).resolve()
    if not target.is_relative_to(root.resolve()):
        raise StageError(f"{archive.name}: member {member!r} would be written outside {root}; refusing the archive")


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for m in members:
            _inside(dest, m.filename, archive)
        for m in tqdm(members, desc=f"unpack {archive.name}", unit="file", file=sys.stderr):
            zf.extract(m, dest)


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            _inside(dest, m.name, archive)
        for m in tqdm(members, desc=f"unpack {archive.name}", unit="file", file=sys.stderr):
            tf.extract(m, dest, filter="data")  # also refuses links that point outside dest


def rar_command(archive: Path, dest: Path) -> list[str]:
    """The command that unpacks a RAR archive into ``dest`` with whichever supported tool is on PATH."""
    if shutil.which("bsdtar"):
        return ["bsdtar", "-x", "-f", str(archive), "-C", str(dest)]
    if shutil.which("unar"):
        return ["unar", "-q", "-f", "-D", "-o", str(dest), str(archive)]
    raise StageError(f"cannot unpack {archive.name}: {RAR_INSTALL_HINT}")


def _extract_rar(archive: Path, dest: Path) -> None:
    cmd = rar_command(archive, dest)
    print(f"unpacking {archive.name} ({archive.stat().st_size / 2**30:.1f} GiB) with {cmd[0]}; this can take "
          f"several minutes", file=sys.stderr)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StageError(f"{cmd[0]} failed on {archive} (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    for path in dest.rglob("*"):  # both tools refuse '..'; also refuse links leading out of dest
        if path.is_symlink() and not path.resolve().is_relative_to(dest.resolve()):
            raise StageError(f"{archive.name}: {path.relative_to(dest)} links outside the archive; refusing it")


def _extractor(archive: Path) -> Callable[[Path, Path], None]:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return _extract_zip
    if name.endswith(_TAR_SUFFIXES):
        return _extract_tar
    if name.endswith(".rar"):
        return _extract_rar
    raise StageError(f"cannot tell the archive type of {archive.name} from its name; name it *.zip, *.rar "
                     f"or one of {', '.join('*' + s for s in _TAR_SUFFIXES)}")


def _remove(path: Path) -> None:
    """Delete what the stage itself put at ``path`` (a link is removed, never followed)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _find(root: Path, name: str, depth: int = 3) -> Path | None:
    """The shallowest entry called ``name`` under ``root`` (archives often wrap their content in a folder)."""
    level = [root]
    for _ in range(depth):
        for d in level:
            if (d / name).exists():
                return d / name
        level = sorted(p for d in level for p in d.iterdir() if p.is_dir() and not p.is_symlink())
    return None


def unpack(archive: Path, raw_dir: Path, extract_to: str, layout: RawLayout) -> None:
    """Unpack into a staging folder, then move into place: for ``extract_to="."`` every raw-layout entry
    the archive holds (at any depth up to 3, so a wrapper folder is fine); otherwise its whole content
    becomes ``raw_dir/extract_to``."""
    extract = _extractor(archive)
    staging = raw_dir / ".staging" / archive.name
    _remove(staging)
    staging.mkdir(parents=True)
    extract(archive, staging)
    if extract_to != ".":
        target = raw_dir / extract_to
        _remove(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, target)
        return
    moved = []
    for name in layout.top_level():
        for candidate in (name, *layout.aliases.get(name, ())):
            found = _find(staging, candidate)
            if found is not None:
                _remove(raw_dir / name)
                os.replace(found, raw_dir / name)
                moved.append(name)
                break
    if not moved:
        top = sorted(p.name for p in staging.iterdir())
        raise StageError(f"{archive.name} holds none of {', '.join(layout.top_level())}; its top level holds "
                         f"{top[:SHOW]}")
    _remove(staging)


# ----------------------------------------------------------------------------------------- local_dir


def _link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` (replacing an earlier link atomically; never a real directory)."""
    if link.exists() and not link.is_symlink() and link.is_dir():
        raise StageError(f"{link} is a directory from an earlier download; remove it to use local_dir instead")
    tmp = link.with_name(f".{link.name}.link.tmp")
    _remove(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def link_local(source: DatasetSource, raw_dir: Path) -> bool:
    """Link the layout's directories (and metadata found there) from ``source.local_dir`` into
    ``raw_dir``; return whether the local directory supplied every metadata file."""
    layout = SPECS[source.name].layout
    local = Path(source.local_dir).expanduser().resolve()  # type: ignore[arg-type] (callers check it)
    if not local.is_dir():
        raise StageError(f"datasets.{source.name}.local_dir: {local} is not a directory")
    absent = []
    for name in layout.dirs:
        candidates = [local / n for n in (name, *layout.aliases.get(name, ()))]
        found = next((c for c in candidates if c.is_dir()), None)
        if found is None and len(layout.dirs) == 1:
            found = local  # local_dir is that directory itself (e.g. the folder of TaiChi videos)
        if found is None:
            absent.append(f"{name}/ (looked for {' or '.join(str(c) for c in candidates)})")
        else:
            _link(raw_dir / name, found)
    if absent:
        raise StageError(f"datasets.{source.name}.local_dir {local} lacks {'; '.join(absent)}")
    supplied = True
    for head in layout.top_level()[len(layout.dirs):]:
        paths = [m for m in layout.metadata if m.split("/")[0] == head]
        if all((local / m).is_file() for m in paths):
            _link(raw_dir / head, local / head)
        else:
            supplied = False
    return supplied


# ------------------------------------------------------------------------------------ layout checks


def check_layout(dataset: str, raw_dir: Path) -> LayoutReport:
    """Run the dataset's layout check and write ``report.json``."""
    report = LayoutReport(dataset, raw_dir)
    SPECS[dataset].check(report)
    with atomic_write(raw_dir / REPORT) as f:
        f.write(json.dumps(report.to_dict(), indent=2).encode())
    return report


def _summarise(report: LayoutReport) -> None:
    for key, items in report.missing.items():
        if items:
            shown = ", ".join(items[:SHOW]) + (", …" if len(items) > SHOW else "")
            print(f"{report.dataset}: {len(items)} {key} missing: {shown} (full list: {report.raw_dir / REPORT}, "
                  f"missing.{key})", file=sys.stderr)
    for line in SPECS[report.dataset].summary(report):
        print(line, file=sys.stderr)


# ---------------------------------------------------------------------------------------------- stage


def _as_json(source: DatasetSource) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(source)))


def run(source: DatasetSource, out: Path, downloads: Path) -> LayoutReport | None:
    """Fetch or link ``source`` into ``out/<name>``; None when it was already complete."""
    raw_dir = out / source.name
    complete = raw_dir / COMPLETE
    if complete.is_file() and json.loads(complete.read_text()).get("source") == _as_json(source):
        print(f"{source.name}: {raw_dir} is complete ({COMPLETE} matches the source in params); nothing to do",
              file=sys.stderr)
        return None
    check_obtainable(source)
    raw_dir.mkdir(parents=True, exist_ok=True)
    complete.unlink(missing_ok=True)
    layout = SPECS[source.name].layout
    cache = downloads / source.name
    fetched = []
    if source.local_dir is not None:
        pending = [] if link_local(source, raw_dir) else list(source.metadata)
    else:
        for name in layout.top_level():  # links from an earlier local_dir run: never unpack into the user's folders
            if (raw_dir / name).is_symlink():
                (raw_dir / name).unlink()
        pending = [*source.files, *source.metadata]
    for i, remote in enumerate(pending, 1):
        print(f"{source.name}: [{i}/{len(pending)}] {remote.url}", file=sys.stderr)
        fetched.append(fetch(remote, cache, raw_dir, layout))
    _remove(raw_dir / ".staging")
    report = check_layout(source.name, raw_dir)
    _summarise(report)
    if report.problems:
        raise StageError(f"{source.name}: essential parts are missing (see {raw_dir / REPORT}):\n  - "
                         + "\n  - ".join(report.problems))
    record = {"dataset": source.name, "source": _as_json(source), "fetched": fetched,
              "local_dir": str(Path(source.local_dir).expanduser().resolve()) if source.local_dir else None,
              "report": REPORT}
    with atomic_write(complete) as f:
        f.write(json.dumps(record, indent=2).encode())
    return report


def read_params(path: Path) -> dict[str, Any]:
    """params.yaml as a mapping; an absent file means every dataset takes its default source."""
    if not path.is_file():
        print(f"{path} not found: using the default dataset sources", file=sys.stderr)
        return {}
    return yaml.safe_load(path.read_text()) or {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.download", description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data/raw"))
    parser.add_argument("--downloads", type=Path, default=None,
                        help="download cache (default: <out>/.downloads); kept so re-runs need no network")
    args = parser.parse_args(argv)
    try:
        params = read_params(args.params)
        sources = load_sources(params)
        require_available(sources, list(dict.fromkeys([*(params.get("download") or []), args.dataset])))
        source = sources[args.dataset]
        run(source, args.out, args.downloads or args.out / ".downloads")
    except (ConfigError, StageError, ChecksumError) as err:
        print(f"download {args.dataset}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
