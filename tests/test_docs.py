"""Every `eqn-keras` command shown in the README and the notebooks parses with the real CLI."""

import json
import re
import shlex
from pathlib import Path

import pytest

from eqn_keras.cli import parse_command

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split("#")[0] if not line.lstrip().startswith("TF_CONFIG") else line
            match = re.search(r"(?:^|&&\s*|\s)(eqn-keras\s.*)$", line.strip())
            if match:
                commands.append(match.group(1).split(" && ")[0].split(" | ")[0])
    return commands


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
    assert len(_readme_commands()) >= 10 and len(_notebook_commands()) >= 3
    assert {c.split()[1] for c in _notebook_commands()} >= {"annotate", "evaluate", "export"}


@pytest.mark.parametrize("command", _readme_commands() + _notebook_commands())
def test_command_parses(command):
    args = shlex.split(command.replace("$(", "").replace('"$PWD', '"'))[1:]
    parse_command(args)
