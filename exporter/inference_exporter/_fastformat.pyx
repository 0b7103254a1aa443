# cython: language_level=3, boundscheck=False, wraparound=False
"""A sample value as exposition text, compiled: ``exposition.format_value_python`` in C.

Every served sample's value goes through it (a fleet target's page: about 150 a collection).
The same text for every float: an integral value within +-1e15 as an integer, NaN and the
infinities by name, anything else as ``repr``; a value that is not a float goes to the Python
version. Tests: tests/core/test_exposition_values.py.
"""

from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from libc.stdio cimport snprintf


cdef extern from "Python.h":
    object PyUnicode_DecodeASCII(const char *s, Py_ssize_t size, const char *errors)
    object PyObject_Repr(object o)


cdef double INF = float("inf")
cdef object _fallback = repr


def set_fallback(f):
    """What formats a value that is not a float (exposition.py sets its Python version)."""
    global _fallback
    _fallback = f


def format_value(v):
    """The text of V."""
    cdef double d
    cdef long long i
    cdef char buf[24]
    cdef int n
    if not PyFloat_CheckExact(v):
        return _fallback(v)
    d = PyFloat_AS_DOUBLE(v)
    if -1e15 < d < 1e15:
        i = <long long>d
        if i == d:
            n = snprintf(buf, 24, "%lld", i)
            return PyUnicode_DecodeASCII(buf, n, NULL)
        return PyObject_Repr(v)
    if d != d:
        return "NaN"
    if d == INF:
        return "+Inf"
    if d == -INF:
        return "-Inf"
    return PyObject_Repr(v)
