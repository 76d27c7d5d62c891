"""The one row validator every reader shares: texts and label cells in, a TextDataset out, and on bad
input one InputError line naming the file, the row (or line) and the column."""

from __future__ import annotations

from .names import INT_RE, show_names
from .splits import TextDataset
from ..fileio import InputError

SEPARATORS = (",", ";", "|", "\t")


def _sep_hint(cell, label_sep) -> str:
    """A hint when a label cell looks like it uses another separator."""
    raw = cell if isinstance(cell, str) else ""
    for sep in SEPARATORS:
        if sep != label_sep and sep in raw:
            shown = "'\\t'" if sep == "\t" else repr(sep)
            if label_sep is None:
                return f"; if rows hold several labels, pass label_sep={shown}"
            return f"; the cell contains {shown}: is label_sep {shown} rather than {label_sep!r}?"
    return ""


def cell_tokens(cell, sep=None) -> list:
    """The label tokens of one cell: a list cell's items, the cell split on `sep`, or the cell itself."""
    if isinstance(cell, (list, tuple)):
        return [str(t).strip() for t in cell]
    if not isinstance(cell, str):  # a missing cell (None, NaN)
        return []
    if sep:
        return [t.strip() for t in cell.split(sep) if t.strip()]
    return [cell.strip()] if cell.strip() else []


class LabelMap:
    """How a file's label cells name labels: by name (or by `values`, one per label id), by integer id,
    or both; several labels in a cell are separated by `sep` (or the cell is a list). With `sep_hint`
    (user files, whose `label_sep` the user chose), an unknown label's message suggests another separator
    the cell contains."""

    def __init__(self, names, *, by_name: bool = True, by_id: bool = True, values=None, sep=None,
                 sep_hint: bool = False):
        self.names = list(names)
        self.tokens = [str(v) for v in values] if values is not None else (self.names if by_name else [])
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.by_id = by_id
        self.sep = sep
        self.sep_hint = sep_hint

    def _expected(self) -> str:
        last = len(self.names) - 1
        if self.tokens and self.by_id:
            what = f"one of {show_names(self.tokens)} or an id 0..{last}"
        elif self.tokens:
            what = f"one of {show_names(self.tokens)}"
        else:
            what = f"an id 0..{last} ({show_names(self.names)})"
        return f"{what}, several separated by {self.sep!r}" if self.sep else what

    def lookup(self, token: str, where: str, column: str, cell) -> int:
        """The label id of `token`; InputError naming `where` and `column` when there is none."""
        if token in self.index:
            return self.index[token]
        hint = _sep_hint(cell, self.sep) if self.sep_hint else ""
        if self.by_id and INT_RE.fullmatch(token):
            value, last = int(token), len(self.names) - 1
            if 0 <= value <= last:
                return value
            raise InputError(f"{where}: label id {value} in {column} is out of range; expected 0..{last} "
                             f"({show_names(self.names)}){hint}")
        raise InputError(f"{where}: unknown label {token!r} in {column}; expected {self._expected()}{hint}")


def crlf(text: str) -> str:
    """Windows line breaks inside a (quoted) text become plain newlines."""
    return text.replace("\r\n", "\n") if "\r" in text else text


def validate_rows(path, lines, texts, cells, label_map: LabelMap, *, columns=("column 'text'", "column 'label'"),
                  unit: str = "row", drop_empty: bool = False, drop_unlabelled: bool = False) -> tuple:
    """(TextDataset, dropped-row counts) of a reader's rows, checked the same way for every reader.

    `lines` numbers the rows in messages: `<path>: row N` (data rows counted from 1) or, with
    unit="line", `<path>:N` (a line of the file). `columns` says where the text and the label cell are
    ("column 'text'", "column 2", ...). A text must be a non-empty string: with `drop_empty`, empty and
    whitespace-only texts are dropped and counted (empty_text, whitespace_text) instead. A label cell
    must hold labels `label_map` knows: with `drop_unlabelled`, a cell without labels is dropped and
    counted (no_label). Windows line breaks in texts become newlines; repeated labels count once.
    """
    text_col, label_col = columns
    dropped = {**({"empty_text": 0, "whitespace_text": 0} if drop_empty else {}),
               **({"no_label": 0} if drop_unlabelled else {})}
    out_texts, out_labels = [], []
    for line, text, cell in zip(lines, texts, cells):
        where = f"{path}:{line}" if unit == "line" else f"{path}: row {line}"
        if text is None or (isinstance(text, float) and text != text):  # a missing cell (None, NaN)
            text = ""
        if not isinstance(text, str):
            raise InputError(f"{where}: {text_col} holds {type(text).__name__}; expected text")
        if not text.strip():
            if not drop_empty:
                raise InputError(f"{where}: text in {text_col} is empty; expected non-empty text")
            dropped["whitespace_text" if text else "empty_text"] += 1
            continue
        tokens = cell_tokens(cell, label_map.sep)
        if not tokens and drop_unlabelled:
            dropped["no_label"] += 1
            continue
        if not tokens or not all(tokens):
            several = label_map.sep or isinstance(cell, (list, tuple))
            raise InputError(f"{where}: label in {label_col} is empty; expected "
                             f"{'one or more labels' if several else 'a label'}")
        ids = [label_map.lookup(t, where, label_col, cell) for t in tokens]
        out_texts.append(crlf(text))
        out_labels.append(tuple(dict.fromkeys(ids)))
    return TextDataset(out_texts, out_labels), dropped
