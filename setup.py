"""setuptools entry point: the metadata is in setup.cfg; this file adds the presets build step.

The JSON presets live in the top-level `models/` and `datasets/` folders, the one place people read
and edit them. `build_py` copies them into the built package as `eqn_keras/presets/<kind>/*.json`,
so wheels (and `pip install .`, `--user`, `--target`) carry them as package data, read with
importlib.resources by `eqn_keras.presets`. Editable installs skip the copy and read the top-level
folders directly.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PRESET_KINDS = ("models", "datasets")


class build_py_with_presets(build_py):
    """build_py, then copy models/*.json and datasets/*.json into eqn_keras/presets/ of the build."""

    def _preset_files(self):
        for kind in PRESET_KINDS:
            for src in sorted((ROOT / kind).glob("*.json")):
                yield src, Path(self.build_lib, "eqn_keras", "presets", kind, src.name)

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # editable installs read the top-level folders
            return
        files = list(self._preset_files())
        if not files:
            raise SystemExit(f"no preset JSON files in {', '.join(str(ROOT / k) for k in PRESET_KINDS)}")
        for src, dst in files:
            self.mkpath(str(dst.parent))
            self.copy_file(str(src), str(dst))

    def get_outputs(self, include_bytecode=1):
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(dst) for _, dst in self._preset_files()]


setup(cmdclass={"build_py": build_py_with_presets})
