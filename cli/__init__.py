"""The `asr` command line: a thin click layer over the `asr` library."""
