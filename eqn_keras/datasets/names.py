"""Label names: given by the user (a list, a comma-separated string or a file) or inferred from the labels."""

from __future__ import annotations

import re
from pathlib import Path

from ..fileio import InputError, read_text

INT_RE = re.compile(r"[+-]?\d+")


def parse_label_names(spec) -> list | None:
    """Label names from a list, a comma-separated string, or a path to a file of one name per line."""
    if spec is None:
        return None
    if isinstance(spec, (list, tuple)):
        names = [str(n).strip() for n in spec]
        source = "label_names"
    else:
        text = str(spec)
        if "," in text and not Path(text).is_file():
            names = [n.strip() for n in text.split(",")]
            source = "label_names"
        else:
            path = Path(text).expanduser()
            names = [line.strip() for line in read_text(path).splitlines() if line.strip()]
            source = str(path)
            if not names:
                raise InputError(f"{path}: no label names; expected one name per line")
    for i, name in enumerate(names, 1):
        if not name:
            raise InputError(f"{source}: label name {i} is empty; expected non-empty names")
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"{source}: label name '{name}' appears twice; expected unique names")
        seen.add(name)
    if not names:
        raise InputError(f"{source}: no label names given")
    return names


def show_names(names, limit: int = 8) -> str:
    """The first `limit` names quoted, and how many there are when there are more."""
    shown = ", ".join(repr(n) for n in names[:limit])
    more = f", ... ({len(names)} names)" if len(names) > limit else ""
    return shown + more


def infer_label_names(tokens) -> list:
    """Names for labels given without `label_names`: "0".."max" for integer ids, else sorted unique names."""
    tokens = set(tokens)
    if tokens and all(INT_RE.fullmatch(t) and int(t) >= 0 for t in tokens):
        return [str(i) for i in range(max(int(t) for t in tokens) + 1)]
    if tokens and all(INT_RE.fullmatch(t) for t in tokens):
        return sorted(tokens, key=int)
    return sorted(tokens)
