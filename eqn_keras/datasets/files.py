"""Where a named dataset's files come from: the data folder, the download cache, or the card's URL."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..downloads import ChecksumError, cache_root, fetch_url, one_line
from ..fileio import InputError, sha256_file


def default_cache_dir() -> Path:
    """`$EQN_CACHE_DIR`, else `~/.cache/eqn-keras/datasets`."""
    return cache_root() if os.environ.get("EQN_CACHE_DIR") else cache_root() / "datasets"


def _verify(path: Path, expected, url: str, where: str) -> str:
    """'ok' or 'unverified'; on mismatch delete `path` and raise ChecksumError."""
    if not expected:
        return "unverified"
    got = sha256_file(path)
    if got != expected.lower():
        path.unlink(missing_ok=True)
        raise ChecksumError(
            f"{path}: sha256 {got} does not match the dataset card ({expected}); the file from {url} "
            f"was deleted; try again or put a verified copy at {where}"
        )
    return "ok"


def _archive_member(folder: Path, member: str, url: str) -> Path:
    """The file whose base name is `member` in the unpacked archive `folder` (macOS metadata skipped)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    found = [p for p in files if p.name == member and "__MACOSX" not in p.relative_to(folder).parts]
    if not found:
        shown = ", ".join(str(p.relative_to(folder)) for p in files[:10])
        raise InputError(f"{url}: no '{member}' in the archive; found {shown or 'no files'}")
    return found[0]


def fetch_file(card: dict, role: str, data_dir=None, cache_dir=None) -> tuple:
    """Local path of one file of a named dataset and how it was found.

    Looks in `<data_dir or $EQN_DATA_DIR>/<name>/<file>`, then the cache, then downloads the card's URL
    into the cache (extracting it when the card names an archive) and checks its sha256.
    Returns (path, info) where info = {"path", "origin": data_dir|cache|download, "sha256": ok|...}.
    """
    name, spec = card["name"], card["files"][role]
    fname, url, expected = spec["file"], spec.get("url"), spec.get("sha256")
    base = data_dir if data_dir is not None else os.environ.get("EQN_DATA_DIR") or None
    if base is not None:
        local = Path(base).expanduser() / name / fname
        if local.is_file():
            status = "unverified" if not expected else ("ok" if sha256_file(local) == expected else "mismatch")
            return local, {"path": str(local), "origin": "data_dir", "sha256": status}
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = cache / name / fname
    where = (str(Path(base).expanduser() / name / fname) if base is not None
             else f"<data_dir or $EQN_DATA_DIR>/{name}/{fname}")
    if target.is_file():
        try:
            status = _verify(target, expected, "the cache", where)
            return target, {"path": str(target), "origin": "cache", "sha256": status}
        except ChecksumError:
            if not url:
                raise
            # a stale or corrupt cached copy: fetch it again below
    if not url:
        how = one_line(card.get("manual_download") or "")
        raise InputError(
            f"{name}: '{fname}' not found and the dataset has no download URL; get it from "
            f"{card.get('upstream', 'upstream')} and put it at {where} or {target}"
            f"{'; to download: ' + how if how else ''}"
        )
    archive = spec.get("archive")
    try:
        if archive:
            fmt = archive.get("format", "zip")
            if fmt not in ("zip", "tar"):
                raise InputError(f"{card['_path']}: files.{role}.archive.format '{fmt}' is not supported; "
                                 "expected 'zip' or 'tar'")
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f".{fname}.", dir=target.parent) as staging:
                folder = fetch_url(url, Path(staging), archive["file"], archive.get("sha256"), extract=True)
                os.replace(_archive_member(folder, archive.get("member") or fname, url), target)
        else:
            target = fetch_url(url, target.parent, fname, expected)
    except ChecksumError as err:
        raise ChecksumError(f"{err}; try again or put a verified copy at {where}") from None
    status = _verify(target, expected, url, where) if archive else ("ok" if expected else "unverified")
    return target, {"path": str(target), "origin": "download", "url": url, "sha256": status}
