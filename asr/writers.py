"""Output formats for transcripts, named and shaped like whisper's: txt, json, srt, vtt, tsv."""

from __future__ import annotations

import json
import os
from typing import Callable

FORMATS = ("txt", "json", "srt", "vtt", "tsv")


def _timestamp(seconds: float, separator: str, always_hours: bool = True) -> str:
    ms = max(int(round(seconds * 1000)), 0)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    head = f"{hours:02d}:" if always_hours or hours else ""
    return f"{head}{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def to_txt(result: dict) -> str:
    return "".join(seg["text"].strip() + "\n" for seg in result["segments"] if seg["text"].strip())


def to_json(result: dict) -> str:
    return json.dumps(result, ensure_ascii=False, indent=1) + "\n"


def to_srt(result: dict) -> str:
    blocks = []
    for n, seg in enumerate((s for s in result["segments"] if s["text"].strip()), 1):
        blocks.append(f"{n}\n{_timestamp(seg['start'], ',')} --> {_timestamp(seg['end'], ',')}\n{seg['text'].strip()}\n")
    return "\n".join(blocks)


def to_vtt(result: dict) -> str:
    lines = ["WEBVTT", ""]
    for seg in result["segments"]:
        if seg["text"].strip():
            lines += [f"{_timestamp(seg['start'], '.')} --> {_timestamp(seg['end'], '.')}", seg["text"].strip(), ""]
    return "\n".join(lines)


def to_tsv(result: dict) -> str:
    rows = ["start\tend\ttext"]
    for seg in result["segments"]:
        if seg["text"].strip():
            rows.append(f"{int(round(seg['start'] * 1000))}\t{int(round(seg['end'] * 1000))}\t{seg['text'].strip()}")
    return "\n".join(rows) + "\n"


WRITERS: dict[str, Callable[[dict], str]] = {"txt": to_txt, "json": to_json, "srt": to_srt, "vtt": to_vtt, "tsv": to_tsv}


def output_path(audio_path: str, output_dir: str, fmt: str) -> str:
    """whisper's naming: OUTPUT_DIR/<audio file name without extension>.<fmt>."""
    stem = "stdin" if audio_path == "-" else os.path.splitext(os.path.basename(audio_path))[0]
    return os.path.join(output_dir, f"{stem}.{fmt}")


def write_result(result: dict, audio_path: str, output_dir: str, formats: list[str]) -> list[str]:
    """Write `result` in each format (atomically); returns the paths written."""
    os.makedirs(output_dir, exist_ok=True)
    written = []
    for fmt in formats:
        path = output_path(audio_path, output_dir, fmt)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(WRITERS[fmt](result))
        os.replace(tmp, path)
        written.append(path)
    return written
