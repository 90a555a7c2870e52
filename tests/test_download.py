"""digan.download against a loopback server: verification, resumption, restarts, trust on first use."""
from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
from pathlib import Path

import pytest

from digan.download import ChecksumError, download, sha256_file
from tests.http_server import FileServer

SIZE = 300_000
CUT = 100_000


@pytest.fixture
def payload(server: FileServer) -> bytes:
    data = os.urandom(SIZE)
    (server.root / "blob.bin").write_bytes(data)
    return data


def _get(server: FileServer, dest: Path, sha: str | None) -> Path:
    return download(server.url("blob.bin"), dest, sha, progress=False, chunk_size=16 * 1024, timeout=5)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_sha256_file_streams(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc" * 1000)
    assert sha256_file(path, chunk_size=7) == _sha(b"abc" * 1000)


def test_full_download_is_verified_and_atomic(server: FileServer, payload: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "blob.bin"
    assert _get(server, dest, _sha(payload)) == dest
    assert dest.read_bytes() == payload
    assert not dest.with_name("blob.bin.part").exists()
    assert not dest.with_name("blob.bin.sha256").exists()  # a known digest needs no sidecar
    assert [r.range for r in server.requests] == [None]


def test_interrupted_download_resumes_from_the_part(server: FileServer, payload: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    part = tmp_path / "blob.bin.part"
    server.drop_after = CUT
    with pytest.raises(ConnectionError, match=f"after {CUT} of {SIZE} bytes"):
        _get(server, dest, _sha(payload))
    assert not dest.exists()
    assert part.stat().st_size == CUT

    server.drop_after = None
    _get(server, dest, _sha(payload))
    assert server.requests[-1].range == f"bytes={CUT}-"
    assert dest.read_bytes() == payload
    assert not part.exists()


def test_interrupted_resume_keeps_growing_the_part(server: FileServer, payload: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    server.drop_after = CUT
    for _ in range(2):
        with pytest.raises(ConnectionError):
            _get(server, dest, None)
    assert (tmp_path / "blob.bin.part").stat().st_size == 2 * CUT
    assert not dest.exists()
    server.drop_after = None
    _get(server, dest, None)
    assert [r.range for r in server.requests] == [None, f"bytes={CUT}-", f"bytes={2 * CUT}-"]
    assert dest.read_bytes() == payload


def test_wrong_checksum_raises_and_leaves_nothing(server: FileServer, payload: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    wrong = _sha(b"something else")
    with pytest.raises(ChecksumError) as info:
        _get(server, dest, wrong)
    message = str(info.value)
    assert server.url("blob.bin") in message and wrong in message and _sha(payload) in message
    assert not dest.exists()
    assert not (tmp_path / "blob.bin.part").exists()


def test_resumed_part_with_wrong_prefix_is_rejected(server: FileServer, payload: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(b"\0" * CUT)  # not a prefix of the file: resume gives bad bytes
    with pytest.raises(ChecksumError):
        _get(server, dest, _sha(payload))
    assert not dest.exists() and not (tmp_path / "blob.bin.part").exists()
    _get(server, dest, _sha(payload))  # and the next attempt starts cleanly
    assert server.requests[-1].range is None
    assert dest.read_bytes() == payload


def test_existing_verified_file_makes_no_request(server: FileServer, payload: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    dest.write_bytes(payload)
    assert _get(server, dest, _sha(payload)) == dest
    assert server.requests == []


def test_existing_corrupt_file_is_replaced(server: FileServer, payload: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"corrupt")
    _get(server, dest, _sha(payload))
    assert dest.read_bytes() == payload


def test_server_ignoring_range_restarts_from_zero(server: FileServer, payload: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(b"\xff" * CUT)  # garbage that a blind append would keep
    server.ignore_range = True
    _get(server, dest, None)  # no digest: only the restart itself can make the bytes right
    assert server.requests[-1].range == f"bytes={CUT}-"
    assert dest.read_bytes() == payload


def test_complete_part_is_finished_after_416(server: FileServer, payload: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(payload)
    _get(server, dest, _sha(payload))
    assert [r.range for r in server.requests] == [f"bytes={SIZE}-"]
    assert dest.read_bytes() == payload


def test_oversized_part_restarts_after_416(server: FileServer, payload: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(payload + b"extra")
    _get(server, dest, None)
    assert [r.range for r in server.requests] == [f"bytes={SIZE + 5}-", None]
    assert dest.read_bytes() == payload


def test_unverified_download_pins_its_digest(server: FileServer, payload: bytes, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    dest = tmp_path / "blob.bin"
    with caplog.at_level(logging.WARNING, logger="digan.download"):
        _get(server, dest, None)
    assert "unverified" in caplog.text
    sidecar = tmp_path / "blob.bin.sha256"
    assert sidecar.read_text() == f"{_sha(payload)}  blob.bin\n"

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="digan.download"):
        _get(server, dest, None)  # verified against the pin now: no request, no warning
    assert len(server.requests) == 1 and caplog.text == ""

    dest.unlink()
    (server.root / "blob.bin").write_bytes(b"changed upstream")
    with pytest.raises(ChecksumError, match="pinned in"):
        _get(server, dest, None)
    assert not dest.exists()


def test_http_errors_propagate(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(urllib.error.HTTPError):
        download(server.url("missing.bin"), tmp_path / "missing.bin", None, progress=False, timeout=5)
    assert not (tmp_path / "missing.bin").exists()


def test_malformed_digest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="64 hex digits"):
        download("http://127.0.0.1:1/x", tmp_path / "x", "abc", progress=False, timeout=1)
