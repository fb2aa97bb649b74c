"""Long-audio benchmark: peak memory and speed of `asr transcribe` on one long file.

Builds a file of --minutes minutes from the utterances of a corpus (LibriSpeech layout or .jsonl
manifest) joined with 0.5-2 s pauses, transcribes it to SRT in a child process and reports the
child's peak resident memory, the real-time factor and the subtitle count; WER against the
joined references is printed beside them for runs of up to 3000 words.

    python recipes/benchmarks/long_audio.py data/synthetic/manifests/test.jsonl --minutes 60
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

from asr.audio import load_audio
from asr.data import load_corpus
from asr.metrics import ErrorCounter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--model", default=None)
    parser.add_argument("--decoder", default="greedy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", default=None, help="keep the long file and outputs in this folder")
    args = parser.parse_args()
    utts = load_corpus(args.corpus)
    rng = np.random.default_rng(args.seed)
    folder = args.keep or tempfile.mkdtemp(prefix="asr-long-")
    os.makedirs(folder, exist_ok=True)
    audio_path = os.path.join(folder, "long.flac")
    target = args.minutes * 60 * 16000
    refs, written = [], 0
    with sf.SoundFile(audio_path, "w", samplerate=16000, channels=1, format="FLAC", subtype="PCM_16") as out:
        while written < target:  # stream the file out: the benchmark itself stays small too
            u = utts[int(rng.integers(len(utts)))]
            x = load_audio(u.path)
            gap = np.zeros(int(16000 * rng.uniform(0.5, 2.0)), np.float32)
            out.write(np.concatenate([x, gap]))
            written += len(x) + len(gap)
            refs.append(u.text)
    cmd = [os.path.join(os.path.dirname(sys.executable), "asr"), "transcribe", audio_path, "-f", "all", "-o", folder,
           "--decoder", args.decoder] + (["--model", args.model] if args.model else [])
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.exit(proc.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    srt = open(os.path.join(folder, "long.srt"), encoding="utf-8").read()
    cues = re.findall(r"^\d+\n\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d\n", srt, flags=re.M)
    wer = None
    if sum(len(r.split()) for r in refs) <= 3000:  # edit distance is quadratic: score short runs only
        counter = ErrorCounter()
        counter.add(" ".join(refs), proc.stdout.strip())
        wer = round(counter.wer, 4)
    seconds = written / 16000
    print(json.dumps({"audio_minutes": round(seconds / 60, 2), "utterances": len(refs), "decoder": args.decoder,
                      "peak_rss_mb": round(peak_mb, 1), "wall_seconds": round(elapsed, 2),
                      "rtf": round(elapsed / seconds, 5), "srt_cues": len(cues), "wer": wer}))


if __name__ == "__main__":
    main()
