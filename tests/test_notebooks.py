"""The notebooks in notebooks/: every .ipynb holds exactly the cells of its jupytext .py source and no
outputs, and every notebook runs top to bottom at its small setting (EQN_NOTEBOOK_SMALL=1) against the
real datasets (skipped without EQN_DATA_DIR), in a kernel whose PATH lacks the environment's scripts (a
Jupyter started as venv/bin/jupyter, the environment not activated), with no error in any cell's output."""

import importlib.util
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

from eqn_keras.encoders import resolve_encoder

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT_S = 900
# The environment's console scripts: a notebook that calls one by name works only where it is on PATH.
SCRIPTS = ("eqn-keras", "saved_model_cli", "jupyter")
# Run first in the kernel: every shell command (`!cmd`, IPython's system) that exits non-zero raises, so the
# cell that ran it fails; IPython itself only sets _exit_code and prints the shell's complaint.
CHECK_SHELL = """\
def _eqn_check_shell(cmd, _system=get_ipython().system):
    _system(cmd)
    if get_ipython().user_ns.get("_exit_code"):
        raise RuntimeError(f"shell command exited with status {get_ipython().user_ns['_exit_code']}: {cmd}")
get_ipython().system = _eqn_check_shell
"""
# Output text that means a step failed even though no exception reached the kernel (a shell command in a
# pipeline, a subprocess that printed its traceback).
ERROR_TEXT = re.compile(r"command not found|No such file or directory|No module named|"
                        r"Traceback \(most recent call last\)|^[\w.-]*(Error|: error): ", re.M)


def _sync():
    """notebooks/sync.py as a module: how a .py source becomes its .ipynb."""
    spec = importlib.util.spec_from_file_location("notebooks_sync", NOTEBOOKS / "sync.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STEMS = [p.stem for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))]


def _cells(nb):
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def test_every_notebook_has_its_source():
    assert len(STEMS) >= 3
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == STEMS


@pytest.mark.parametrize("stem", STEMS)
def test_notebook_matches_its_source(stem):
    import nbformat

    sync = _sync()
    py = NOTEBOOKS / f"{stem}.py"
    repo = sync.repository()
    assert py.read_text(encoding="utf-8") == sync.source_text(py, repo), \
        "badge or install source differs from notebooks/README.md: run python notebooks/sync.py"
    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert _cells(nb) == _cells(sync.notebook(py.read_text(encoding="utf-8"))), \
        f"{stem}.ipynb differs from {stem}.py: run python notebooks/sync.py"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{stem}.ipynb carries outputs"
    assert sum("parameters" in tags for _, _, tags in _cells(nb)) == 1
    assert sync.badge_url(stem, repo) in nb.cells[0].source


@pytest.mark.parametrize("stem", STEMS)
def test_shell_cells_use_the_kernels_python(stem):
    """A shell command names no console script (`!eqn-keras`, `!saved_model_cli`): outside an activated
    environment those are not on PATH, so each runs as `!{sys.executable} -m module` instead."""
    import nbformat

    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    shell = [line.strip() for cell in nb.cells if cell.cell_type == "code"
             for line in cell.source.splitlines() if line.strip().startswith("!")]
    assert all(line.startswith("!{sys.executable} -m ") for line in shell), shell


@pytest.mark.integration
@pytest.mark.parametrize("stem", STEMS)
def test_notebook_runs_at_small_setting(stem, tmp_path, monkeypatch):
    """Every cell runs without raising, in a fresh kernel whose working directory is a temporary folder."""
    if not os.environ.get("EQN_DATA_DIR"):
        pytest.skip("EQN_DATA_DIR is not set (the notebooks train on the real datasets)")
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("EQN_DATA_DIR", str(Path(os.environ["EQN_DATA_DIR"]).resolve()))
    monkeypatch.setenv("EQN_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("PATH", _path_without_scripts())
    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(CHECK_SHELL))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, if any cell raises or any `!cmd` fails
    print(f"{stem}: {time.perf_counter() - started:.0f} s at the small setting")
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    for index, cell in enumerate(nb.cells[1:]):
        text = "".join(_output_text(o) for o in cell.get("outputs", []))
        match = ERROR_TEXT.search(text)
        assert match is None, f"{stem} cell {index}: error in its output: {text[max(0, match.start() - 300):][:800]}"
    if stem.startswith("03_"):
        # On a CPU it fine-tunes the MiniLM that `eqn-keras encoder get minilm` (CI's setup step) put in the
        # cache, then exports and serves it; only when that was not fetched does it fall back to TextCNN.
        minilm = resolve_encoder("minilm")
        (config,) = [json.loads(path.read_text()) for path in tmp_path.glob("runs/*/config.json")]
        if minilm is not None:
            assert config["config"]["arch"] == "bert" and config["bert_preset"] == str(minilm)


def _output_text(output) -> str:
    """The text a cell output shows: a stream's text, or the text/plain of a result or display."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return output.get("data", {}).get("text/plain", "") if output.get("output_type") != "error" else ""


def _path_without_scripts() -> str:
    """PATH without the folders holding the environment's console scripts (its bin/ among them)."""
    bin_dir = Path(sys.executable).parent.resolve()
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and Path(d).resolve() != bin_dir and not any(shutil.which(s, path=d) for s in SCRIPTS)]
    path = os.pathsep.join(kept)
    assert not any(shutil.which(s, path=path) for s in SCRIPTS)
    return path


def test_path_without_scripts_hides_the_console_scripts(monkeypatch, tmp_path):
    """A PATH whose entries hold an eqn-keras script (the environment's bin/, a shim folder) loses them."""
    scripts = tmp_path / "venv-bin"
    scripts.mkdir()
    script = scripts / "eqn-keras"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join([str(scripts), "/usr/bin", "/bin"]))
    assert shutil.which("eqn-keras") == str(script)
    path = _path_without_scripts()
    assert str(scripts) not in path.split(os.pathsep) and "/bin" in path.split(os.pathsep)


@pytest.mark.parametrize("text, error", [
    ("/bin/sh: 1: eqn-keras: command not found\n", True),
    ("bash: line 1: saved_model_cli: command not found\n", True),
    ("/usr/bin/python: No module named eqn_kera\n", True),
    ("Traceback (most recent call last):\n  File ...\n", True),
    ("eqn-keras: error: run/: no config.json\n", True),
    ("InputError: bad\n", True),
    ("stage eqn, dev-tuned threshold h = 0.412\nmacro_f1 0.51 (mean error 0.2)\n", False),
])
def test_error_text(text, error):
    assert bool(ERROR_TEXT.search(text)) is error
