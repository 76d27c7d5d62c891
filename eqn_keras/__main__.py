"""`python -m eqn_keras`: the `eqn-keras` command."""

import sys

from .cli import run

sys.exit(run())
