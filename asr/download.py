"""Corpus downloads: resumable HTTP downloads with SHA-256 checks, and safe tar extraction.

`download()` writes to DEST.part, resumes with an HTTP Range request after a dropped connection
(or in a later run) and renames to DEST only once the checksum matches, so DEST is always a
complete, verified file. `safe_extract()` refuses archives with members that would land outside
the destination, extracts into a temporary folder inside it and only then moves the files into
place, leaving a marker so a finished extraction is skipped next time.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib

from . import __version__
from .errors import DownloadError

CHUNK = 1 << 16
# HTTP statuses worth retrying; any other error status fails at once (404, 403, ...).
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


# Published checksums come as SHA-256 (LibriSpeech audio) or MD5 (OpenSLR's older resources);
# the length of the hex digest says which.
_ALGORITHM_BY_LENGTH = {64: "sha256", 32: "md5"}


def checksum_algorithm(digest: str) -> str:
    """'sha256' or 'md5', from the length of a hex digest; anything else is a DownloadError."""
    algorithm = _ALGORITHM_BY_LENGTH.get(len(digest))
    if algorithm is None or any(c not in "0123456789abcdefABCDEF" for c in digest):
        raise DownloadError(f"not a SHA-256 or MD5 hex digest: {digest!r}")
    return algorithm


def file_digest(path: str, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_file(path: str) -> str:
    return file_digest(path, "sha256")


class _Dropped(Exception):
    """The connection failed or ended before the whole body arrived (worth a retry)."""


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """'bytes START-END/TOTAL' (or 'bytes */TOTAL') -> (START, TOTAL); None where absent or '*'."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _fetch(url: str, part: str, timeout: float, progress: bool, desc: str) -> bool:
    """One attempt: append to (or restart) `part` from the server. True when the body is complete.

    Raises _Dropped for errors worth retrying, DownloadError for the others.
    """
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"asr/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # The server has nothing after byte `have`: the .part file is already whole (or too long).
            _, total = _content_range(exc.headers.get("Content-Range"))
            if total == have:
                return True
            os.remove(part)
            raise _Dropped(f"HTTP 416 for a .part file of {have} bytes; starting again") from None
        if exc.code in RETRY_STATUSES:
            raise _Dropped(f"HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Dropped(_describe(exc)) from None
    with response:
        status = getattr(response, "status", None) or 200
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if have and status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != have:  # not the range asked for: the bytes cannot be appended
                os.remove(part)
                raise _Dropped(f"server answered a range from byte {start} instead of {have}; starting again")
            mode = "ab"
        else:  # 200: the server ignored the Range header and sends the whole file
            have, mode = 0, "wb"
            total = length
        expected = have + length if length is not None else total
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=expected, initial=have, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                       dynamic_ncols=True, leave=False, file=sys.stderr)
        received = have
        try:
            with open(part, mode) as fh:
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise _Dropped(_describe(exc)) from None
                    if not block:
                        break
                    try:
                        fh.write(block)
                    except OSError as exc:
                        raise DownloadError(f"{part}: cannot write ({exc.strerror or exc})") from None
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    if expected is not None and received < expected:
        raise _Dropped(f"connection closed after {received} of {expected} bytes")
    return True


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc) or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


def download(url: str, dest: str, checksum: str | None, progress: bool = True, retries: int = 5,
             timeout: float = 30) -> str:
    """Download `url` to `dest` (resumable, checksum-verified) and return `dest`.

    Bytes go to DEST.part; a dropped connection, or a .part left by an earlier run, is resumed
    with an HTTP Range request (a server that answers 200 instead of 206 is read from the start).
    `retries` failed attempts in a row (attempts that receive data do not count) end in a
    DownloadError. `checksum` is a SHA-256 or MD5 hex digest; a mismatch deletes the .part file
    and raises DownloadError; only a verified file is renamed to `dest`. An existing `dest` whose
    checksum matches is kept as is (with `checksum=None`, any existing `dest` is kept and nothing
    is verified).
    """
    want = checksum.lower() if checksum else None
    algorithm = checksum_algorithm(want) if want else "sha256"
    if os.path.exists(dest) and (want is None or file_digest(dest, algorithm) == want):
        return dest
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = dest + ".part"
    desc = os.path.basename(dest)
    failures = 0
    while True:
        before = os.path.getsize(part) if os.path.exists(part) else 0
        try:
            _fetch(url, part, timeout, progress, desc)
            break
        except _Dropped as exc:
            after = os.path.getsize(part) if os.path.exists(part) else 0
            failures = 0 if after > before else failures + 1
            if failures > retries:
                raise DownloadError(f"{url}: download failed after {retries} retries ({exc})") from None
            if progress:
                print(f"{desc}: {exc}; retrying from byte {after}", file=sys.stderr)
            time.sleep(min(0.5 * 2 ** max(failures - 1, 0), 30.0) if failures else 0.2)
    if want is not None:
        actual = file_digest(part, algorithm)
        if actual != want:
            os.remove(part)
            raise DownloadError(
                f"{dest}: checksum mismatch (expected {algorithm} {want}, got {actual}); the download was deleted"
            )
    os.replace(part, dest)
    return dest


def _archive_name(archive: str) -> str:
    return os.path.basename(archive)


def extraction_marker(archive: str, dest: str) -> str:
    """The file whose presence says `archive` was completely extracted into `dest`."""
    return os.path.join(dest, f".extracted-{_archive_name(archive)}")


def _check_member(archive: str, member: tarfile.TarInfo) -> None:
    name = member.name

    def refuse(why: str) -> None:
        raise DownloadError(f"{archive}: refusing to extract {name!r}: {why}; nothing was extracted")

    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or os.path.isabs(name) or re.match(r"^[A-Za-z]:", name):
        refuse("absolute path")
    if ".." in parts:
        refuse("'..' in the path")
    if member.issym():
        target = member.linkname
        if target.startswith(("/", "\\")) or os.path.isabs(target):
            refuse(f"symlink to the absolute path {target!r}")
        resolved = os.path.normpath(os.path.join(os.path.dirname(name), target))
        if resolved == ".." or resolved.startswith(".." + os.sep) or os.path.isabs(resolved):
            refuse(f"symlink to {target!r} outside the destination")
    elif member.islnk():
        target = member.linkname
        resolved = os.path.normpath(target)
        if (target.startswith(("/", "\\")) or os.path.isabs(target) or resolved == ".."
                or resolved.startswith(".." + os.sep)):
            refuse(f"hard link to {target!r} outside the destination")
    elif member.ischr() or member.isblk():
        refuse("device file")
    elif member.isfifo():
        refuse("FIFO")
    elif not (member.isreg() or member.isdir()):
        refuse("unsupported member type")


def _merge(src: str, dst: str) -> None:
    """Move the tree `src` into `dst` (same file system), merging folders and replacing files."""
    for entry in sorted(os.listdir(src)):
        s, d = os.path.join(src, entry), os.path.join(dst, entry)
        if os.path.isdir(s) and not os.path.islink(s) and os.path.isdir(d) and not os.path.islink(d):
            _merge(s, d)
        elif os.path.isdir(d) and not os.path.islink(d):
            raise DownloadError(f"{d}: a folder is in the way of a file from the archive")
        else:
            os.replace(s, d)


def safe_extract(archive: str, dest: str) -> None:
    """Extract a .tar, .tar.gz or .tgz `archive` into `dest`, safely and all-or-nothing.

    Every member is checked first; absolute paths, '..' components, links pointing outside
    `dest`, device files and FIFOs raise DownloadError before anything is written. Extraction
    (tarfile filter "data") goes to a temporary folder inside `dest`, whose contents are then
    moved into place; `dest/.extracted-<archive name>` is written last, and its presence makes
    later calls return at once.
    """
    marker = extraction_marker(archive, dest)
    if os.path.exists(marker):
        return
    if not os.path.isfile(archive):
        raise DownloadError(f"{archive}: no such archive")
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(archive, member)
            os.makedirs(dest, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=f".extracting-{_archive_name(archive)}-", dir=dest)
            try:
                tar.extractall(tmp, members=members, filter="data")
                _merge(tmp, dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except DownloadError:
        raise
    except tarfile.FilterError as exc:
        raise DownloadError(f"{archive}: refusing to extract: {exc}") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:  # truncated, not a tar, bad gzip, disk full
        text = (str(exc) or type(exc).__name__).splitlines()[0]
        raise DownloadError(f"{archive}: cannot extract ({text})") from None
    tmp_marker = marker + ".tmp"
    with open(tmp_marker, "w", encoding="utf-8") as fh:
        fh.write(f"{os.path.abspath(archive)}\t{len(members)} members\n")
    os.replace(tmp_marker, marker)
