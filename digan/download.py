"""Checksummed, resumable, atomic downloads (urllib only) for datasets and pretrained weights.

A file only ever appears at ``dest`` through ``os.replace`` of a complete, fsynced and (when a digest
is known) verified ``<dest>.part``, so readers never see a truncated or unverified-but-wrong file. An
interrupted transfer keeps the ``.part``; the next call resumes it with an HTTP ``Range`` request.
Concurrent callers (e.g. several DDP ranks) serialise on an advisory lock file ``<dest>.lock``.

Trust on first use: files with no published digest are downloaded with ``sha256=None``. That first
download is unverified (a warning says so) and its digest is written to ``<dest>.sha256`` (``sha256sum``
format). From then on the sidecar is the pinned digest: a later corrupted or changed file raises
``ChecksumError`` exactly as a registry digest would. Copy the recorded digest into the caller's
registry to pin it on every machine; delete the sidecar to accept a deliberately changed upstream file.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPResponse
from pathlib import Path

from tqdm import tqdm

from digan.atomic import fsync_dir
from digan.schema import SHA256_HEX

log = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")
_USER_AGENT = "digan-download/1"


class ChecksumError(RuntimeError):
    """Downloaded bytes whose sha256 is not the expected one (the partial file has been deleted)."""


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so multi-GB files need no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: Path, sha256: str | None, *, progress: bool = True, chunk_size: int = 1 << 20,
             timeout: float = 60) -> Path:
    """Make ``dest`` hold the verified content of ``url`` and return it.

    An existing ``dest`` that matches the digest (``sha256``, else the pinned ``<dest>.sha256``) is returned
    without touching the network; one that does not match is deleted and fetched again. ``timeout`` bounds
    connecting and every read. Raises ``ChecksumError`` on a digest mismatch (no file is left at ``dest``
    and the ``.part`` is deleted), ``ConnectionError`` when the server closes the transfer early (the
    ``.part`` is kept for resumption) and ``urllib.error.URLError`` / ``OSError`` for other failures.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if sha256 is not None and not SHA256_HEX.fullmatch(sha256.lower()):
        raise ValueError(f"sha256 for {url} must be 64 hex digits, got {sha256!r}")
    with _locked(dest):
        expected = sha256.lower() if sha256 is not None else _pinned(dest)
        if dest.exists():
            actual = sha256_file(dest)
            if expected is None:
                _pin_unverified(dest, actual)
                return dest
            if actual == expected:
                return dest
            log.warning("%s has sha256 %s, expected %s: deleting it and downloading again", dest, actual, expected)
            dest.unlink()
        part = dest.with_name(dest.name + ".part")
        _fetch(url, part, expected, desc=dest.name, progress=progress, chunk_size=chunk_size, timeout=timeout)
        actual = sha256_file(part)
        if expected is not None and actual != expected:
            part.unlink()
            pinned = "" if sha256 is not None else f" (pinned in {_sidecar(dest)} on first download)"
            raise ChecksumError(f"sha256 mismatch for {url}: expected {expected}{pinned}, got {actual}; "
                                f"deleted {part}")
        os.replace(part, dest)
        fsync_dir(dest.parent)
        if expected is None:
            _pin_unverified(dest, actual)
    return dest


def _fetch(url: str, part: Path, expected: str | None, *, desc: str, progress: bool, chunk_size: int,
           timeout: float) -> None:
    """Complete ``part``: resume it when the server honours ``Range``, otherwise (re)start from zero."""
    offset = part.stat().st_size if part.exists() else 0
    if offset:
        try:
            resp = _open(url, offset, timeout)
        except urllib.error.HTTPError as err:
            if err.code != 416:
                raise
            # Range Not Satisfiable: the part already holds the whole file, or is longer than it.
            with err:
                total = _parse_content_range(err.headers.get("Content-Range"))[1]
            if offset == total or (total is None and expected is not None and sha256_file(part) == expected):
                return
            log.info("%s is not a prefix of %s: downloading from the start", part, url)
        else:
            with resp:
                start, total = _parse_content_range(resp.headers.get("Content-Range"))
                if resp.status == 206 and start == offset:
                    _stream(resp, part, "ab", offset, total, url=url, desc=desc, progress=progress,
                            chunk_size=chunk_size)
                    return
                if resp.status != 206:
                    # The server ignored Range and is sending the whole file: take it from byte zero.
                    log.info("%s ignored the Range request: downloading from the start", url)
                    _stream(resp, part, "wb", 0, _content_length(resp), url=url, desc=desc, progress=progress,
                            chunk_size=chunk_size)
                    return
            log.info("%s answered a different range than bytes=%d-: downloading from the start", url, offset)
        part.unlink()
    with _open(url, 0, timeout) as resp:
        _stream(resp, part, "wb", 0, _content_length(resp), url=url, desc=desc, progress=progress,
                chunk_size=chunk_size)


def _open(url: str, offset: int, timeout: float) -> HTTPResponse:
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _stream(resp: HTTPResponse, part: Path, mode: str, offset: int, total: int | None, *, url: str, desc: str,
            progress: bool, chunk_size: int) -> None:
    """Append the body to ``part`` and fsync it; a body shorter than announced raises (part kept)."""
    received = offset
    with open(part, mode) as f, tqdm(total=total, initial=offset, desc=desc, unit="B", unit_scale=True,
                                     unit_divisor=1024, file=sys.stderr, disable=not progress) as bar:
        while chunk := resp.read(chunk_size):
            f.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
        f.flush()
        os.fsync(f.fileno())
    if total is not None and received != total:
        raise ConnectionError(f"download of {url} stopped after {received} of {total} bytes; "
                              f"{part} is kept and the next call resumes it")


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, complete length) of a ``Content-Range`` header; None where absent or ``*``."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None, None
    start, total = match.groups()
    return (int(start) if start is not None else None), (int(total) if total != "*" else None)


def _content_length(resp: HTTPResponse) -> int | None:
    value = resp.headers.get("Content-Length")
    return int(value) if value is not None else None


def _sidecar(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _pinned(dest: Path) -> str | None:
    """The digest recorded beside ``dest`` on its first (unverified) download, if any."""
    sidecar = _sidecar(dest)
    if not sidecar.exists():
        return None
    fields = sidecar.read_text().split()
    if not fields or not SHA256_HEX.fullmatch(fields[0].lower()):
        raise ValueError(f"{sidecar} does not start with a sha256 hex digest; delete it to re-pin {dest.name}")
    return fields[0].lower()


def _pin_unverified(dest: Path, digest: str) -> None:
    log.warning("%s is unverified: no sha256 is known for it. Recorded its sha256 %s in %s; later calls "
                "verify against it (trust on first use)", dest, digest, _sidecar(dest))
    sidecar = _sidecar(dest)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(f"{digest}  {dest.name}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, sidecar)


@contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock so concurrent callers never append to the same ``.part``."""
    with open(dest.with_name(dest.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
