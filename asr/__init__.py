"""asr: train and run your own speech recogniser (features -> BiLSTM-CTC -> text).

Importing the package is cheap: torch is only imported by the modules that need it,
so `asr --help` stays instant. The public API lives in `asr.transcribe`.
"""

__version__ = "0.1.0"
