"""Phone units: the CMUdict lexicon, the G2P model, and a tiny phone model trained and decoded end to end
on real LibriSpeech utterances, one of whose words ("counselled") only the G2P can pronounce."""

from __future__ import annotations

import json
import shutil

import pytest

from asr.g2p import load_g2p
from asr.lexicon import Lexicon, read_lexicon
from asr.text import PHONES, Vocabulary

from conftest import run_asr

# short LibriSpeech test-clean utterances of ../shared/data/librispeech-sample
UTTERANCES = ["1089-134686-0001", "1089-134691-0000", "2830-3980-0043", "4507-16021-0012", "8455-210777-0068"]

TINY_PHONES = """\
train_data: [{data}]
out_dir: {out}
units: phones
epochs: 120
max_batch_size: 5
cache_features: true
use_specaugment: false
progress: false
features: {{kind: fbank, n_mels: 40}}
model: {{hidden_size: 96, num_layers: 2, dropout: 0.0, stack_frames: 4}}
optim: {{lr: 0.01, warmup_steps: 10, schedule: constant}}
"""


@pytest.fixture(scope="module")
def phones() -> Lexicon:
    return Lexicon.for_vocab(Vocabulary.for_units("phones"))


def test_cmudict_lexicon(phones):
    assert phones.pronounce("hello") == [["HH", "AH", "L", "OW"], ["HH", "EH", "L", "OW"]]  # stress gone, alternates kept
    vocab = phones.vocab
    assert vocab.decode(phones.encode("Hello, world 2")) == "HH AH L OW | W ER L D | T UW"
    assert vocab.symbols == ["|"] + PHONES and vocab.size == 41
    # a character model's lexicon is the spelling, as before
    chars = Lexicon.for_vocab(Vocabulary())
    assert chars.encode("Hi there") == Vocabulary().encode("hi there")
    assert list(chars.spellings(["hi"])) == [("hi", ["h", "i", " "])]


def test_old_model_files_are_characters():
    legacy = {"blank": "<blank>", "symbols": Vocabulary().symbols}  # what files held before units existed
    assert Vocabulary.from_dict(legacy).units == "chars"
    assert Vocabulary.from_dict(Vocabulary.for_units("phones").to_dict()).units == "phones"
    with pytest.raises(ValueError):
        Vocabulary.from_dict({**legacy, "units": "syllables"})


def test_g2p_pronounces_words_outside_cmudict(phones):
    g2p = load_g2p()
    assert g2p is not None, "asr/pretrained/g2p.pt is missing (recipes/g2p)"
    assert "counselled" not in phones.entries and "counseled" in phones.entries
    # the British spelling sounds like the American one CMUdict has: K AW N S AH L D
    assert phones.pronounce("counselled") == [g2p.predict(["counselled"])[0]]
    assert phones.pronounce("counselled")[0] in phones.entries["counseled"]
    assert g2p.metadata["held_out_per"] < 0.12  # measured on 2,000 CMUdict words it never saw


@pytest.fixture(scope="module")
def sample_corpus(tmp_path_factory, librispeech_sample):
    root = tmp_path_factory.mktemp("phone-corpus")
    lines = {}
    for trans in librispeech_sample.rglob("*.trans.txt"):
        lines.update(l.split(" ", 1) for l in trans.read_text().splitlines() if l.strip())
    for utt in UTTERANCES:
        speaker, chapter, _ = utt.split("-")
        folder = root / speaker / chapter
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(next(librispeech_sample.rglob(f"{utt}.flac")), folder / f"{utt}.flac")
        with open(folder / f"{speaker}-{chapter}.trans.txt", "a") as fh:
            fh.write(f"{utt} {lines[utt]}")
    return root, {utt: lines[utt].strip().lower() for utt in UTTERANCES}


@pytest.fixture(scope="module")
def phone_model(tmp_path_factory, sample_corpus):
    corpus, _ = sample_corpus
    out = tmp_path_factory.mktemp("phone-model")
    config = out / "tiny.yaml"
    config.write_text(TINY_PHONES.format(data=corpus, out=out / "exp"))
    proc = run_asr("train", config)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "1 words of the training transcripts pronounced by the G2P model" in proc.stderr.decode()
    return out / "exp" / "best_model.pt"


def test_phone_model_end_to_end(tmp_path, sample_corpus, phone_model):
    """Trained on five real utterances until it knows them; decoded through a lexicon built for an LM of
    their words (CMUdict, and the G2P for 'counselled'): greedy (the lexicon path, no LM), beam + LM,
    word times, evaluation, hotwords."""
    corpus, texts = sample_corpus
    text = tmp_path / "text.txt"
    text.write_text("\n".join(texts.values()) + "\n")
    lm = tmp_path / "words.arpa"
    assert run_asr("lm", "build", text, "-o", lm, "--order", "2").returncode == 0
    proc = run_asr("lm", "lexicon", lm)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "1 by the G2P model" in proc.stdout.decode()
    lexicon = dict(read_lexicon(str(tmp_path / "words.phones.txt")))
    assert lexicon["counselled"] == ["K", "AW", "N", "S", "AH", "L", "D"]
    assert json.loads((tmp_path / "words.json").read_text())["lexicons"] == {"phones": "words.phones.txt"}

    audio = next(corpus.rglob(f"{UTTERANCES[0]}.flac"))
    for decoder, source in (("greedy", ("--lexicon", tmp_path / "words.phones.txt")), ("beam", ("--lm", lm))):
        out = tmp_path / decoder
        proc = run_asr("transcribe", audio, "--no-punctuation", "--model", phone_model, *source, "--decoder", decoder,
                       "-f", "json", "-o", out)
        assert proc.returncode == 0, proc.stderr.decode()
        result = json.loads((out / f"{UTTERANCES[0]}.json").read_text())
        assert result["text"] == texts[UTTERANCES[0]] == "stuff it into you his belly counselled him"
        words = result["segments"][0]["words"]
        assert [w["word"] for w in words] == result["text"].split()
        assert all(w["start"] < w["end"] and 0 < w["confidence"] <= 1 for w in words)
        assert words == sorted(words, key=lambda w: w["start"])

    proc = run_asr("evaluate", corpus, "--model", phone_model, "--lm", lm, "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["wer"] <= 0.1

    # a hotword outside the lexicon is pronounced by the G2P: without it the word cannot come out
    without = tmp_path / "without.txt"
    without.write_text("".join(f"{w} {' '.join(p)}\n" for w, p in read_lexicon(str(tmp_path / "words.phones.txt"))
                               if w != "counselled"))
    for hotwords, expected in (((), False), (("--hotword", "counselled"), True)):
        proc = run_asr("transcribe", audio, "--no-punctuation", "--model", phone_model, "--lm", lm, "--lexicon", without,
                       *hotwords)
        assert proc.returncode == 0, proc.stderr.decode()
        assert ("counselled" in proc.stdout.decode().split()) == expected
