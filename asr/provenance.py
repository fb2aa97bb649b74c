"""Where a model came from: the code's git commit, the command that trained it, and a hash of each
training source, recorded in every model file (and printed by the recipes' model cards)."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from typing import Sequence

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", _REPO, *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def source_hash(source: str) -> str:
    """sha256 of a manifest file, or of a LibriSpeech-layout folder's utterance list (id, transcript)."""
    digest = hashlib.sha256()
    if os.path.isfile(source):
        with open(source, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    else:
        from .data import load_corpus

        for utt in sorted(load_corpus(source), key=lambda u: u.id):
            digest.update(f"{utt.id}\t{utt.text}\n".encode())
    return digest.hexdigest()


def provenance(sources: Sequence[str], argv: Sequence[str] | None = None) -> dict:
    """{"git_commit", "git_dirty", "command", "train_data_sha256"}; the commit is null outside a git
    checkout (an installed package), "git_dirty" says whether tracked files differed from it."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "git_commit": commit.strip() if commit else None,
        "git_dirty": bool(status.strip()) if status is not None else None,
        "command": shlex.join([os.path.basename(a) if i == 0 else a for i, a in enumerate(argv or sys.argv)]),
        "train_data_sha256": {s: source_hash(s) for s in sources},
    }
