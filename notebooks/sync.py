"""Write each notebook's .ipynb from its source, the jupytext percent-format .py beside it.

    python notebooks/sync.py          # after editing a notebooks/NN_*.py
    python notebooks/sync.py --check  # exit 1, naming the files, if any would change

The .py files are the sources; the .ipynb files are generated with no outputs and stable cell ids, so a
diff shows only what the source changed. Each notebook must run alone (Colab opens one file), so the
install and runtime cells stand in every notebook; their source is 01_quickstart.py's, copied into the
others from its "## Install" heading to its "## Parameters" heading. The repository address lives in one
place, the "GitHub repository" line of notebooks/README.md: this script writes it into every notebook's
"Open in Colab" badge and into the install cell's EQN_KERAS_SOURCE (until it is set, the badge opens
Colab's page for opening a notebook from GitHub and the install cell installs from the clone or an
uploaded wheel).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent
COLAB = "https://colab.research.google.com/github/"
BADGE_RE = re.compile(r"(\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\()"
                      r"[^)]*(\))")
SOURCE_RE = re.compile(r'^(EQN_KERAS_SOURCE = )"[^"]*"', re.M)
REPO_RE = re.compile(r"^GitHub repository: `([^`]*)`", re.M)
SHARED_FROM = "01_quickstart.py"  # the notebook whose install and runtime cells the others repeat
SHARED_RE = re.compile(r"^# %% \[markdown\]\n# ## Install\n.*?(?=^# %% \[markdown\]\n# ## Parameters\n)", re.M | re.S)


def notebook_sources(folder: Path = HERE) -> list:
    """The notebook sources: NN_name.py files (sync.py itself is not one)."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.py"))


def repository(readme: Path = HERE / "README.md") -> str | None:
    """'owner/name' from README's GitHub repository line, or None while it is not set."""
    match = REPO_RE.search(readme.read_text(encoding="utf-8"))
    value = match.group(1).strip() if match else ""
    return value if re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", value) else None


def badge_url(stem: str, repo: str | None) -> str:
    return f"{COLAB}{repo}/blob/main/notebooks/{stem}.ipynb" if repo else COLAB


def install_source(repo: str | None) -> str:
    return f"git+https://github.com/{repo}.git" if repo else ""


def shared_cells(folder: Path = HERE) -> str:
    """The install and runtime cells of SHARED_FROM, as percent-format source."""
    match = SHARED_RE.search((folder / SHARED_FROM).read_text(encoding="utf-8"))
    if match is None:
        raise SystemExit(f"{SHARED_FROM}: no '## Install' ... '## Parameters' cells to share")
    return match.group(0)


def source_text(path: Path, repo: str | None) -> str:
    """The .py source with the shared cells, the badge and the install source set for `repo`."""
    text = path.read_text(encoding="utf-8")
    if path.name != SHARED_FROM:
        if not SHARED_RE.search(text):
            raise SystemExit(f"{path.name}: no '## Install' ... '## Parameters' cells to replace")
        shared = shared_cells(path.parent)
        text = SHARED_RE.sub(lambda m: shared, text, count=1)
    text = BADGE_RE.sub(lambda m: m.group(1) + badge_url(path.stem, repo) + m.group(2), text)
    return SOURCE_RE.sub(lambda m: f'{m.group(1)}"{install_source(repo)}"', text)


def notebook(text: str):
    """The .ipynb of a percent-format source: no outputs, cell ids numbered in order."""
    nb = jupytext.reads(text, fmt="py:percent")
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    args = parser.parse_args(argv)
    repo, stale = repository(), []
    for py in notebook_sources():
        text = source_text(py, repo)
        ipynb = py.with_suffix(".ipynb")
        rendered = nbformat.writes(notebook(text)) + "\n"
        for path, content in ((py, text), (ipynb, rendered)):
            if not path.is_file() or path.read_text(encoding="utf-8") != content:
                stale.append(path.name)
                if not args.check:
                    path.write_text(content, encoding="utf-8")
    verb = "would change" if args.check else "written"
    print(f"{verb}: {', '.join(stale)}" if stale else "notebooks up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
