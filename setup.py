"""The compiled parts: the parser, ``exporter/inference_exporter/_fastparse.pyx``, and the value
formatter, ``_fastformat.pyx`` (docs/performance.md).

Optional: where no C compiler is at hand the build goes on without them and the exporter runs
their Python twins alone (``parser.py``, ``exposition.format_value_python``: the same results,
about five times the CPU per page for the parser). Everything else about the package is in
pyproject.toml.
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # pyproject's build requirements bring Cython; a source distribution needs none
    cythonize = None

extensions = [
    Extension(
        f"inference_exporter.{name}",
        [f"exporter/inference_exporter/{name}.pyx"],
        optional=True,  # a failed compile leaves it out instead of failing the install
    )
    for name in ("_fastparse", "_fastformat")
]
setup(ext_modules=cythonize(extensions, quiet=True) if cythonize is not None else [])
