"""Model files and training checkpoints on disk: safe to load, written atomically.

A model file is one `torch.save` archive holding only tensors, strings and numbers:
    {"format": "asr-model", "version": 1, "header": <JSON text>, "state_dict": {name: tensor}}
The JSON header carries everything needed to use the weights: feature config, vocabulary,
model config and training metadata. Files are read with `torch.load(weights_only=True)`,
which refuses to run pickled code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import torch

from .config import from_dict
from .errors import ConfigError, ModelFileError, OutputError
from .features import FeatureConfig
from .model import AcousticModel, ModelConfig
from .text import Vocabulary

MODEL_FORMAT = "asr-model"
CHECKPOINT_FORMAT = "asr-checkpoint"
G2P_FORMAT = "asr-g2p"  # asr.g2p's grapheme-to-phoneme model
PUNCTUATION_FORMAT = "asr-punctuation"  # asr.punctuation's case-and-punctuation tagger
_WHAT = {MODEL_FORMAT: "model file", CHECKPOINT_FORMAT: "checkpoint", G2P_FORMAT: "G2P model",
         PUNCTUATION_FORMAT: "punctuation model"}
FORMAT_VERSION = 1
TEMP_PREFIX = ".tmp-"  # atomic_save's unfinished files


def atomic_save(obj: Any, path: str) -> None:
    """Write `obj` with torch.save to a temporary file beside `path`, fsync, then rename:
    a kill at any moment leaves either the old file or the new one, never a torn one."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".pt", dir=folder)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions of a new file
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        cause: BaseException | None = exc  # torch's zip writer wraps a full disk's OSError in a RuntimeError
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__context__
        if cause is None:
            raise
        kept = "the previous file is unchanged" if os.path.exists(path) else "nothing was written"
        raise OutputError(f"{path}: cannot write ({cause.strerror or cause}); {kept}") from None


def atomic_write_text(path: str, text: str) -> None:
    """Replace a small text file at once (written beside it, then renamed): never left half-written."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def remove_stale_temporaries(folder: str) -> None:
    """Delete what `atomic_save` leaves when a process is killed mid-write (never a finished file)."""
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if name.startswith(TEMP_PREFIX) and name.endswith(".pt"):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def safe_load(path: str, expected_format: str) -> dict:
    """Load a file written by `atomic_save` without executing pickled code, checking its format;
    the JSON header comes back parsed."""
    what = _WHAT[expected_format]
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such {what}")
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: is a folder, not a {what}")
    if os.path.getsize(path) == 0:
        raise ModelFileError(f"{path}: {what} is empty")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":  # torch.save writes a zip archive
        raise ModelFileError(f"{path}: not an asr {what} (not a PyTorch archive)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe archives
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise ModelFileError(f"{path}: refused: the file holds pickled Python objects, not an asr {what}") from None
        raise ModelFileError(f"{path}: not a readable asr {what} (corrupt or truncated: {msg[:120]})") from None
    if not isinstance(obj, dict) or obj.get("format") not in _WHAT:
        raise ModelFileError(f"{path}: not an asr {what} (a PyTorch file of another kind)")
    if obj["format"] != expected_format:
        other = "training checkpoint" if obj["format"] == CHECKPOINT_FORMAT else _WHAT[obj["format"]]
        raise ModelFileError(f"{path}: is an asr {other}, expected an asr {what}")
    if obj.get("version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: {what} format version {obj.get('version')} is not supported (this asr reads version {FORMAT_VERSION})"
        )
    try:
        obj["header"] = json.loads(obj["header"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: {what} is damaged (header: {exc})") from None
    return obj


@dataclass
class ModelBundle:
    """A ready-to-use model: network plus everything needed to feed it and read its output."""

    model: AcousticModel
    features: FeatureConfig
    vocab: Vocabulary
    metadata: dict = field(default_factory=dict)

    def header(self) -> dict:
        return {
            "features": dataclasses.asdict(self.features),
            "model": dataclasses.asdict(self.model.config),
            "input_dim": self.model.input_dim,
            "vocabulary": self.vocab.to_dict(),
            "metadata": self.metadata,
        }


def build_bundle(header: dict, state_dict: dict[str, torch.Tensor] | None, source: str) -> ModelBundle:
    """Rebuild a ModelBundle from a JSON header and weights, with clear errors on mismatch."""
    try:
        features = from_dict(FeatureConfig, header["features"], "features")
        features.validate()
        config = from_dict(ModelConfig, header["model"], "model")
        vocab = Vocabulary.from_dict(header["vocabulary"])
        if features.dim != int(header["input_dim"]):
            raise ValueError(f"its features have {features.dim} values per frame, its network takes {header['input_dim']}")
        model = AcousticModel(config, input_dim=int(header["input_dim"]), vocab_size=vocab.size)
    except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
        raise ModelFileError(f"{source}: model header is incomplete or invalid ({exc})") from None
    if state_dict is not None:
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise ModelFileError(f"{source}: weights do not match the architecture in its header ({first})") from None
    model.eval()
    return ModelBundle(model=model, features=features, vocab=vocab, metadata=dict(header.get("metadata", {})))


def save_model(bundle: ModelBundle, path: str) -> None:
    """Write a standalone model file (weights + JSON header), atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in bundle.model.state_dict().items()}
    atomic_save(
        {"format": MODEL_FORMAT, "version": FORMAT_VERSION, "header": json.dumps(bundle.header()), "state_dict": state},
        path,
    )


def load_model_file(path: str) -> ModelBundle:
    """Read a model file written by `save_model`; never unpickles arbitrary objects."""
    obj = safe_load(path, MODEL_FORMAT)
    if not isinstance(obj.get("state_dict"), dict):
        raise ModelFileError(f"{path}: model file is damaged (no weights)")
    return build_bundle(obj["header"], obj["state_dict"], path)
