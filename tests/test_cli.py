"""End to end through the real command line: train from scratch, transcribe, evaluate, and fail cleanly."""

import json
import subprocess
import sys

import soundfile as sf

from conftest import MEMORISE_IDS, REPO, run_asr

DIGITS = "zero one two three four five six seven eight nine".split()


def assert_one_line_errors(proc: subprocess.CompletedProcess, count: int) -> list[str]:
    err = proc.stderr.decode()
    lines = [l for l in err.splitlines() if l.strip() and not l.startswith("Warning: Xing")]
    assert proc.returncode != 0
    assert "Traceback" not in err, err
    assert len(lines) == count and all(l.startswith("asr: error: ") for l in lines), err
    return lines


def test_trained_model_transcribes_what_it_memorised(trained_model, digits_corpus):
    """`asr train` (in the fixture) learnt ten real recordings; `asr transcribe` now reads them back."""
    files = [digits_corpus / "9001" / "1" / f"{u}.flac" for u in MEMORISE_IDS]
    proc = run_asr("transcribe", "--no-punctuation", "--model", trained_model, *files)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 10
    hyps = [l.split(": ", 1)[1] for l in lines]
    assert [l.split(": ", 1)[0] for l in lines] == [str(f) for f in files]
    from asr.metrics import ErrorCounter

    c = ErrorCounter()
    for ref, hyp in zip(DIGITS, hyps):
        c.add(ref, hyp)
    assert c.cer <= 0.05, hyps
    assert sum(r == h for r, h in zip(DIGITS, hyps)) >= 9, hyps

    # a folder expands to its audio files; a list file works the same
    folder = run_asr("transcribe", "--no-punctuation", "--model", trained_model, digits_corpus)
    assert folder.stdout.decode().splitlines() == lines
    listing = digits_corpus.parent / "files.txt"
    listing.write_text("".join(f"{f}\n" for f in files))
    listed = run_asr("transcribe", "--no-punctuation", "--model", trained_model, "--file-list", listing)
    assert listed.stdout.decode().splitlines() == lines

    # one file: no prefix; stdin; another container and rate give the same words
    single = run_asr("transcribe", "--no-punctuation", "-m", trained_model, files[3])
    assert single.stdout.decode().strip() == hyps[3]
    piped = run_asr("transcribe", "--no-punctuation", "-m", trained_model, "-", input=files[3].read_bytes())
    assert piped.stdout.decode().strip() == hyps[3]


def test_evaluate_reports_json(trained_model, digits_corpus, tmp_path):
    proc = run_asr("evaluate", digits_corpus, "--model", trained_model, "--json", "--hypotheses", tmp_path / "h.tsv")
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(proc.stdout.decode())
    assert {"wer", "cer", "utterances", "audio_seconds", "rtf", "decoder", "lm"} <= set(result)
    assert result["utterances"] == 10 and result["cer"] <= 0.05 and result["wer"] <= 0.1
    assert 3.0 < result["audio_seconds"] < 10.0 and 0 < result["rtf"] < 1
    assert len((tmp_path / "h.tsv").read_text().splitlines()) == 10


def test_bad_inputs_fail_with_one_line_each(trained_model, tmp_path, digits_corpus):
    good = digits_corpus / "9001" / "1" / f"{MEMORISE_IDS[0]}.flac"
    samples, rate = sf.read(good)
    sf.write(tmp_path / "whole.wav", samples, rate)
    data = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.flac").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio\n")
    proc = run_asr("transcribe", "--no-punctuation", "-m", trained_model, tmp_path / "missing.wav",
                   tmp_path / "empty.flac", tmp_path / "cut.wav", tmp_path / "notes.txt", good)
    lines = assert_one_line_errors(proc, 4)
    assert "no such file" in lines[0] and "empty" in lines[1] and "truncated" in lines[2]
    assert proc.stdout.decode().strip().endswith(": zero")  # the good file is still transcribed

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(trained_model.read_bytes()[:5000])
    for model in (corrupt, tmp_path / "notes.txt", tmp_path / "nope.pt"):
        assert_one_line_errors(run_asr("transcribe", "-m", model, good), 1)
    assert_one_line_errors(run_asr("evaluate", tmp_path / "no-such-dir", "-m", trained_model), 1)

    config = tmp_path / "bad.yaml"
    config.write_text(f"train_data: [{digits_corpus}]\nout_dir: {tmp_path / 'x'}\nmodel: {{hidden_size: lots}}\n")
    lines = assert_one_line_errors(run_asr("train", config), 1)
    assert "model.hidden_size" in lines[0]
    assert_one_line_errors(run_asr("train", tmp_path / "absent.yaml"), 1)


def test_help_does_not_import_torch():
    code = "import sys; from cli.main import cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    proc = subprocess.run([sys.executable, "-m", "cli.main", "--help"], cwd=REPO, capture_output=True)
    assert proc.returncode == 0 and b"transcribe" in proc.stdout and b"evaluate" in proc.stdout


def test_help_states_the_default_beam_size():
    """The CLI keeps torch out of its start-up, so its help says the default beam size as text: it must be
    the one decoding uses."""
    from asr.decoding import DEFAULT_BEAM_SIZE

    for command in (["transcribe"], ["evaluate"], ["stream"], ["lm", "tune"]):
        proc = subprocess.run([sys.executable, "-m", "cli.main", *command, "--help"], cwd=REPO, capture_output=True)
        assert proc.returncode == 0, proc.stderr.decode()
        help_text = " ".join(proc.stdout.decode().split())
        beam_help = help_text.split("--beam-size", 1)[1].split(" --", 1)[0]
        assert f"{DEFAULT_BEAM_SIZE})" in beam_help, (command, beam_help)
