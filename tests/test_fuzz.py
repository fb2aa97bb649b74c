"""Fuzzing with a seeded generator: malformed audio in every format soundfile writes, damaged model
files, configs, manifests and language models. Every case must end in a result or in one AsrError
line (what the CLI prints as `asr: error: ...`): never another exception, never a hang.

The library is called in-process (fast); test_robustness.py checks the CLI's one-line contract in
real processes. A case that fails is named by its test, its input and its mutation, so that it can
be replayed: every mutation is drawn from random.Random(SEED)."""

from __future__ import annotations

import io
import json
import random
import shutil
import signal
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pytest
import soundfile as sf

from asr.errors import AsrError

SEED = 13
CASE_SECONDS = 20  # a case running longer counts as a hang
pytestmark = pytest.mark.usefixtures("one_thread")

# (container, encoding): every format `asr` is expected to read that soundfile can write
AUDIO_FORMATS = [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"), ("OGG", "VORBIS"),
                 ("OGG", "OPUS"), ("AIFF", "PCM_16"), ("AU", "PCM_16"), ("W64", "PCM_16"), ("MP3", "MPEG_LAYER_III")]


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def alarm(signum, frame):  # noqa: ARG001
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def fuzz(cases: Iterable[tuple[str, Callable[[], object]]]) -> int:
    """Run every (name, case); fail listing each case that raised anything but a one-line AsrError, or
    that made Python print an ignored exception (as an exception in a C callback does)."""
    failures, count, slowest = [], 0, (0.0, "")
    name = ""

    def ignored(info):
        failures.append(f"{name}: exception printed and ignored: {info.exc_type.__name__}: {info.exc_value}")

    previous_hook, sys.unraisablehook = sys.unraisablehook, ignored
    try:
        for name, case in cases:
            count += 1
            start = time.perf_counter()
            try:
                with time_limit(CASE_SECONDS):
                    case()
            except AsrError as exc:
                if "\n" in str(exc) or not str(exc).strip():
                    failures.append(f"{name}: error message is not one line: {str(exc)!r}")
            except Exception:  # noqa: BLE001 - any other exception is what the fuzzer looks for
                failures.append(f"{name}: {traceback.format_exc(limit=-3)}")
            slowest = max(slowest, (time.perf_counter() - start, name))
    finally:
        sys.unraisablehook = previous_hook
    assert not failures, f"{len(failures)} of {count} cases failed:\n" + "\n".join(failures[:10])
    print(f"{count} cases; slowest {slowest[0]:.2f} s: {slowest[1]}")
    return count


# -- mutations ------------------------------------------------------------------------------------------
def truncations(data: bytes, rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    """Cuts inside the header (where parsers are most fragile) and anywhere in the body."""
    offsets = {0, 1, 4, 8, 12, 16, 24, 32, 40, 44, 48, 64, 100, 200, 300, len(data) - 1}
    offsets |= {rng.randrange(len(data)) for _ in range(count - len(offsets))}
    for n in sorted(o for o in offsets if 0 <= o < len(data)):
        yield f"cut at {n} of {len(data)} bytes", data[:n]


def byte_flips(data: bytes, rng: random.Random, count: int, start: int = 0, end: int | None = None
               ) -> Iterator[tuple[str, bytes]]:
    end = len(data) if end is None else end
    for _ in range(count):
        out = bytearray(data)
        where = sorted(rng.randrange(start, end) for _ in range(rng.choice((1, 1, 2, 8))))
        for i in where:
            out[i] ^= 1 << rng.randrange(8)
        yield f"bits flipped at {where}", bytes(out)


def smashed_headers(data: bytes, rng: random.Random, count: int, header: int = 64) -> Iterator[tuple[str, bytes]]:
    """Header fields (sizes, rates, channel counts) overwritten with extreme values."""
    for _ in range(count):
        out = bytearray(data)
        at = rng.randrange(min(header, len(data) - 4))
        value = rng.choice([b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x01\x00\x00\x00",
                            b"\x00\x00\x00\x01", bytes(rng.randrange(256) for _ in range(4))])
        out[at : at + 4] = value
        yield f"bytes {at}..{at + 3} set to {value.hex()}", bytes(out)


# -- audio ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def recognizer(random_model):
    from asr.transcribe import load_model

    return load_model(str(random_model))


@pytest.fixture(scope="module")
def speech(fsdd) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(fsdd / "9001" / "1" / "9001-1-0003.flac", dtype="float32")
    return samples, rate


def encode(samples: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes | None:
    """The file soundfile writes, or None when the format cannot hold this rate or channel count."""
    buf = io.BytesIO()
    try:
        sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError):
        return None
    return buf.getvalue()


def audio_cases(speech, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    samples, rate = speech
    for fmt, subtype in AUDIO_FORMATS:
        kind = f"{fmt}/{subtype}"
        whole = encode(samples, rate, fmt, subtype)
        assert whole, f"soundfile cannot write {kind}"
        yield from ((f"{kind} {what}", data) for what, data in truncations(whole, rng, 60))
        yield from ((f"{kind} {what}", data) for what, data in byte_flips(whole, rng, 40))
        yield from ((f"{kind} {what}", data) for what, data in smashed_headers(whole, rng, 60))
        for n in (0, 1, 3, 50, 199, 201, 399):
            data = encode(samples[:n], rate, fmt, subtype)
            if data is not None:
                yield f"{kind} {n} samples", data
        for r, n, ch in ((1, 40, 1), (192000, len(samples), 1), (rate, len(samples), 2), (rate, 800, 8),
                         (rate, 10, 64)):
            data = encode(np.tile(samples[:n, None], (1, ch)), r, fmt, subtype)
            if data is not None:
                yield f"{kind} {n} samples at {r} Hz, {ch} channels", data


def test_fuzz_audio(recognizer, speech):
    """Truncations, bit flips and smashed headers in ten formats; 0 to 400 samples; 1 Hz to 192 kHz;
    up to 64 channels. A transcript (possibly empty) or one clean error each."""
    from asr.transcribe import transcribe_file

    def case(data: bytes):
        def run():
            assert isinstance(transcribe_file(recognizer, data)["text"], str)
        return run

    rng = random.Random(SEED)
    assert fuzz((name, case(data)) for name, data in audio_cases(speech, rng)) > 1600


def test_fuzz_audio_files_on_disk(recognizer, speech, tmp_path):
    """Paths take another route than bytes (the WAV completeness check reads the file): a sample of cases."""
    from asr.transcribe import transcribe_file

    rng = random.Random(SEED + 1)
    cases = [c for c in audio_cases(speech, rng) if rng.random() < 0.15]

    def case(i: int, data: bytes):
        def run():
            path = tmp_path / f"case{i}.audio"
            path.write_bytes(data)
            transcribe_file(recognizer, str(path))
        return run

    assert fuzz((name, case(i, data)) for i, (name, data) in enumerate(cases)) > 200


def header_mutants(model: Path, rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    """The model file re-saved with one field of its JSON header replaced (a valid archive, odd contents)."""
    import torch

    obj = torch.load(model, weights_only=True)
    fields = [(section, key) for section, value in json.loads(obj["header"]).items() if isinstance(value, dict)
              for key in value] + [("input_dim", None), ("vocabulary", None), ("features", None)]
    odd = [None, -1, 0, 1, 3, 7, 1000, 1e9, 0.5, float("nan"), "", "fbank", "mfcc", [], {}, ["a", "b"], True]
    for _ in range(count):
        header = json.loads(obj["header"])
        (section, key), value = rng.choice(fields), rng.choice(odd)
        if key is None:
            header[section] = value
        else:
            header[section][key] = value
        buf = io.BytesIO()
        torch.save({**obj, "header": json.dumps(header)}, buf)
        yield f"header {section}.{key} = {value!r}", buf.getvalue()


# -- model files ----------------------------------------------------------------------------------------
def test_fuzz_model_files(random_model, speech, tmp_path):
    """Truncated and bit-flipped model files, the JSON header hit hardest: loading and then
    transcribing either works or says the file is damaged."""
    from asr.decoding import Decoder, DecoderConfig
    from asr.transcribe import load_model

    data = random_model.read_bytes()
    header = data.find(b'{"features"')
    assert header > 0
    sample = encode(speech[0], speech[1], "WAV", "PCM_16")
    rng = random.Random(SEED)
    mutants = [*truncations(data, rng, 80), *byte_flips(data, rng, 150),
               *byte_flips(data, rng, 150, header, data.find(b"}}", header) + 2),
               *header_mutants(random_model, rng, 200)]

    def case(i: int, content: bytes):
        def run():
            path = tmp_path / f"model{i}.pt"
            path.write_bytes(content)
            rec = load_model(str(path))  # greedy: the model file is what is fuzzed here, not the shipped LM
            rec.transcribe(sample, Decoder(rec.vocab, DecoderConfig(kind="greedy")))
        return run

    assert fuzz((name, case(i, content)) for i, (name, content) in enumerate(mutants)) >= 570


# -- configs --------------------------------------------------------------------------------------------
CONFIG = """\
train_data: [data/train]
valid_data: [data/dev]
out_dir: exp/fuzz
epochs: 3
max_batch_seconds: 60
max_batch_size: 16
features: {kind: mfcc, n_mels: 40, n_mfcc: 20, deltas: 1, n_fft: 400, hop_length: 160}
model: {hidden_size: 48, num_layers: 2, dropout: 0.1}
specaugment: {freq_masks: 2, time_masks: 2, warp_range: 0.0}
optim: {lr: 0.003, warmup_steps: 5, schedule: cosine}
"""
ODD_VALUES = ["-1", "0", "0.5", "1e9", "-1e9", ".nan", ".inf", "-.inf", "''", "null", "[]", "{}", "x", "true",
              "[1, 2]", "{a: 1}", "'400'", "1e-300", "999999999999999999999", "&a 3", "*a", "!!binary aGk=",
              "!!python/object:os.system {}", "\"\\x00\""]
YAML_NOISE = list(":{}[],-#&*!|>'\"%@`\t\n ") + ["\x00", "\ufeff", "é"]


def text_mutants(text: str, rng: random.Random, count: int) -> Iterator[tuple[str, str]]:
    """Characters deleted, inserted or replaced; lines dropped, repeated or swapped."""
    for _ in range(count):
        op = rng.randrange(5)
        lines = text.splitlines(keepends=True)
        if op == 0:
            i = rng.randrange(len(text))
            yield f"char {i} deleted", text[:i] + text[i + 1:]
        elif op == 1:
            i, c = rng.randrange(len(text)), rng.choice(YAML_NOISE)
            yield f"{c!r} inserted at {i}", text[:i] + c + text[i:]
        elif op == 2:
            i, c = rng.randrange(len(text)), rng.choice(YAML_NOISE)
            yield f"char {i} replaced by {c!r}", text[:i] + c + text[i + 1:]
        elif op == 3:
            i = rng.randrange(len(lines))
            yield f"line {i} dropped", "".join(lines[:i] + lines[i + 1:])
        else:
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i] = lines[j]
            yield f"line {i} replaced by line {j}", "".join(lines)


def config_value_mutants(rng: random.Random, count: int) -> Iterator[tuple[str, str]]:
    """One value at a time replaced by something of the wrong type or range."""
    import re

    slots = list(re.finditer(r"(?<=: )[^,{}\n]+|(?<=\[)[^\]\n]+", CONFIG))
    for _ in range(count):
        slot, value = rng.choice(slots), rng.choice(ODD_VALUES)
        yield f"{slot.group()!r} -> {value!r}", CONFIG[: slot.start()] + value + CONFIG[slot.end():]


def test_fuzz_configs(tmp_path):
    """Malformed YAML and odd values: load_config either refuses with one line, or gives a config whose
    feature extractor and model can be built and run."""
    import torch

    from asr.config import load_config
    from asr.features import FeatureExtractor
    from asr.model import AcousticModel
    from asr.train import TrainConfig

    rng = random.Random(SEED)
    path = tmp_path / "config.yaml"
    noise = torch.randn(4000, generator=torch.Generator().manual_seed(SEED))

    def case(text: str | bytes):
        def run():
            path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape"))
            cfg = load_config(TrainConfig, str(path), ["model.hidden_size=8"] if rng.random() < 0.5 else [])
            feats = FeatureExtractor(cfg.features)(noise)
            model = AcousticModel(cfg.model, cfg.features.dim, 29)
            if cfg.model.hidden_size <= 64 and cfg.model.num_layers <= 4:  # a sane size: run it
                model(feats[None], torch.tensor([len(feats)]))
        return run

    mutants = [*text_mutants(CONFIG, rng, 500), *config_value_mutants(rng, 500), *byte_flips(CONFIG.encode(), rng, 100)]
    assert fuzz((name, case(text)) for name, text in mutants) == 1100


# -- manifests ------------------------------------------------------------------------------------------
def test_fuzz_manifests(recognizer, fsdd, tmp_path):
    """Garbled JSON lines and wrong types in a manifest: evaluate refuses with one line or scores it."""
    from asr.data import load_corpus
    from asr.transcribe import evaluate

    lines = []
    for i in (3, 53, 103):
        path = fsdd / "9001" / "1" / f"9001-1-{i:04d}.flac"
        lines.append(json.dumps({"id": f"u{i}", "path": str(path), "text": "zero", "duration": 0.6,
                                 "speaker": "9001"}))
    text = "\n".join(lines) + "\n"
    rng = random.Random(SEED)
    manifest = tmp_path / "fuzz.jsonl"
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(100, np.float32), 8000)
    odd = [None, -1, 0, 1e309, "", "x", [], {}, True, str(tmp_path), str(short), str(tmp_path / "missing.flac"),
           str(Path(fsdd) / "9001" / "1" / "9001-1.trans.txt")]

    def value_mutant():
        entries = [json.loads(l) for l in lines]
        entry, key = rng.choice(entries), rng.choice(["id", "path", "text", "duration", "speaker", "extra"])
        entry[key] = rng.choice(odd)
        if rng.random() < 0.2:
            del entry[rng.choice(list(entry))]
        return f"{key} -> {entry.get(key)!r}", "\n".join(json.dumps(e) for e in entries) + "\n"

    def case(content: str | bytes):
        def run():
            manifest.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogateescape"))
            evaluate(recognizer, load_corpus(str(manifest)))
        return run

    mutants = [*text_mutants(text, rng, 200), *(value_mutant() for _ in range(300)), *byte_flips(text.encode(), rng, 100)]
    assert fuzz((name, case(content)) for name, content in mutants) == 600


def test_fuzz_librispeech_folders(recognizer, fsdd, tmp_path):
    """Damaged transcript files in the LibriSpeech layout: prepare refuses with one line or reads them."""
    from asr.data import scan_librispeech
    from asr.transcribe import evaluate

    chapter = tmp_path / "corpus" / "9001" / "1"
    chapter.mkdir(parents=True)
    for i in (3, 53):
        shutil.copy(fsdd / "9001" / "1" / f"9001-1-{i:04d}.flac", chapter / f"9001-1-{i:04d}.flac")
    text = "9001-1-0003 ZERO\n9001-1-0053 ONE\n"
    rng = random.Random(SEED)
    trans = chapter / "9001-1.trans.txt"

    def case(content: str | bytes):
        def run():
            trans.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogateescape"))
            evaluate(recognizer, scan_librispeech(str(tmp_path / "corpus")))
        return run

    mutants = [*text_mutants(text, rng, 100), *byte_flips(text.encode(), rng, 100)]
    assert fuzz((name, case(content)) for name, content in mutants) == 200


# -- language models ------------------------------------------------------------------------------------
def test_fuzz_language_models(recognizer, speech, tmp_path):
    """Truncated and garbled ARPA files (built by KenLM): reading their vocabulary and beam search with
    them (KenLM) refuse with one line or decode."""
    from asr.decoding import Decoder, DecoderConfig
    from asr.lm import build_lm

    corpus = tmp_path / "text.txt"
    corpus.write_text("zero one two three\nfour five six\nseven eight nine zero\none two one\n")
    arpa = tmp_path / "lm.arpa"
    build_lm([str(corpus)], str(arpa), 3)
    data = arpa.read_text()
    rng = random.Random(SEED)
    log_probs, lengths = recognizer.log_probs([recognizer.features(speech[0][::2].copy())])
    path = tmp_path / "fuzz.arpa"

    def case(content: str | bytes):
        def run():
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogateescape"))
            Decoder(recognizer.vocab, DecoderConfig(kind="beam", beam_size=4, lm=str(path))).decode(log_probs, lengths)
        return run

    raw = data.encode()
    garbled = data.replace("ngram 2=", "ngram 2=9999", 1), data.replace("\\end\\", ""), data.replace("-", "x"), \
        data.replace("\t", " "), data.replace("\\2-grams:", "\\5-grams:"), data.replace("\\data\\", "")
    mutants = [*((w, c.decode("utf-8", "surrogateescape")) for w, c in truncations(raw, rng, 100)),
               *text_mutants(data, rng, 150), *byte_flips(raw, rng, 100),
               *((f"garbled {i}", g) for i, g in enumerate(garbled))]
    assert fuzz((name, case(content)) for name, content in mutants) >= 350


def test_cli_prints_one_line_per_damaged_file(random_model, speech, tmp_path):
    """The real command line on a sample of the damaged files above, in one batch: stdout has a line per
    readable file, stderr nothing but one `asr: error:` line per other file (no traceback, no warnings
    from the decoding libraries); exit status 0, 1 or 3 accordingly."""
    from conftest import run_asr

    rng = random.Random(SEED + 2)
    by_format: dict[str, list[str]] = {}
    for name, data in audio_cases(speech, rng):
        kind = name.split()[0]
        if len(by_format.setdefault(kind, [])) < 4 and rng.random() < 0.1:
            path = tmp_path / f"{kind.replace('/', '-')}-{len(by_format[kind])}.audio"
            path.write_bytes(data)
            by_format[kind].append(str(path))
    files = [p for paths in by_format.values() for p in paths]
    proc = run_asr("transcribe", *files, "--model", random_model, "--threads", "1")
    out, err = proc.stdout.decode().splitlines(), proc.stderr.decode().splitlines()
    assert all(line.startswith("asr: error: ") for line in err), "\n".join(err)
    assert sorted(line.split(": ")[0] for line in out + [e[len("asr: error: "):] for e in err]) == sorted(files)
    assert proc.returncode == (0 if not err else 1 if not out else 3)
