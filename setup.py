"""setuptools entry point: the metadata, the package data (the JSON presets) and the dependencies are in setup.cfg."""

from setuptools import setup

setup()
