"""The one compiled piece: nom.store.commit._unnamed (see nom/store/commit/files.py). Optional: without a C compiler
the install goes on and nom.store.commit does the same in Python, more slowly. Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("nom.store.commit._unnamed", ["nom/store/commit/_unnamed.c"], optional=True)])
