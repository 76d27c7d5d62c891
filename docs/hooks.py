"""MkDocs hooks (mkdocs.yml `hooks:`): the parts of the site that are read from the project at build time.

- `cli.md`: the `<!-- cli-reference -->` marker becomes a reference of every `eqn-keras` command, written from
  the real argparse parser (`eqn_keras.cli.build_parser`), so it cannot drift from the code.
- `api.md`: the `<!-- api-reference -->` marker becomes one mkdocstrings `:::` block per public name of
  `eqn_keras` (its `__all__`, grouped by the module that defines each), so a new public name is documented.
- `results/`: every results file of `benchmarks/results/` (markdown, plots, JSON) is published under
  `results/` as it is committed; the pages link to them and strict mode checks those links.
"""

from __future__ import annotations

import argparse
import functools
import html
import sys
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HELP_WIDTH = 74  # characters per line of the usage blocks: what fits a code block of the site at full width
RESULT_FILES = ("*.md", "*.png", "*.json", "*.jsonl", "**/curves_*.png")

if str(ROOT) not in sys.path:  # the clone's eqn_keras, also without an editable install
    sys.path.insert(0, str(ROOT))


_published: set[str] = set()  # the site paths of the results files


def on_files(files, config):
    _published.clear()
    for pattern in RESULT_FILES:
        for path in sorted(RESULTS.glob(pattern)):
            uri = "results/" + path.relative_to(RESULTS).as_posix()
            if uri not in _published:
                _published.add(uri)
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri in _published:  # a results file: its wide tables get the table of contents' room
        page.meta.setdefault("hide", ["toc"])
    if "<!-- cli-reference -->" in markdown:
        markdown = markdown.replace("<!-- cli-reference -->", cli_reference())
    if "<!-- api-reference -->" in markdown:
        markdown = markdown.replace("<!-- api-reference -->", api_reference())
    return markdown


def on_page_content(html_text, page, config, files):
    if page.file.src_uri in _published:  # styled by docs/stylesheets/extra.css
        html_text = f'<div class="results-file">{html_text}</div>'
    return html_text


# ---------------------------------------------------------------------------------------------- CLI reference

def _cell(text) -> str:
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def _subcommands(parser: argparse.ArgumentParser):
    """(name, help, subparser) of each subcommand, in the order they were added (argparse keeps them only
    in these attributes)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings:
            name = ", ".join(f"`{o}`" for o in action.option_strings)
            if action.nargs != 0 and not action.choices:  # choices are listed in the last column
                name += f" `{formatter._format_args(action, formatter._get_default_metavar_for_optional(action))}`"
        else:
            name = f"`{formatter._format_args(action, formatter._get_default_metavar_for_positional(action))}`"
        default = action.default
        shown = "" if default in (None, False, argparse.SUPPRESS) or action.required else f"`{default}`"
        what = formatter._expand_help(action) if action.help else ""
        if action.choices and not isinstance(action.choices, dict):
            what = (what + " " if what else "") + "One of " + ", ".join(f"`{c}`" for c in action.choices) + "."
        if action.required and action.option_strings:
            what = "**Required.** " + what
        rows.append(f"| {name} | {_cell(shown)} | {_cell(what)} |")
    if not rows:
        return []
    return ["| argument | default | what it does |", "|---|---|---|", *rows, ""]


def _command_section(name: str, summary: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    lines = [f"{'#' * level} `{name}`", ""]
    if summary:
        lines += [_cell(summary[0].upper() + summary[1:]) + ".", ""]
    usage = parser.format_usage().replace("usage: ", "", 1).strip()
    lines += ["```text", usage, "```", ""]
    lines += _options_table(parser)
    for sub_name, sub_help, sub in _subcommands(parser):
        lines += _command_section(f"{name} {sub_name}", sub_help, sub, level + 1)
    return lines


def _fixed_width(parser: argparse.ArgumentParser, width: int = HELP_WIDTH) -> None:
    """Format usage and help at a fixed width (argparse otherwise follows the terminal's, $COLUMNS)."""
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=width)
    for _, _, sub in _subcommands(parser):
        _fixed_width(sub, width)


def cli_reference() -> str:
    from eqn_keras.cli import build_parser

    parser = build_parser()
    _fixed_width(parser)
    commands = list(_subcommands(parser))
    lines = ["| command | what it does |", "|---|---|"]
    for name, summary, _ in commands:
        lines.append(f"| [`eqn-keras {name}`](#eqn-keras-{name}) | {_cell(summary)} |")
    lines.append("")
    for name, summary, sub in commands:
        lines += _command_section(f"eqn-keras {name}", summary, sub, 2)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- API reference

def api_reference() -> str:
    import eqn_keras

    by_module: dict[str, list[str]] = {}
    for name, module in eqn_keras._EXPORTS.items():  # grouped by module, in the order __init__ lists them
        if name in eqn_keras.__all__:
            by_module.setdefault(module, []).append(name)
    lines = []
    for module, names in by_module.items():
        lines += [f"## `eqn_keras.{module}`", ""]
        for name in names:
            lines += [f"::: eqn_keras.{module}.{name}", ""]
    return "\n".join(lines)
