"""A virtual microphone (a private PulseAudio daemon with a pipe source), and a measurement of
`asr stream` listening to it: a recording is "spoken" into the microphone at real-time pace,
`asr stream --mic micsim` transcribes it live, and its WER is compared with offline decoding
of the same file. Needs Debian pulseaudio, pulseaudio-utils, libasound2-plugins and libportaudio2
(installed by .ci/install). The tests use VirtualMicrophone too.

    python recipes/benchmarks/virtual_mic.py FILE.wav "REFERENCE TRANSCRIPT"
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from asr.audio import to_pcm16

REPO = Path(__file__).resolve().parents[2]


class VirtualMicrophone:
    """A private PulseAudio daemon whose source `micsim` plays what is written to its FIFO.

    `env` is the environment a client needs to see it (PULSE_SERVER, and a HOME whose .asoundrc
    names the source for ALSA, which PortAudio reads)."""

    def __init__(self, folder: Path):
        self.dir = Path(folder)
        self.fifo = self.dir / "mic.fifo"
        self.env = {**os.environ, "PULSE_SERVER": f"unix:{self.dir}/native", "HOME": str(self.dir),
                    "XDG_RUNTIME_DIR": str(self.dir), "PULSE_RUNTIME_PATH": str(self.dir)}
        (self.dir / "script.pa").write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.dir}/native\n"
            "load-module module-null-sink sink_name=spk rate=16000 channels=1\n"
            f"load-module module-pipe-source source_name=micsim file={self.fifo} format=s16le rate=16000 channels=1\n"
            "set-default-source micsim\n"
        )
        (self.dir / ".asoundrc").write_text(
            'pcm.micsim { type pulse; device "micsim" }\nctl.micsim { type pulse }\n'
            'pcm.!default { type pulse; device "micsim" }\nctl.!default { type pulse }\n'
        )
        self.queue: list[np.ndarray] = []
        self.stop = threading.Event()
        self.feeder: threading.Thread | None = None

    def __enter__(self) -> "VirtualMicrophone":
        self.daemon = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(self.dir / "script.pa"), "--exit-idle-time=-1", "--daemonize=no",
             "--disallow-exit", "--log-target=stderr"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.dir / "pulse.log", "wb"))
        for _ in range(100):
            if self.fifo.exists() and (self.dir / "native").exists():
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("pulseaudio did not start: " + (self.dir / "pulse.log").read_text()[-500:])
        return self

    def start_talking(self) -> None:
        """Feed the microphone at real-time pace, silence until `say` queues speech (a pipe source
        delivers only what is written to it, as a microphone delivers only what it hears)."""
        self.feeder = threading.Thread(target=self._feed, daemon=True)
        self.feeder.start()

    def say(self, audio: np.ndarray) -> float:
        """Queue speech (float32 at 16 kHz); returns its duration in seconds."""
        self.queue.append(to_pcm16(audio))
        return len(audio) / 16000

    def _feed(self, block: float = 0.05) -> None:
        n = int(block * 16000)
        silence = np.zeros(n, "<i2")
        with open(self.fifo, "wb", buffering=0) as fh:
            start, sent = time.monotonic(), 0
            while not self.stop.is_set():
                chunk = silence
                if self.queue:
                    chunk, rest = self.queue[0][:n], self.queue[0][n:]
                    self.queue[0] = rest
                    if not len(rest):
                        self.queue.pop(0)
                try:
                    fh.write(chunk.tobytes())
                except BrokenPipeError:  # the daemon stopped reading (it is shutting down)
                    return
                sent += len(chunk)
                time.sleep(max(0.0, start + sent / 16000 - time.monotonic()))

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.feeder:
            self.feeder.join(timeout=5)
        self.daemon.terminate()
        self.daemon.wait(timeout=10)


def listen(mic: VirtualMicrophone, audio: np.ndarray, *stream_args: str) -> str:
    """What `asr stream --mic micsim` prints while `audio` is spoken into the microphone."""
    mic.start_talking()
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "stream", "--mic", "micsim", *stream_args],
                            cwd=REPO, env={**mic.env, "PYTHONFAULTHANDLER": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    ready = proc.stderr.readline()  # 'asr: listening' once the model and the language model are loaded
    if b"listening" not in ready:
        proc.kill()
        raise RuntimeError(f"asr stream did not start: {(ready + proc.stderr.read()).decode().strip()}")
    time.sleep(0.5)  # the device opens with the first block
    time.sleep(mic.say(audio) + 1.5)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: stop cleanly, print what is left
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints where every thread was
        out, err = proc.communicate(timeout=30)
        raise RuntimeError("asr stream did not stop after Ctrl-C:\n" + err.decode()[-3000:]) from None
    if proc.returncode != 0:
        raise RuntimeError(f"asr stream failed: {err.decode().strip()}")
    return " ".join(out.decode().split())


def main() -> None:
    from asr.audio import load_audio
    from asr.metrics import wer
    from asr.text import normalize_transcript

    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, reference = sys.argv[1], normalize_transcript(sys.argv[2])
    audio = load_audio(path)
    offline = subprocess.run([sys.executable, "-m", "cli.main", "transcribe", path], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as folder, VirtualMicrophone(Path(folder)) as mic:
        live = listen(mic, audio)
    for name, text in (("live (virtual microphone)", live), ("offline", offline)):
        print(f"{name:26s} WER {100 * wer(reference, text):6.2f} %  {text}")


if __name__ == "__main__":
    main()
