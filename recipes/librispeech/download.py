"""Download LibriSpeech: audio subsets (OpenSLR resource 12) and the official language models
(OpenSLR resource 11), checksum-verified and resumable.

Archives go to DATA_DIR/archives/SUBSET.tar.gz and are extracted to DATA_DIR/LibriSpeech/SUBSET;
language-model files go to DATA_DIR/lm/NAME. An interrupted download resumes where it stopped; a
subset already extracted, or a file already verified, is skipped without touching the network
(so the archives may be deleted afterwards to save disk space).

  python recipes/librispeech/download.py --data-dir data/librispeech train-clean-100 dev-clean
  python recipes/librispeech/download.py --data-dir data/librispeech 3-gram.pruned.1e-7.arpa.gz
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from asr.download import checksum_algorithm, download, extraction_marker, safe_extract
from asr.errors import AsrError, DownloadError

BASE_URL = "https://www.openslr.org/resources/12"

# Published SHA-256 checksums (https://www.openslr.org/12).
CHECKSUMS = {
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
    "train-clean-100": "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
    "train-clean-360": "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf",
    "train-other-500": "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2",
}

LM_BASE_URL = "https://www.openslr.org/resources/11"

# MD5 checksums of the OpenSLR 11 files (the values that Kaldi-lineage recipes such as lhotse's
# LibriSpeech preparation verify). The n-gram models are upper case, like LibriSpeech's transcripts.
LM_CHECKSUMS = {
    "3-gram.arpa.gz": "74cbb837e582378c26c602e1c8cbcb9c",
    "3-gram.pruned.1e-7.arpa.gz": "9a0f1325bcaf3a0f7b7be4be10823c2a",
    "3-gram.pruned.3e-7.arpa.gz": "8f67ec741827742eee05799ab7605b50",
    "4-gram.arpa.gz": "6abdcd5b055bd482e4f9defe91d40408",
    "librispeech-lexicon.txt": "28f72663f6bfed7cd346283c064c315b",
    "librispeech-vocab.txt": "bf3cc7a50112831ed8b0afa40cae96a5",
    "librispeech-lm-norm.txt.gz": "c83c64c726a1aedfe65f80aa311de402",
}

COMBINATIONS = {
    "train-460": ["train-clean-100", "train-clean-360"],
    "train-960": ["train-clean-100", "train-clean-360", "train-other-500"],
}


def expand(names: list[str]) -> list[str]:
    """Subset and combination names -> distinct subset names, in order."""
    out: list[str] = []
    for name in names:
        for subset in COMBINATIONS.get(name, [name]):
            if subset not in CHECKSUMS and subset not in LM_CHECKSUMS:
                known = ", ".join([*CHECKSUMS, *COMBINATIONS, *LM_CHECKSUMS])
                raise DownloadError(f"unknown LibriSpeech subset or file {name!r} (known: {known})")
            if subset not in out:
                out.append(subset)
    return out


def read_checksums(path: str) -> dict[str, str]:
    """A file of 'NAME DIGEST' lines (SHA-256 or MD5; blank lines and # comments allowed) -> {name: digest}."""
    table: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                fields = line.split()
                if len(fields) != 2 or not re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}", fields[1]):
                    raise DownloadError(f"{path}:{lineno}: expected 'NAME SHA256-or-MD5', got {line!r}")
                table[fields[0]] = fields[1].lower()
    except OSError as exc:
        raise DownloadError(f"{path}: cannot read checksums ({exc.strerror or exc})") from None
    return table


def fetch_lm_file(name: str, data_dir: str, base_url: str, checksum: str, progress: bool) -> None:
    dest = os.path.join(data_dir, "lm", name)
    url = f"{base_url.rstrip('/')}/{name}"
    print(f"{name}: {'verifying' if os.path.exists(dest) else 'downloading ' + url}", file=sys.stderr)
    download(url, dest, checksum, progress=progress)
    print(f"{name}: done, {dest} ({checksum_algorithm(checksum)} verified)", file=sys.stderr)


def fetch_subset(subset: str, data_dir: str, base_url: str, sha256: str, progress: bool) -> None:
    archive = os.path.join(data_dir, "archives", f"{subset}.tar.gz")
    if os.path.exists(extraction_marker(archive, data_dir)):
        print(f"{subset}: already in {os.path.join(data_dir, 'LibriSpeech', subset)}, skipped", file=sys.stderr)
        return
    url = f"{base_url.rstrip('/')}/{subset}.tar.gz"
    print(f"{subset}: downloading {url}", file=sys.stderr)
    download(url, archive, sha256, progress=progress)
    print(f"{subset}: extracting {archive}", file=sys.stderr)
    safe_extract(archive, data_dir)
    if not os.path.isdir(os.path.join(data_dir, "LibriSpeech", subset)):
        raise DownloadError(f"{archive}: has no LibriSpeech/{subset} folder; is it the right archive?")
    print(f"{subset}: done, {os.path.join(data_dir, 'LibriSpeech', subset)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("subsets", nargs="+", metavar="SUBSET",
                        help=f"any of: {', '.join([*CHECKSUMS, *COMBINATIONS, *LM_CHECKSUMS])}")
    parser.add_argument("--data-dir", default="data/librispeech", metavar="DIR",
                        help="archives go to DIR/archives, audio to DIR/LibriSpeech/SUBSET (default: %(default)s)")
    parser.add_argument("--base-url", default=BASE_URL, metavar="URL",
                        help="where SUBSET.tar.gz files are served (a mirror; default: %(default)s)")
    parser.add_argument("--lm-base-url", default=LM_BASE_URL, metavar="URL",
                        help="where the language-model files are served (default: %(default)s)")
    parser.add_argument("--checksums", default=None, metavar="FILE",
                        help="'NAME SHA256-or-MD5' lines that replace the built-in tables (mirrors, tests)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        table = read_checksums(args.checksums) if args.checksums else {**CHECKSUMS, **LM_CHECKSUMS}
        for name in expand(args.subsets):
            if name not in table:
                raise DownloadError(f"{args.checksums}: no checksum for {name}; refusing to download it unverified")
            if name in LM_CHECKSUMS:
                fetch_lm_file(name, args.data_dir, args.lm_base_url, table[name], progress=not args.no_progress)
            else:
                fetch_subset(name, args.data_dir, args.base_url, table[name], progress=not args.no_progress)
    except AsrError as exc:
        print(f"asr: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("asr: error: interrupted (run again to resume the download)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
