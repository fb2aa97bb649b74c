"""Readable transcripts: the shipped case-and-punctuation model (asr.punctuation) on held-out text, on
by default in every output, off with --no-punctuation, never changing times or error rates."""

from __future__ import annotations

import json
import os

import pytest
from conftest import REPO, run_asr, shared

from asr.punctuation import (
    DEFAULT_PUNCTUATION_MODEL, Labelled, baseline_restore, evaluate_tagger, label_paragraph, load_punctuator,
)
from asr.writers import WRITERS

SAMPLE = REPO / "recipes" / "default" / "sample.flac"

# Paragraphs from the held-out ends of ../shared/data/text (recipes/punctuation: never trained on).
HELD_OUT = [
    "In the pilot house Jack saw the impending disaster. He threw his entire weight against the lever that set the "
    "wings at a rising inclination. The device was new and stiff. His most strenuous exertions failed to move it.",
    "\u201cNot much use,\u201d declared Joyce. \u201cWhoever took that lever has hidden it where we can\u2019t find it.\u201d",
    "We should take comfort in the thought that universal Toleration is certainly a modern idea, and it is upon "
    "modern ideas that this World State rests. But even suppose we are tolerated and admitted to this unavoidable "
    "citizenship, there will still remain a wide range of possibility.",
    "Davide Scala (born 2 January 1972) is a former professional tennis player from Italy.",
    "Anor Londo was designed to feel like a reward after completing Sen's Fortress, but also presented no clear path "
    "to the player, forcing them to take a number of side paths, like walking up the flying buttresses. The city's "
    "spiral staircases were meant to represent life.",
    "After consulting the government surveyor, the municipal committee approved the construction of a stone ghaut on "
    "20 July 1853 to be used as a public landing place instead of the wooden jetty as originally intended. In "
    "conjunction with the proposed ghaut, a stone embankment stretching from the proposed ghaut to Battery Road "
    "would be built.",
    "What kinds of black tea can I order here?",
    "Then could I have a latte?",
    "We have a large amount of drinks, including latte, mocha, cappuccino, americano, iced coffee, and several "
    "others. If you look at the menu, it'll provide details.",
    "Is the order on the display correct?",
    "What is your favorite band?",
    "Hi, could I get a Matcha Latte please?",
]
# Measured on this set, each paragraph a passage, with the shipped model of 2026-12-05: overall mark F1 0.69
# (the baseline of recipes/punctuation, a capital first and a period last: 0.29), case accuracy 0.92 (writing
# every word in lower case: 0.86). The limits leave room for a retrained model, not for a broken one.
MIN_F1, MIN_CASE = 0.55, 0.89


def test_labels_follow_the_written_text():
    item = label_paragraph('"Mr. McDonald bought an iPhone in 1905, for $5 -- or so?" asked NASA.')
    assert item.words == ("mister mcdonald bought an iphone in nineteen oh five for five dollars or so asked "
                          "nasa").split()
    assert " ".join(item.surfaces()) == "Mister McDonald bought an iPhone in nineteen oh five, for five dollars, or so? " \
                                        "asked NASA."
    assert Labelled.from_json(item.to_json()) == item


def test_shipped_model_restores_held_out_text():
    punctuator = load_punctuator()
    items = [label_paragraph(p) for p in HELD_OUT]
    model = evaluate_tagger(punctuator.restore, items, per_item=True)
    base = evaluate_tagger(baseline_restore, items, per_item=True)
    assert model["overall"]["f1"] >= MIN_F1 and model["case_accuracy"] >= MIN_CASE, model
    assert model["overall"]["f1"] > base["overall"]["f1"] + 0.25, (model, base)
    assert model["question"]["recall"] >= 0.5 and model["comma"]["f1"] > 0.3, model
    assert punctuator.punctuate_text("") == ""


def _raw(result: dict) -> dict:
    """A punctuated result with the recogniser's own forms put back (what --no-punctuation gives)."""
    out = json.loads(json.dumps(result))
    out["text"] = out.pop("raw_text")
    for seg in out["segments"]:
        seg["text"] = seg.pop("raw_text")
        for word in seg["words"]:
            word["word"] = word.pop("raw")
    return out


def test_every_format_is_restored_and_no_punctuation_is_the_raw_output(tmp_path):
    on, off = tmp_path / "on", tmp_path / "off"
    restored = run_asr("transcribe", SAMPLE, "-f", "all", "-o", on)
    plain = run_asr("transcribe", SAMPLE, "--no-punctuation", "-f", "all", "-o", off)
    assert restored.returncode == 0 and plain.returncode == 0, restored.stderr.decode() + plain.stderr.decode()
    result = json.loads((on / "sample.json").read_text())
    raw = json.loads((off / "sample.json").read_text())
    # only the written forms change: times, confidences, segments and everything else are today's
    assert _raw(result) == raw and "raw_text" not in raw and "raw" not in raw["segments"][0]["words"][0]
    for fmt, write in WRITERS.items():
        assert (off / f"sample.{fmt}").read_text() == write(raw), fmt  # byte for byte the pipeline without the step
    assert plain.stdout.decode() == raw["text"] + "\n" == (off / "sample.txt").read_text()

    text = result["text"]
    assert text != raw["text"] and text.lower().replace(",", "").replace(".", "").replace("?", "") == raw["text"]
    assert text[0].isupper() and text.endswith((".", "?", "!")) and restored.stdout.decode() == text + "\n"
    words = [w for seg in result["segments"] for w in seg["words"]]
    assert " ".join(w["word"] for w in words) == text
    for fmt in ("txt", "srt", "vtt", "tsv"):
        written = (on / f"sample.{fmt}").read_text()
        assert all(seg["text"] in written for seg in result["segments"]), fmt
        assert raw["segments"][0]["text"] not in written, fmt


def test_stream_finals_are_restored_partials_raw():
    runs = {}
    for name, extra in (("on", []), ("off", ["--no-punctuation"])):
        proc = run_asr("stream", "--input", SAMPLE, "--json", "--threads", "1", *extra)
        assert proc.returncode == 0, proc.stderr.decode()
        runs[name] = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    finals = [e for e in runs["on"] if e["type"] == "final" and e["text"]]
    plain = [e for e in runs["off"] if e["type"] == "final" and e["text"]]
    assert [e["raw_text"] for e in finals] == [e["text"] for e in plain] and "raw_text" not in plain[0]
    assert [e["words"] for e in finals] == [e["words"] for e in plain]  # same words, same times
    assert finals[0]["text"][0].isupper() and finals[-1]["text"].endswith((".", "?", "!"))
    partials = [e["text"] for e in runs["on"] if e["type"] == "partial" and e["text"]]
    assert partials and all(p == p.lower() for p in partials)


def test_evaluation_scores_normalised_text(tmp_path):
    """`asr evaluate` scores the recogniser's words: its hypotheses are --no-punctuation's output, and the
    restored transcripts, scored, give the same WER."""
    from asr.data import scan_librispeech
    from asr.metrics import ErrorCounter

    data = shared("librispeech-sample", "test-clean")
    proc = run_asr("evaluate", data, "--json", "--hypotheses", tmp_path / "hyp.tsv")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads(proc.stdout)
    utts = sorted(scan_librispeech(str(data)), key=lambda u: u.id)
    rows = [line.split("\t") for line in (tmp_path / "hyp.tsv").read_text().splitlines()]
    hyps = {utt: hyp for utt, _ref, hyp in rows}
    outputs = {}
    for name, extra in (("on", []), ("off", ["--no-punctuation"])):
        out = run_asr("transcribe", *extra, *[u.path for u in utts])
        assert out.returncode == 0, out.stderr.decode()
        outputs[name] = [line.split(": ", 1)[1] for line in out.stdout.decode().splitlines()]
    assert outputs["off"] == [hyps[u.id] for u in utts]
    assert outputs["on"] != outputs["off"]
    counter = ErrorCounter()
    for u, h in zip(utts, outputs["on"]):
        counter.add(u.text, h)
    assert counter.wer == pytest.approx(summary["wer"]) and counter.cer == pytest.approx(summary["cer"])


def test_punctuate_reads_stdin_and_a_file(tmp_path):
    lines = "what is your favorite band\n\nthen could i have a latte\n"
    proc = run_asr("punctuate", input=lines.encode())
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode().splitlines()
    assert len(out) == 3 and out[1] == "" and out[0].startswith("What") and out[0].endswith("?")
    path = tmp_path / "in.txt"
    path.write_text(lines)
    assert run_asr("punctuate", path).stdout == proc.stdout


def test_damaged_punctuation_model_is_one_line_error(tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(open(DEFAULT_PUNCTUATION_MODEL, "rb").read()[:4000])
    text = tmp_path / "text.pt"
    text.write_text("not a model\n")
    for bad in (truncated, text, tmp_path / "missing.pt"):
        env = {**os.environ, "ASR_PUNCTUATION_MODEL": str(bad)}
        for args in (["punctuate"], ["transcribe", SAMPLE]):
            proc = run_asr(*args, input=b"hello there\n", env=env)
            err = proc.stderr.decode()
            assert proc.returncode == 1 and err.startswith("asr: error:") and err.count("\n") == 1, err
            assert str(bad) in err and "Traceback" not in err
    # the step is off: no model is read
    env = {**os.environ, "ASR_PUNCTUATION_MODEL": str(text)}
    assert run_asr("transcribe", SAMPLE, "--no-punctuation", env=env).returncode == 0
