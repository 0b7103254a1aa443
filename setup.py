"""The compiled parser, ``exporter/inference_exporter/_fastparse.pyx`` (docs/performance.md).

Optional: where no C compiler is at hand the build goes on without it and the exporter parses
with ``parser.py`` alone (the same results, about five times the CPU per page). Everything else
about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # pyproject's build requirements bring Cython; a source distribution needs none
    cythonize = None

extension = Extension(
    "inference_exporter._fastparse",
    ["exporter/inference_exporter/_fastparse.pyx"],
    optional=True,  # a failed compile leaves it out instead of failing the install
)
setup(ext_modules=cythonize([extension], quiet=True) if cythonize is not None else [])
