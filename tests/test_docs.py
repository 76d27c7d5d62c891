"""The documentation against the code and the results: every `eqn-keras` command shown in the README, the
documentation pages (docs/) and the notebooks parses with the real CLI; every results table in the README and
the docs that names its results file equals that file, cell for cell; the CLI reference covers every option."""

import argparse
import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest

from eqn_keras.cli import build_parser, parse_command

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _page_commands(path):
    text = path.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("#")[0] if not line.lstrip().startswith("TF_CONFIG") else line
            match = re.search(r"(?:^|&&\s*|\s)(eqn-keras\s.*)$", line.strip())
            if match:
                commands.append(match.group(1).split(" && ")[0].split(" | ")[0])
    return commands


def _doc_commands():
    return [(f"{path.relative_to(ROOT)}:{n}", command)
            for path in PAGES for n, command in enumerate(_page_commands(path))]


# A notebook's shell cell runs the CLI with the kernel's own Python: `!{sys.executable} -m eqn_keras ...`
NOTEBOOK_CLI = re.compile(r"^!(?:eqn-keras|\{sys\.executable\} -m eqn_keras) (.*)$")


def _notebook_commands():
    commands = []
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for line in cell["source"]:
                match = NOTEBOOK_CLI.match(line.strip().lstrip("#").strip())
                if match and "--help" not in line:
                    # IPython fills {name} from the notebook's variables: a number stands in for any option
                    commands.append("eqn-keras " + re.sub(r"\{[^{}]*\}", "1", match.group(1)).split(" | ")[0])
    return commands


def test_docs_have_commands():
    by_page = {path.name: len(_page_commands(path)) for path in PAGES}
    assert by_page["README.md"] >= 5 and sum(by_page.values()) >= 40, by_page
    assert len(_notebook_commands()) >= 3
    assert {c.split()[1] for c in _notebook_commands()} >= {"annotate", "evaluate", "export"}


@pytest.mark.parametrize("command", [c for _, c in _doc_commands()] + _notebook_commands(),
                         ids=[w for w, _ in _doc_commands()] + [f"notebook:{n}" for n in range(len(_notebook_commands()))])
def test_command_parses(command):
    args = shlex.split(command.replace("$(", "").replace('"$PWD', '"'))[1:]
    parse_command(args)


BENCHMARK_DOCS = [ROOT / "CONTRIBUTING.md", *PAGES, *sorted((ROOT / "benchmarks").glob("*.py"))]


def test_benchmark_commands_run_scripts_as_modules():
    """The benchmark scripts import their neighbours as a package: a command shown as `python benchmarks/x.py` fails
    with an ImportError, and `python -m benchmarks.x` must name a script that exists."""
    modules = []
    for path in BENCHMARK_DOCS:
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"python3? benchmarks/(\w+)\.py", text):
            assert "from ." not in (ROOT / "benchmarks" / f"{name}.py").read_text(encoding="utf-8"), \
                f"{path.relative_to(ROOT)}: run benchmarks/{name}.py as python -m benchmarks.{name}"
        modules += [(path, name) for name in re.findall(r"python3? -m benchmarks\.(\w+)", text)]
    assert len(modules) >= 20, modules
    for path, name in modules:
        assert (ROOT / "benchmarks" / f"{name}.py").is_file(), f"{path.relative_to(ROOT)}: no benchmarks/{name}.py"


# ---------------------------------------------------------------------------------------- results tables

def _tables(text):
    """The markdown tables of a text, each a list of rows (dicts from header to cell, stripped)."""
    tables, lines = [], text.splitlines() + [""]
    start = None
    for i, line in enumerate(lines):
        if line.startswith("|") and start is None:
            start = i
        elif not line.startswith("|") and start is not None:
            block = [[c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]] for row in lines[start:i]]
            if len(block) >= 2 and set("".join(block[1])) <= set("-: "):
                tables.append([dict(zip(block[0], cells)) for cells in block[2:]])
            start = None
    return tables


def _cited_tables():
    """(page, row) for every row of a table with a "copied from" column: the row's numbers are copied from the
    results file that column links to."""
    rows = []
    for page in PAGES:
        for table in _tables(page.read_text(encoding="utf-8")):
            rows += [(page, row) for row in table if "copied from" in row]
    return rows


def _source_file(page, cell):
    match = re.search(r"\]\(([^)#]+)", cell)
    assert match, f"{page.name}: source cell {cell!r} links no file"
    path = (page.parent / match.group(1)).resolve()
    if not path.exists() and page.parent == ROOT / "docs" / "results":
        path = RESULTS / match.group(1)  # the site publishes benchmarks/results/ under results/ (docs/hooks.py)
    assert path.is_file(), f"{page.name}: {match.group(1)} is not a file"
    return path


def _matches(readme_row, file_row):
    """A table row of a page names its results row by arch and dataset, and by the start of its setup."""
    for column in ("arch", "dataset", "setup"):
        if column not in readme_row:
            continue
        mine, theirs = readme_row[column], file_row.get(column, "")
        if not (theirs == mine or (column == "setup" and theirs.startswith(mine + ";"))):
            return False
    return True


def test_results_tables_cite_files():
    pages = {page.name for page, _ in _cited_tables()}
    assert "README.md" in pages and len(_cited_tables()) >= 5, pages


@pytest.mark.parametrize("page,row", _cited_tables(),
                         ids=[f"{p.name}:{r.get('arch')}:{r.get('dataset')}" for p, r in _cited_tables()])
def test_results_table_equals_its_file(page, row):
    source = _source_file(page, row["copied from"])
    columns = [c for c in row if c != "copied from"]
    candidates = [r for table in _tables(source.read_text(encoding="utf-8")) if set(columns) <= set(table[0] if table else {})
                  for r in table if _matches(row, r)]
    assert len(candidates) == 1, (f"{page.name}: {len(candidates)} rows of {source.name} have columns {columns} "
                                  f"and match {row}")
    found = candidates[0]
    wrong = {c: (row[c], found[c]) for c in columns if c != "setup" and row[c] != found[c]}
    assert not wrong, f"{page.name} row {row.get('arch')}/{row.get('dataset')}: (page, {source.name}) differ: {wrong}"


# ---------------------------------------------------------------------------------------- CLI reference

def _load_hooks():
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


def _all_parsers(parser, name="eqn-keras"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _all_parsers(sub, f"{name} {sub_name}")


def test_cli_reference_covers_every_command_and_option():
    reference = _load_hooks().cli_reference()
    for name, parser in _all_parsers(build_parser()):
        if name != "eqn-keras":
            assert f"`{name}`" in reference, f"no section for {name}"
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in reference, f"{name} {option} missing from the CLI reference"
