"""Build a LibriSpeech-layout speech corpus on the spot from Debian's free text-to-speech engines.

Voices: espeak-ng (8 English accents x 79 voice variants), flite (kal16, awb, rms, slt) and
festival (kal, ked, slt), each at several speaking rates and pitches. Sentences: public-domain
and free text shipped in Debian packages (World English Bible through diatheke, WordNet's example
sentences, fortunes). Training audio is augmented (speed perturbation, noise at several SNRs,
reverberation).

Splits are disjoint by voice *identity* (a person behind several engines counts once, every
variant of an espeak accent counts as that accent) and by sentence, so the test set holds voices
and sentences the model never met in training. Everything is determined by --seed: the same
seed and package versions rebuild the same corpus.

    python recipes/synthetic/build_corpus.py OUT --hours 10 [--seed 1] [--jobs 2]
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from multiprocessing import Pool

import numpy as np
import soundfile as sf

from asr.audio import SAMPLE_RATE, load_audio
from asr.augment import NOISE_KINDS, add_noise, reverberate, speed_perturb
from asr.text import normalize_transcript

ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
# espeak-ng's voice variants (espeak-ng-data/voices/!v), less the whispered, robotic and novelty ones
ESPEAK_VARIANTS = [
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "Alex", "Alicia", "Andrea", "Andy", "Annie",
    "AnxiousAndy", "Denis", "Diogo", "Gene", "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario",
    "Michael", "Mike", "Nguyen", "adam", "anika", "aunty", "belinda", "benjamin", "boris", "caleb", "david",
    "ed", "edward", "edward2", "grandma", "grandpa", "gustave", "iven", "iven2", "iven3", "iven4", "john",
    "kaukovalta", "linda", "marcelo", "max", "michel", "miguel", "norbert", "pablo", "paul", "pedro", "quincy",
    "rob", "robert", "sandro", "shelby", "steph", "steph2", "steph3", "travis", "victor", "zac",
]

# Voice identities held out of training entirely.
TEST_IDENTITIES = {"espeak:en-029", "espeak:en-gb-x-gbclan", "rms", "ked"}
DEV_IDENTITIES = {"espeak:en-us-nyc"}


@dataclass(frozen=True)
class Voice:
    engine: str  # espeak | flite | festival
    name: str  # engine's voice name
    identity: str  # who this voice is, for the speaker split

    @property
    def label(self) -> str:
        return f"{self.engine}:{self.name}"


def all_voices() -> list[Voice]:
    voices = [Voice("espeak", a + (f"+{v}" if v else ""), f"espeak:{a}") for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS]
    voices += [Voice("flite", n, n.replace("16", "")) for n in ("kal16", "awb", "rms", "slt")]
    voices += [
        Voice("festival", "voice_kal_diphone", "kal"),
        Voice("festival", "voice_ked_diphone", "ked"),
        Voice("festival", "voice_cmu_us_slt_arctic_hts", "slt"),
    ]
    return voices


def split_of(voice: Voice) -> str:
    if voice.identity in TEST_IDENTITIES:
        return "test"
    if voice.identity in DEV_IDENTITIES:
        return "dev"
    return "train"


# ---------------------------------------------------------------------------------------------
# Text

_ABBREVIATION = re.compile(r"\b(?:mr|mrs|ms|dr|st|vs|etc|jr|sr|no|vol|ch|co|inc|ltd|i\.e|e\.g)\.", re.I)


def clean_sentence(text: str) -> str | None:
    """Keep a sentence only if every engine will read it as its transcript says."""
    text = re.sub(r"\s+", " ", text).strip().strip("\"'")
    if not text or re.search(r"[0-9@#$%&*+=<>/\\|{}\[\]_~^]", text):
        return None
    if re.search(r"\b[A-Z]{2,}\b", text) or _ABBREVIATION.search(text) or re.search(r"\b[A-Za-z]\.", text):
        return None
    norm = normalize_transcript(text)
    words = norm.split()
    if not 4 <= len(words) <= 24 or any(len(w) > 18 for w in words):
        return None
    return text


def _split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;:])\s+", text) if s]


def read_texts() -> list[str]:
    """Sentences from Debian packages: WordNet examples, the World English Bible, fortunes."""
    found: list[str] = []
    for path in glob.glob("/usr/share/wordnet/data.*"):
        with open(path, encoding="latin-1") as fh:
            for line in fh:
                if not line.startswith("  "):
                    found.extend(re.findall(r'"([^"]{10,200})"', line))
    if shutil.which("diatheke"):
        out = subprocess.run(["diatheke", "-b", "engWEB2015eb", "-k", "Genesis 1:1 - Revelation 22:21"],
                             capture_output=True, text=True, errors="replace").stdout
        for line in out.splitlines():
            verse = re.sub(r"<[^>]+>", " ", line.split(": ", 1)[-1]).replace("\u2019", "'").replace("\u201c", "").replace("\u201d", "")
            found.extend(_split_sentences(verse))
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if "." in os.path.basename(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            for entry in fh.read().split("\n%\n"):
                if "--" not in entry and entry.count("\n") <= 3:
                    found.extend(_split_sentences(entry.replace("\n", " ")))
    sentences = sorted({c for c in (clean_sentence(t) for t in found) if c})
    if len(sentences) < 100:
        raise SystemExit("build_corpus: too little text found; install wordnet-base, sword-text-web, diatheke, fortunes")
    return sentences


def text_split(sentence: str) -> str:
    """Stable assignment of a sentence to a split by its normalised text (no sentence in two splits)."""
    h = int(hashlib.sha1(normalize_transcript(sentence).encode()).hexdigest()[:8], 16) % 100
    return "test" if h < 4 else "dev" if h < 8 else "train"


# ---------------------------------------------------------------------------------------------
# Synthesis

RATES = (0.85, 1.0, 1.15)  # relative speaking rate
PITCHES = (-1, 0, 1)  # lower, default, higher


@dataclass(frozen=True)
class Job:
    split: str
    index: int
    speaker: int
    voice: Voice
    rate: float
    pitch: int
    text: str
    path: str
    augment_seed: int  # 0: no augmentation


def synthesise(voice: Voice, text: str, rate: float, pitch: int, workdir: str) -> np.ndarray:
    """Run one engine; return float32 mono samples at 16 kHz."""
    txt = os.path.join(workdir, "in.txt")
    wav = os.path.join(workdir, "out.wav")
    with open(txt, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    if voice.engine == "espeak":
        cmd = ["espeak-ng", "-v", voice.name, "-s", str(int(165 * rate)), "-p", str(50 + 18 * pitch), "-w", wav, "-f", txt]
    elif voice.engine == "flite":
        cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1 / rate:.3f}", "-f", txt, "-o", wav]
        if pitch:
            cmd[5:5] = ["--setf", f"int_f0_target_mean={dict(slt=170, kal16=95, awb=105, rms=90)[voice.name] * (1 + 0.12 * pitch):.0f}"]
    else:
        stretch = f"(Parameter.set 'Duration_Stretch {1 / rate:.3f})"
        cmd = ["text2wave", "-eval", f"({voice.name})", "-eval", stretch, "-o", wav, txt]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    samples = load_audio(wav, SAMPLE_RATE)
    if voice.engine == "festival" and pitch:  # festival's diphone voices have no simple pitch knob
        samples = speed_perturb(samples, 1 + 0.06 * pitch)
    return samples


def augment(samples: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    rng = np.random.default_rng(seed)
    notes = []
    if rng.random() < 0.5:  # resampling shifts pitch and formants too: a new vocal tract
        factor = round(float(rng.uniform(0.85, 1.15)), 3)
        samples = speed_perturb(samples, factor)
        notes.append(f"speed{factor}")
    if rng.random() < 0.25:
        rt60 = float(rng.uniform(0.15, 0.6))
        samples = reverberate(samples, rt60, rng)
        notes.append(f"reverb{rt60:.2f}")
    if rng.random() < 0.5:
        snr = float(rng.choice([25, 20, 15, 10, 5]))
        kind = str(rng.choice(NOISE_KINDS))
        samples = add_noise(samples, snr, kind, rng)
        notes.append(f"{kind}{snr:g}dB")
    return samples, "+".join(notes) or "clean"


def run_job(job: Job) -> tuple[Job, float, str]:
    with tempfile.TemporaryDirectory(prefix="asr-tts-") as tmp:
        samples = synthesise(job.voice, job.text, job.rate, job.pitch, tmp)
    note = "clean"
    if job.augment_seed:
        samples, note = augment(samples, job.augment_seed)
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak > 0.99:
        samples = samples * (0.99 / peak)
    os.makedirs(os.path.dirname(job.path), exist_ok=True)
    sf.write(job.path, samples, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    return job, len(samples) / SAMPLE_RATE, note


# ---------------------------------------------------------------------------------------------
# Planning


def plan(split: str, out: str, seed: int, texts: list[str], voices: list[Voice], start: int, count: int) -> list[Job]:
    """Jobs start..start+count-1 of a split; job i depends only on (seed, split, i)."""
    settings = [(r, p) for r in RATES for p in PITCHES]
    identities = sorted({v.identity for v in voices})
    inventory = all_voices()
    jobs = []
    for i in range(start, start + count):
        rng = random.Random(f"{seed}:{split}:{i}")
        # every identity equally often (an espeak accent weighs as much as a flite voice)
        identity = identities[i % len(identities)]
        voice = rng.choice([v for v in voices if v.identity == identity])
        s = rng.randrange(len(settings))
        rate, pitch = settings[s]
        speaker = 1000 + 10 * inventory.index(voice) + s
        text = texts[rng.randrange(len(texts))]
        utt = f"{speaker}-1-{i:06d}"
        path = os.path.join(out, split, str(speaker), "1", f"{utt}.flac")
        aug = rng.randrange(1, 2**31) if split == "train" else 0
        jobs.append(Job(split, i, speaker, voice, rate, pitch, text, path, aug))
    return jobs


def build_split(split: str, out: str, seconds: float, seed: int, texts: list[str], jobs: int, progress: bool,
                engines: tuple[str, ...] = ("espeak", "flite", "festival")) -> None:
    voices = [v for v in all_voices() if split_of(v) == split and v.engine in engines]
    if not voices:
        raise SystemExit(f"build_corpus: no {split} voices among engines {', '.join(engines)}")
    pool_texts = [t for t in texts if text_split(t) == split]
    done_marker = os.path.join(out, split, ".complete")
    if os.path.exists(done_marker):
        print(f"{split}: already built, skipping")
        return
    shutil.rmtree(os.path.join(out, split), ignore_errors=True)
    results: list[tuple[Job, float, str]] = []
    total = 0.0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(seconds), unit="s", desc=f"synthesising {split}", file=sys.stderr)
    with Pool(jobs) as pool:
        start = 0
        while total < seconds:
            batch = int(min(256, max(8, (seconds - total) / 3.0)))  # about 3 s per utterance
            for job, dur, note in pool.imap(run_job, plan(split, out, seed, pool_texts, voices, start, batch)):
                results.append((job, dur, note))
                total += dur
                if bar:
                    bar.update(round(dur))
            start += batch
    if bar:
        bar.close()
    # keep whole batches only up to the target (deterministic: the cut depends on durations only)
    kept, acc = [], 0.0
    for job, dur, note in results:
        if acc >= seconds:
            os.unlink(job.path)
            continue
        kept.append((job, dur, note))
        acc += dur
    by_chapter: dict[str, list[str]] = {}
    for job, dur, note in kept:
        folder = os.path.dirname(job.path)
        by_chapter.setdefault(folder, []).append(f"{os.path.basename(job.path)[:-5]} {normalize_transcript(job.text).upper()}")
    for folder, lines in by_chapter.items():
        speaker = os.path.basename(os.path.dirname(folder))
        with open(os.path.join(folder, f"{speaker}-1.trans.txt"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(sorted(lines)) + "\n")
    with open(os.path.join(out, split, "utterances.tsv"), "w", encoding="utf-8") as fh:
        fh.write("utterance\tspeaker\tengine\tvoice\tidentity\trate\tpitch\taugmentation\tseconds\ttext\n")
        for job, dur, note in kept:
            fh.write(f"{os.path.basename(job.path)[:-5]}\t{job.speaker}\t{job.voice.engine}\t{job.voice.name}\t"
                     f"{job.voice.identity}\t{job.rate}\t{job.pitch}\t{note}\t{dur:.3f}\t{job.text}\n")
    open(done_marker, "w").close()
    speakers = len({j.speaker for j, _, _ in kept})
    print(f"{split}: {len(kept)} utterances, {acc / 3600:.2f} h, {speakers} speakers, "
          f"{len({j.voice.identity for j, _, _ in kept})} voice identities")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="output folder (gets train/, dev/, test/ in the LibriSpeech layout)")
    parser.add_argument("--hours", type=float, default=10.0, help="hours of training audio (default 10)")
    parser.add_argument("--dev-hours", type=float, default=None, help="default: 3%% of --hours, at least 0.01")
    parser.add_argument("--test-hours", type=float, default=None, help="default: 5%% of --hours, at least 0.01")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--splits", default="train,dev,test")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--engines", default="espeak,flite,festival",
                        help="engines to use (default all; a subset changes the corpus)")
    parser.add_argument("--texts", help="read the sentence pool from this file (one per line; written by "
                        "--save-texts) instead of Debian's text packages")
    parser.add_argument("--save-texts", help="write the sentence pool to this file and stop")
    args = parser.parse_args()
    if args.texts:
        with open(args.texts, encoding="utf-8") as fh:
            texts = sorted({c for c in (clean_sentence(line) for line in fh) if c})
    else:
        texts = read_texts()
    if args.save_texts:
        with open(args.save_texts, "w", encoding="utf-8") as fh:
            fh.write("\n".join(texts) + "\n")
        print(f"{args.save_texts}: {len(texts)} sentences")
        return
    engines = tuple(args.engines.split(","))
    programs = {"espeak": "espeak-ng", "flite": "flite", "festival": "text2wave"}
    unknown = [e for e in engines if e not in programs]
    if unknown:
        raise SystemExit(f"build_corpus: unknown engine {unknown[0]!r} (choose from {', '.join(programs)})")
    missing = [programs[e] for e in engines if not shutil.which(programs[e])]
    if missing:
        raise SystemExit(f"build_corpus: missing {', '.join(missing)} (Debian packages espeak-ng flite festival)")
    sizes = {
        "train": args.hours,
        "dev": args.dev_hours if args.dev_hours is not None else max(0.03 * args.hours, 0.01),
        "test": args.test_hours if args.test_hours is not None else max(0.05 * args.hours, 0.01),
    }
    print(f"{len(texts)} sentences available; voices: {len(all_voices())}")
    for split in args.splits.split(","):
        build_split(split, args.out, sizes[split] * 3600, args.seed, texts, args.jobs, not args.no_progress, engines)
    if "train" in args.splits.split(","):
        write_lm_text(texts, os.path.join(args.out, "train", "lm_text.txt"))


def write_lm_text(texts: list[str], path: str) -> None:
    """Every sentence of the training text pool (not only those spoken), for the recipe's LM.
    No dev or test sentence is in it."""
    lines = sorted({normalize_transcript(t) for t in texts if text_split(t) == "train"})
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)
    print(f"{path}: {len(lines)} training sentences for the language model")


if __name__ == "__main__":
    main()
