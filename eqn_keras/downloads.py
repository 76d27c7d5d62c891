"""The package's one download and unpack helper, used by the dataset loader and the offline encoders.

`fetch_url` lets `keras.utils.get_file` download, check the sha256 (`file_hash=`) and unpack archives;
this module turns its failures into one-line InputErrors. `cache_root` is where both keep what they
fetched: `$EQN_CACHE_DIR`, else `~/.cache/eqn-keras`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path

from .fileio import InputError, sha256_file


class ChecksumError(InputError):
    """A downloaded or cached file whose sha256 does not match the one expected (the file is deleted)."""


def cache_root() -> Path:
    """`$EQN_CACHE_DIR`, else `~/.cache/eqn-keras`: the root of every download cache."""
    env = os.environ.get("EQN_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "eqn-keras"


def one_line(err) -> str:
    """An error's text on one line (whitespace runs, newlines included, become one space)."""
    return " ".join(str(err).split())


def fetch_url(url: str, directory: Path, fname: str, sha256=None, extract: bool = False) -> Path:
    """Download `url` to `directory/fname` with `keras.utils.get_file`.

    get_file checks `sha256` (`file_hash=`) and, with `extract`, unpacks a zip or tar archive into a
    folder next to it (skipping members whose path would leave that folder), whose path is returned
    instead of the file's. Its progress output goes to stderr, so stdout stays a command's own output.
    Raises ChecksumError (the file deleted) on a sha256 mismatch and InputError (one line) on any
    other failure.
    """
    directory.mkdir(parents=True, exist_ok=True)  # else get_file falls back to /tmp/.keras
    from keras.utils import get_file  # imported here: keras pulls in TensorFlow

    target = directory / fname
    try:
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Could not extract archive")  # an InputError below says it
            path = Path(get_file(fname=fname, origin=url, file_hash=sha256, cache_dir=str(directory.parent),
                                 cache_subdir=directory.name, extract=extract, force_download=True))
    except ValueError as err:  # get_file's sha256 mismatch; it leaves the file in place
        if not (sha256 and target.is_file() and "hash does not match" in str(err)):
            raise
        got = sha256_file(target)
        target.unlink()
        raise ChecksumError(f"{target}: sha256 {got} does not match the expected {sha256}; the file from "
                            f"{url} was deleted") from None
    except Exception as err:  # get_file raises bare Exception for URL errors
        target.unlink(missing_ok=True)
        raise InputError(f"{url}: download failed ({one_line(err)}); download it yourself and put "
                         f"'{fname}' in {directory}") from None
    if extract and not path.is_dir():  # get_file only warns when the file is no archive
        target.unlink(missing_ok=True)
        raise InputError(f"{url}: not a zip or tar archive; expected an archive to unpack")
    return path
