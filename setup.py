"""The one compiled piece: nom._unnamed (see nom/inflight.py). Optional: without a C compiler the install
goes on and nom.inflight does the same in Python, more slowly. Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("nom._unnamed", ["nom/_unnamed.c"], optional=True)])
