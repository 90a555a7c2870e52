"""The real-layout fixtures (tests/fixtures/): the RAR writer's archives unpack byte-exactly with bsdtar."""
from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import rar

needs_bsdtar = pytest.mark.skipif(shutil.which("bsdtar") is None,
                                  reason="bsdtar not installed (apt-get install libarchive-tools)")


def _file_crcs(archive: bytes) -> dict[str, int]:
    """Name → FILE_CRC of every file header, walking the blocks by HEAD_SIZE and PACK_SIZE (RAR 4 technote)."""
    crcs, pos = {}, len(rar.MARKER)
    while pos < len(archive):
        head_type, flags, size = struct.unpack_from("<BHH", archive, pos + 2)
        pack = struct.unpack_from("<I", archive, pos + 7)[0] if flags & rar.LONG_BLOCK else 0
        if head_type == rar.FILE_HEAD and flags & rar.DIRECTORY != rar.DIRECTORY:
            name_size = struct.unpack_from("<H", archive, pos + 26)[0]
            crcs[archive[pos + 32:pos + 32 + name_size].decode().replace("\\", "/")] = \
                struct.unpack_from("<I", archive, pos + 16)[0]
        pos += size + pack
    return crcs


@needs_bsdtar
def test_rar_archives_unpack_byte_exactly_with_bsdtar(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    files = {"top/a.bin": rng.bytes(70_000), "top/sub/b.avi": rng.bytes(3), "top/sub/empty.txt": b"",
             "top/c d.txt": b"a name with a space\n"}
    members = [("top", None), ("top/sub", None), *files.items()]
    archive = tmp_path / "t.rar"
    rar.write_rar(archive, members, datetime(2013, 1, 2, 3, 4, 6))
    listed = subprocess.run(["bsdtar", "-tf", str(archive)], capture_output=True, text=True, check=True).stdout
    assert listed.splitlines() == [name for name, _ in members]
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["bsdtar", "-xf", str(archive), "-C", str(out)], check=True)
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == files
    assert (out / "top/sub").is_dir()
    assert _file_crcs(archive.read_bytes()) == {name: zlib.crc32(data) for name, data in files.items()}
    # bsdtar checks the header CRCs: a flipped byte in a name is refused, so the CRCs above are right.
    corrupt = bytearray(archive.read_bytes())
    corrupt[corrupt.index(b"b.avi")] ^= 1
    (tmp_path / "bad.rar").write_bytes(corrupt)
    bad = subprocess.run(["bsdtar", "-xf", str(tmp_path / "bad.rar"), "-C", str(out)], capture_output=True, text=True)
    assert bad.returncode != 0 and "CRC" in bad.stderr
