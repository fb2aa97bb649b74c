"""Download and extract LibriSpeech subsets (OpenSLR resource 12), checksum-verified and resumable.

Archives go to DATA_DIR/archives/SUBSET.tar.gz and are extracted to DATA_DIR/LibriSpeech/SUBSET.
An interrupted download resumes where it stopped; a subset already extracted is skipped without
touching the network (so the archives may be deleted afterwards to save disk space).

  python recipes/librispeech/download.py --data-dir data/librispeech train-clean-100 dev-clean
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from asr.download import download, extraction_marker, safe_extract
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

COMBINATIONS = {
    "train-460": ["train-clean-100", "train-clean-360"],
    "train-960": ["train-clean-100", "train-clean-360", "train-other-500"],
}


def expand(names: list[str]) -> list[str]:
    """Subset and combination names -> distinct subset names, in order."""
    out: list[str] = []
    for name in names:
        for subset in COMBINATIONS.get(name, [name]):
            if subset not in CHECKSUMS:
                known = ", ".join([*CHECKSUMS, *COMBINATIONS])
                raise DownloadError(f"unknown LibriSpeech subset {name!r} (known: {known})")
            if subset not in out:
                out.append(subset)
    return out


def read_checksums(path: str) -> dict[str, str]:
    """A file of 'SUBSET SHA256' lines (blank lines and # comments allowed) -> {subset: digest}."""
    table: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                fields = line.split()
                if len(fields) != 2 or not re.fullmatch(r"[0-9a-fA-F]{64}", fields[1]):
                    raise DownloadError(f"{path}:{lineno}: expected 'SUBSET SHA256', got {line!r}")
                table[fields[0]] = fields[1].lower()
    except OSError as exc:
        raise DownloadError(f"{path}: cannot read checksums ({exc.strerror or exc})") from None
    return table


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
                        help=f"any of: {', '.join([*CHECKSUMS, *COMBINATIONS])}")
    parser.add_argument("--data-dir", default="data/librispeech", metavar="DIR",
                        help="archives go to DIR/archives, audio to DIR/LibriSpeech/SUBSET (default: %(default)s)")
    parser.add_argument("--base-url", default=BASE_URL, metavar="URL",
                        help="where SUBSET.tar.gz files are served (a mirror; default: %(default)s)")
    parser.add_argument("--checksums", default=None, metavar="FILE",
                        help="'SUBSET SHA256' lines that replace the built-in table (mirrors, tests)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        table = read_checksums(args.checksums) if args.checksums else CHECKSUMS
        for subset in expand(args.subsets):
            if subset not in table:
                raise DownloadError(f"{args.checksums}: no checksum for {subset}; refusing to download it unverified")
            fetch_subset(subset, args.data_dir, args.base_url, table[subset], progress=not args.no_progress)
    except AsrError as exc:
        print(f"asr: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("asr: error: interrupted (run again to resume the download)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
