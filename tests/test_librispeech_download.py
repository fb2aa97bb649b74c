"""LibriSpeech download/extract stage, against a real HTTP server on 127.0.0.1.

The archive is built from the real recordings in ../shared/data/librispeech-sample/test-clean, in
the layout of the official test-clean.tar.gz. The server speaks HTTP Range (206 + Content-Range),
records every request and can drop the connection part-way through its first response.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import re
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from asr.config import load_config
from asr.download import download, extraction_marker, safe_extract, sha256_file
from asr.errors import DownloadError

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "recipes" / "librispeech" / "download.py"


# -- a small test-clean.tar.gz in the official layout ------------------------------------------------

@pytest.fixture(scope="module")
def archive_bytes(librispeech_sample) -> bytes:
    src = librispeech_sample / "test-clean"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        readme = b"LibriSpeech ASR corpus (test fixture built from real recordings)\n"
        info = tarfile.TarInfo("LibriSpeech/README.TXT")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
        for path in sorted(src.rglob("*")):
            if path.suffix in (".flac", ".txt"):
                tar.add(path, arcname=f"LibriSpeech/test-clean/{path.relative_to(src).as_posix()}")
    return buf.getvalue()


# -- the HTTP server -------------------------------------------------------------------------------

class FileServer:
    """Serves `files` ({url path: bytes}) on 127.0.0.1; see the module docstring."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.drop_after: int | None = None  # cut the next response after this many body bytes
        self.ranges = True  # False: ignore Range and always answer 200 with the whole file
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m and server.ranges:
                    start = int(m.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Content-Type", "application/gzip")
                self.end_headers()
                payload = body[start:]
                if server.drop_after is not None:
                    payload, server.drop_after = payload[: server.drop_after], None
                    self.close_connection = True
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(archive_bytes):
    with FileServer({"/test-clean.tar.gz": archive_bytes}) as srv:
        yield srv


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def write_checksums(path: Path, digest: str) -> Path:
    path.write_text(f"# mirror checksums\ntest-clean {digest}\n")
    return path


def sample_ids(librispeech_sample) -> list[str]:
    return sorted(p.stem for p in (librispeech_sample / "test-clean").rglob("*.flac"))


# -- (a) resume after a dropped connection; extraction; the recipe skips finished work ---------------

def test_dropped_download_resumes_with_range_and_extracts(server, archive_bytes, librispeech_sample, tmp_path):
    from asr.data import scan_librispeech

    digest = hashlib.sha256(archive_bytes).hexdigest()
    cut = len(archive_bytes) // 3
    server.drop_after = cut
    dest = tmp_path / "archives" / "test-clean.tar.gz"
    assert download(f"{server.base_url}/test-clean.tar.gz", str(dest), digest, progress=True) == str(dest)

    assert server.requests == [("/test-clean.tar.gz", None), ("/test-clean.tar.gz", f"bytes={cut}-")]
    assert sha256_file(str(dest)) == digest
    assert not os.path.exists(str(dest) + ".part")

    data = tmp_path / "data"
    safe_extract(str(dest), str(data))
    assert (data / "LibriSpeech" / "README.TXT").exists()
    assert os.path.exists(extraction_marker(str(dest), str(data)))
    assert not [p for p in data.iterdir() if p.name.startswith(".extracting-")]  # temporary folder gone
    utts = scan_librispeech(str(data / "LibriSpeech" / "test-clean"))
    assert len(utts) == 8
    assert sorted(u.id for u in utts) == sample_ids(librispeech_sample)
    assert all(u.text and u.duration > 0 for u in utts)

    # A second call finds the verified archive and does not go to the network.
    download(f"{server.base_url}/test-clean.tar.gz", str(dest), digest, progress=False)
    assert len(server.requests) == 2


def test_recipe_script_resumes_then_skips_the_finished_stage(server, archive_bytes, librispeech_sample, tmp_path):
    digest = hashlib.sha256(archive_bytes).hexdigest()
    checksums = write_checksums(tmp_path / "checksums.txt", digest)
    data = tmp_path / "data"
    server.drop_after = 100_000
    args = ["--data-dir", data, "--base-url", server.base_url, "--checksums", checksums, "--no-progress", "test-clean"]

    first = run_script(*args)
    assert first.returncode == 0, first.stderr
    assert [r for _, r in server.requests] == [None, "bytes=100000-"]
    assert sha256_file(str(data / "archives" / "test-clean.tar.gz")) == digest
    flacs = sorted(p.stem for p in (data / "LibriSpeech" / "test-clean").rglob("*.flac"))
    assert flacs == sample_ids(librispeech_sample)

    second = run_script(*args)
    assert second.returncode == 0, second.stderr
    assert len(server.requests) == 2, "the second run must not touch the network"
    assert "skipped" in second.stderr


def test_server_ignoring_range_restarts_from_zero(server, archive_bytes, tmp_path):
    digest = hashlib.sha256(archive_bytes).hexdigest()
    dest = tmp_path / "test-clean.tar.gz"
    Path(str(dest) + ".part").write_bytes(b"stale bytes from another file" * 100)
    server.ranges = False
    download(f"{server.base_url}/test-clean.tar.gz", str(dest), digest, progress=False)
    assert server.requests == [("/test-clean.tar.gz", "bytes=2900-")]  # asked to resume, got a 200
    assert sha256_file(str(dest)) == digest


def test_complete_part_file_is_finished_without_a_body(server, archive_bytes, tmp_path):
    digest = hashlib.sha256(archive_bytes).hexdigest()
    dest = tmp_path / "test-clean.tar.gz"
    Path(str(dest) + ".part").write_bytes(archive_bytes)  # e.g. killed just before the rename
    download(f"{server.base_url}/test-clean.tar.gz", str(dest), digest, progress=False)
    assert server.requests == [("/test-clean.tar.gz", f"bytes={len(archive_bytes)}-")]  # answered 416
    assert sha256_file(str(dest)) == digest and not os.path.exists(str(dest) + ".part")


def test_unreachable_server_and_missing_file_fail_with_one_line(server, tmp_path):
    with pytest.raises(DownloadError) as missing:
        download(f"{server.base_url}/nope.tar.gz", str(tmp_path / "nope.tar.gz"), "0" * 64, progress=False)
    assert "404" in str(missing.value) and "\n" not in str(missing.value)
    assert len(server.requests) == 1  # a 404 is not retried

    port = server.port
    server.httpd.shutdown()
    server.httpd.server_close()  # nothing listens on the port any more
    with pytest.raises(DownloadError) as refused:
        download(f"http://127.0.0.1:{port}/x.tar.gz", str(tmp_path / "x.tar.gz"), "0" * 64, progress=False,
                 retries=1, timeout=2)
    assert "after 1 retries" in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "x.tar.gz").exists()


# -- (b) a corrupted archive is rejected, deleted and never extracted ---------------------------------

def test_corrupted_archive_is_rejected(server, archive_bytes, tmp_path):
    digest = hashlib.sha256(archive_bytes).hexdigest()
    corrupt = bytearray(archive_bytes)
    corrupt[len(corrupt) // 2] ^= 0xFF
    server.files["/test-clean.tar.gz"] = bytes(corrupt)
    actual = hashlib.sha256(corrupt).hexdigest()

    # library
    dest = tmp_path / "lib" / "test-clean.tar.gz"
    with pytest.raises(DownloadError) as err:
        download(f"{server.base_url}/test-clean.tar.gz", str(dest), digest, progress=False)
    message = str(err.value)
    assert "\n" not in message and "checksum" in message
    assert str(dest) in message and digest in message and actual in message
    assert not dest.exists() and not Path(str(dest) + ".part").exists()

    # the recipe script
    data = tmp_path / "data"
    proc = run_script("--data-dir", data, "--base-url", server.base_url,
                      "--checksums", write_checksums(tmp_path / "sums.txt", digest), "--no-progress", "test-clean")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("asr: error: ") and "checksum mismatch" in lines[-1], proc.stderr
    assert [l for l in lines if l.startswith("asr: error")] == [lines[-1]] and "Traceback" not in proc.stderr
    archives = data / "archives"
    assert not (archives / "test-clean.tar.gz").exists() and not (archives / "test-clean.tar.gz.part").exists()
    assert not (data / "LibriSpeech").exists()


# -- (c) unsafe archives are refused before anything is written --------------------------------------

def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"evil\n", linkname: str = ""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _evil_cases(outside: Path) -> dict[str, list]:
    return {
        "dotdot": [_member("LibriSpeech/../../evil.txt")],
        "leading-dotdot": [_member("../evil.txt")],
        "absolute": [_member(str(outside / "evil-abs.txt"))],
        "symlink-out": [_member("LibriSpeech/link", tarfile.SYMTYPE, linkname="../../outside"),
                        _member("LibriSpeech/link/evil.txt")],
        "symlink-absolute": [_member("LibriSpeech/passwd", tarfile.SYMTYPE, linkname=str(outside / "target"))],
        "hardlink-out": [_member("LibriSpeech/hard", tarfile.LNKTYPE, linkname="../outside/target")],
        "device": [_member("LibriSpeech/null", tarfile.CHRTYPE)],
    }


@pytest.mark.parametrize("case", ["dotdot", "leading-dotdot", "absolute", "symlink-out", "symlink-absolute",
                                  "hardlink-out", "device"])
def test_unsafe_archive_is_refused(case, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_text("precious\n")
    archive = tmp_path / f"{case}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        ok, data = _member("LibriSpeech/README.TXT", data=b"harmless, but comes first\n")
        tar.addfile(ok, data)
        for info, fileobj in _evil_cases(outside)[case]:
            tar.addfile(info, fileobj)
    dest = tmp_path / "dest" / "data"
    dest.parent.mkdir()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    with pytest.raises(DownloadError) as err:
        safe_extract(str(archive), str(dest))
    assert "\n" not in str(err.value) and "refusing" in str(err.value)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert (outside / "target").read_text() == "precious\n"
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_safe_symlink_inside_dest_is_allowed_and_truncated_archive_is_an_error(archive_bytes, tmp_path):
    archive = tmp_path / "ok.tar"
    with tarfile.open(archive, "w") as tar:
        info, data = _member("LibriSpeech/a.txt", data=b"a\n")
        tar.addfile(info, data)
        info, _ = _member("LibriSpeech/sub/link", tarfile.SYMTYPE, linkname="../a.txt")
        tar.addfile(info)
    safe_extract(str(archive), str(tmp_path / "out"))
    assert (tmp_path / "out" / "LibriSpeech" / "sub" / "link").read_text() == "a\n"

    truncated = tmp_path / "trunc.tar.gz"
    truncated.write_bytes(archive_bytes[: len(archive_bytes) // 2])
    with pytest.raises(DownloadError) as err:
        safe_extract(str(truncated), str(tmp_path / "t"))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "t" / "LibriSpeech").exists()  # no half extraction in place
    assert not os.path.exists(extraction_marker(str(truncated), str(tmp_path / "t")))


# -- (d) the recipe's training configs --------------------------------------------------------------

@pytest.mark.parametrize("name,layers,hidden", [("train-clean-100", 4, 320), ("train-460", 5, 384),
                                                ("train-960", 5, 512)])
def test_recipe_configs_load(name, layers, hidden):
    from asr.train import TrainConfig

    cfg = load_config(TrainConfig, str(REPO / "recipes" / "librispeech" / "conf" / f"{name}.yaml"))
    assert (cfg.model.num_layers, cfg.model.hidden_size, cfg.features.n_mels) == (layers, hidden, 80)
    assert cfg.out_dir == f"exp/librispeech/{name}"
    assert all(p.startswith("data/librispeech/manifests/") and p.endswith(".jsonl")
               for p in cfg.train_data + cfg.valid_data)
    assert cfg.use_specaugment


# -- (e) the language-model stage: OpenSLR 11's upper-case ARPA, MD5-verified, lower-cased ---------

def _upper_case_arpa(arpa: str) -> str:
    """Our lower-case ARPA written the way OpenSLR 11's models are: words upper case."""
    out = []
    for line in arpa.splitlines(keepends=True):
        fields = line.split("\t")
        if len(fields) >= 2:
            fields[1] = " ".join(w if w in ("<s>", "</s>", "<unk>") else w.upper() for w in fields[1].split(" "))
        out.append("\t".join(fields))
    return "".join(out)


def test_lm_stage_resumes_verifies_md5_and_lowercases(tmp_path):
    import gzip

    from asr.lm import build_lm

    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat\nthe dog sat on the log\na cat and a dog\n")
    build_lm([str(text)], str(tmp_path / "ours.arpa"), order=3)
    ours = (tmp_path / "ours.arpa").read_text()
    upper = _upper_case_arpa(ours)
    assert "CAT" in upper and "\\data\\" in upper and "<s>" in upper
    gz = gzip.compress(upper.encode(), mtime=0)
    name = "3-gram.pruned.1e-7.arpa.gz"
    sums = tmp_path / "sums.txt"
    sums.write_text(f"{name} {hashlib.md5(gz).hexdigest()}\n")
    data = tmp_path / "data"
    cmd = ["bash", "recipes/librispeech/run.sh", "--stage", "5", "--stop-stage", "5", "--data", str(data),
           "--checksums", str(sums)]
    env = dict(os.environ, ASR=str(Path(sys.executable).parent / "asr"))
    with FileServer({f"/{name}": gz}) as srv:
        srv.drop_after = len(gz) // 2
        first = subprocess.run(cmd + ["--lm-base-url", srv.base_url], cwd=REPO, capture_output=True, text=True,
                               timeout=120, env=env)
        assert first.returncode == 0, first.stderr
        assert [r for _, r in srv.requests] == [None, f"bytes={len(gz) // 2}-"]
        lowered = data / "lm" / "3-gram.pruned.1e-7.lower.arpa"
        assert lowered.read_text() == ours  # exactly our model back
        again = subprocess.run(cmd + ["--lm-base-url", srv.base_url], cwd=REPO, capture_output=True, text=True,
                               timeout=120, env=env)
        assert again.returncode == 0 and "skipped" in again.stdout
        assert len(srv.requests) == 2

    # a corrupted download is rejected with one line, and nothing is left to be used
    bad = tmp_path / "bad"
    sums.write_text(f"{name} {hashlib.md5(b'something else').hexdigest()}\n")
    with FileServer({f"/{name}": gz}) as srv:
        failed = subprocess.run(["bash", "recipes/librispeech/run.sh", "--stage", "5", "--stop-stage", "5",
                                 "--data", str(bad), "--checksums", str(sums), "--lm-base-url", srv.base_url],
                                cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert failed.returncode != 0
    errors = [l for l in failed.stderr.splitlines() if l.startswith("asr: error:")]
    assert len(errors) == 1 and "md5" in errors[0] and "Traceback" not in failed.stderr
    assert not list((bad / "lm").glob("*.arpa")) and not (bad / "lm" / name).exists()
