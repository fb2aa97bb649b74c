"""Manifests of the shared formats: Opus training audio in the LibriSpeech layout, speed perturbation."""

import json

import numpy as np
import pytest

from asr.data import Utterance, load_corpus, scan_librispeech, speed_perturbed
from asr.errors import DataError
from conftest import shared


def test_scan_reads_opus_in_the_librispeech_layout():
    root = shared("speech", "train", "vctk")
    utts = scan_librispeech(str(root))
    listed = sum(1 for t in root.rglob("*.trans.txt") for line in t.read_text().splitlines() if line.strip())
    assert len(utts) == listed > 500 and all(u.path.endswith(".opus") for u in utts)  # 515 when written
    assert utts[0].text == "please call stella" and utts[0].speaker == "72001"
    samples = utts[0].load(16000)
    assert abs(len(samples) / 16000 - utts[0].duration) < 0.05 and np.abs(samples).max() > 0.01


def test_speed_perturbed_copies_are_faster_or_slower_when_read():
    utt = scan_librispeech(str(shared("speech", "train", "vctk")))[0]
    copies = speed_perturbed([utt], [0.9, 1.0, 1.1])
    assert [c.id for c in copies] == [f"sp0.9-{utt.id}", utt.id, f"sp1.1-{utt.id}"]
    assert copies[1] is utt and copies[0].speaker == f"sp0.9-{utt.speaker}"
    base = len(utt.load(16000))
    for copy in (copies[0], copies[2]):
        n = len(copy.load(16000))
        assert abs(n - base / copy.speed) <= 2
        assert abs(n / 16000 - copy.duration) < 0.05
    with pytest.raises(DataError):
        speed_perturbed([utt], [0.0])


def test_manifest_round_trip_keeps_speed_and_reads_old_lines(tmp_path, fsdd):
    from asr.data import write_manifest

    utts = speed_perturbed(scan_librispeech(str(fsdd / "9002"))[:2], [1.1])
    path = tmp_path / "m.jsonl"
    write_manifest(utts, str(path))
    back = load_corpus(str(path))
    assert [u.speed for u in back] == [1.1, 1.1] and back == utts
    old = {k: v for k, v in json.loads(path.read_text().splitlines()[0]).items() if k != "speed"}
    path.write_text(json.dumps(old) + "\n")  # a manifest written before speed perturbation existed
    assert load_corpus(str(path))[0].speed == 1.0 and isinstance(load_corpus(str(path))[0], Utterance)
