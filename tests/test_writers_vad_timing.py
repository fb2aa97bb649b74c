"""Output formats, silence splitting and word timing, each checked against known answers."""

import re

import numpy as np
import torch

from asr.audio import load_audio
from asr.text import Vocabulary
from asr.timing import align_words
from asr.vad import SpeechSegmenter, VadConfig, split_on_silence
from asr.writers import to_json, to_srt, to_tsv, to_txt, to_vtt, write_result

SRT_BLOCK = re.compile(r"^(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n(.+)\n$")
VTT_CUE = re.compile(r"^(\d\d:\d\d:\d\d\.\d\d\d) --> (\d\d:\d\d:\d\d\.\d\d\d)\n(.+)$")


def seconds(stamp: str) -> float:
    h, m, s = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def half_hour_result() -> dict:
    segments = [{"id": i, "start": 7.5 * i + 0.25, "end": 7.5 * i + 6.0, "text": f"segment number {i}", "words": []}
                for i in range(240)]  # 30 minutes
    return {"text": " ".join(s["text"] for s in segments), "segments": segments}


def test_srt_and_vtt_are_well_formed_for_half_an_hour(tmp_path):
    result = half_hour_result()
    blocks = to_srt(result).split("\n\n")
    assert len(blocks) == 240
    previous_end = 0.0
    for n, block in enumerate(blocks, 1):
        m = SRT_BLOCK.match(block if block.endswith("\n") else block + "\n")
        assert m, block
        start, end = seconds(m.group(2)), seconds(m.group(3))
        assert int(m.group(1)) == n and previous_end <= start < end
        previous_end = end
    assert blocks[-1].startswith("240\n00:29:52,750 --> 00:29:58,500")
    vtt = to_vtt(result)
    assert vtt.startswith("WEBVTT\n\n")
    cues = vtt[len("WEBVTT\n\n"):].strip().split("\n\n")
    assert len(cues) == 240 and all(VTT_CUE.match(c) for c in cues)
    assert to_txt(result).count("\n") == 240
    assert to_tsv(result).splitlines()[1] == "250\t6000\tsegment number 0"
    written = write_result(result, "/some/where/talk.flac", str(tmp_path), ["srt", "vtt", "json", "txt", "tsv"])
    assert sorted(p.rsplit("/", 1)[1] for p in written) == ["talk.json", "talk.srt", "talk.tsv", "talk.txt", "talk.vtt"]
    assert '"segment number 3"' in to_json(result)


def test_silence_splitting_finds_the_utterances(librispeech_sample):
    files = sorted(librispeech_sample.glob("test-clean/*/*/*.flac"))[:5]
    rng = np.random.default_rng(0)
    parts, truth, t = [], [], 0.0
    for f in files:
        x = load_audio(f)
        gap = np.zeros(int(16000 * rng.uniform(1.0, 2.0)), np.float32)
        truth.append((t, t + len(x) / 16000))
        parts += [x, gap]
        t += (len(x) + len(gap)) / 16000
    audio = np.concatenate(parts)
    cfg = VadConfig(max_seconds=12.0)
    segmenter = SpeechSegmenter(16000, cfg)
    segments, longest_buffer = [], 0
    for i in range(0, len(audio), 4321):  # odd block size
        segments += segmenter.feed(audio[i : i + 4321])
        longest_buffer = max(longest_buffer, len(segmenter.buffer))
    segments += segmenter.flush()
    assert longest_buffer < (cfg.max_seconds + 1.0) * 16000  # memory bounded by the segment limit
    for start, samples in segments:
        assert len(samples) <= cfg.max_seconds * 16000 + 1
    # every utterance is covered, no segment straddles a 1-2 s gap
    for a, b in truth:
        inside = [(s, s + len(x) / 16000) for s, x in segments if s < b and s + len(x) / 16000 > a]
        assert inside and inside[0][0] <= a + 0.5 and inside[-1][1] >= b - 0.5
        assert all(s >= a - 0.5 and e <= b + 0.5 for s, e in inside)
    # the 10.4 s utterance fits; nothing is cut into pieces shorter than the minimum
    assert sum(1 for s, x in segments if len(x) > 16000 * cfg.min_segment) == len(segments)
    assert list(split_on_silence([np.zeros(48000, np.float32)])) == []


def test_speech_from_the_first_sample_is_kept(librispeech_sample):
    """The noise floor is learnt from the audio itself; speech that starts at once must not be
    mistaken for the floor (it once dropped the first second of such files)."""
    x = load_audio(sorted(librispeech_sample.glob("test-clean/*/*/*.flac"))[0])
    frames = x[: len(x) // 320 * 320].reshape(-1, 320)
    onset = int(np.argmax(10 * np.log10((frames**2).mean(1) + 1e-10) > -35)) * 320
    audio = np.concatenate([x[onset:], np.zeros(16000, np.float32), x[onset:]])
    segments = list(split_on_silence([audio], 16000, VadConfig(max_seconds=30.0)))
    assert segments[0][0] == 0.0
    assert len(segments[0][1]) >= len(x) - onset - 0.4 * 16000


def test_word_times_from_a_known_alignment():
    vocab = Vocabulary()
    frames, frame_seconds = 40, 0.03
    # "hi" at frames 5-6, silence, "yo" at frames 20-21: build a posteriorgram that says so
    path = [0] * frames
    ids = {c: vocab.encode(c)[0] for c in "hiyo"}
    space = vocab.symbols.index(" ") + 1
    path[5], path[6], path[20], path[21] = ids["h"], ids["i"], ids["y"], ids["o"]
    path[12] = space
    log_probs = torch.full((frames, vocab.size), -20.0)
    for t, k in enumerate(path):
        log_probs[t, k] = 0.0
    log_probs = log_probs.log_softmax(-1)
    words = align_words(log_probs, vocab.encode("hi yo"), vocab.symbols, frame_seconds, offset=100.0)
    assert [w.word for w in words] == ["hi", "yo"]
    assert abs(words[0].start - (100 + 5 * 0.03)) < 1e-6 and abs(words[0].end - (100 + 7 * 0.03)) < 1e-6
    assert abs(words[1].start - (100 + 20 * 0.03)) < 1e-6 and abs(words[1].end - (100 + 22 * 0.03)) < 1e-6
    assert all(w.confidence > 0.99 for w in words)
