"""User-facing errors: each carries one line that the CLI prints as-is (no traceback)."""


class AsrError(Exception):
    """Base class for errors caused by the user's input, not by a bug."""


class AudioError(AsrError):
    """An audio file is missing, empty, truncated or not audio."""


class ModelFileError(AsrError):
    """A model file or checkpoint is missing, corrupt, foreign or of an unknown version."""


class ConfigError(AsrError):
    """A configuration file or override holds an unknown key or a wrong value."""


class DataError(AsrError):
    """A data folder is missing, empty or not in the LibriSpeech layout."""


class DownloadError(AsrError):
    """A download failed, its checksum does not match, or an archive is unsafe or unreadable."""


class OutputError(AsrError):
    """An output file or folder cannot be written (no permission, disk full); what was there is kept."""
