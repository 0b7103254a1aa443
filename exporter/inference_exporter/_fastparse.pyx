# cython: language_level=3, boundscheck=True, wraparound=False, initializedcheck=True
"""``parser.parse`` compiled, for the pages nearly every target sends: printable ASCII lines.

``parser.py`` is the reference. This module runs the same steps on the bytes of the page, a
line at a time, without building a Python object for what it only looks at (a line, a family it
does not want, a value), and calls back into ``parser.py`` for everything rare (``# TYPE``
lines, exemplars, label sets it has not seen, resets). A page holding any byte outside
printable ASCII and the newline (UTF-8, tabs, carriage returns, other control characters)
goes to ``parser.py`` whole: that is where Unicode whitespace and decoding are handled, and the
two can only differ where this module reads bytes.

Every index is checked against the line's end before it is read; the tests compare both
parsers on generated and hostile pages (``tests/exporter/test_fastparse.py``).
"""

from cpython cimport array
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_Clear
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.string cimport memchr, memcmp

from . import parser as _py

cdef extern from "Python.h":
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *overflow_exception)
    bint PyUnicode_IS_COMPACT_ASCII(object o)
    void *PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)

cdef double INF = float("inf")


cdef inline Py_ssize_t _find(const char *s, Py_ssize_t start, Py_ssize_t end, char c):
    """Index of C in s[start:end], or -1."""
    cdef const char *hit
    if start >= end:
        return -1
    hit = <const char *>memchr(s + start, c, end - start)
    return -1 if hit == NULL else hit - s


cdef inline Py_ssize_t _rfind(const char *s, Py_ssize_t start, Py_ssize_t end, char c):
    cdef Py_ssize_t i = end - 1
    while i >= start:
        if s[i] == c:
            return i
        i -= 1
    return -1


cdef inline bint _contains(const char *s, Py_ssize_t start, Py_ssize_t end, const char *needle, Py_ssize_t n):
    cdef Py_ssize_t i = start
    while i + n <= end:
        if s[i] == needle[0] and memcmp(s + i, needle, n) == 0:
            return True
        i += 1
    return False


cdef inline str _text(const char *s, Py_ssize_t start, Py_ssize_t end):
    if end <= start:
        return ""
    return PyUnicode_DecodeASCII(s + start, end - start, NULL)


def plain(text):
    """Whether this module parses TEXT: bytes of printable ASCII and newlines only."""
    if not isinstance(text, bytes):
        return False
    cdef const unsigned char *s = <const unsigned char *>PyBytes_AS_STRING(text)
    cdef Py_ssize_t i, n = PyBytes_GET_SIZE(text)
    cdef unsigned char bad = 0
    for i in range(n):  # branch-free, so the compiler vectorizes it
        bad |= (<unsigned char>(s[i] - 0x20) > 0x5E) & (s[i] != 0x0A)
    return not bad


cdef inline void _append_key(array.array keys, long long key):
    cdef Py_ssize_t n = len(keys)
    array.resize_smart(keys, n + 1)
    keys.data.as_longlongs[n] = key


cdef inline void _append_value(array.array values, double value):
    cdef Py_ssize_t n = len(values)
    array.resize_smart(values, n + 1)
    values.data.as_doubles[n] = value


def parse(
    text,
    wanted=None,
    label_cache=None,
    resets=None,
    check_labels=None,
    Py_ssize_t sample_limit=0,
):
    """``parser.parse``, the same arguments and result; pages it does not read go there."""
    if not plain(text):
        return _py.parse_python(text, wanted, label_cache, resets, check_labels, sample_limit)
    cdef bytes page = text
    cdef const char *s = PyBytes_AS_STRING(page)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(page)
    cdef Py_ssize_t pos = 0, start, end, nl, brace, space, close, i, value_start, value_end
    cdef Py_ssize_t name_end, position = 0, invalid = 0, count = 0, marked = 0
    cdef Py_ssize_t last_start = 0, last_len = -1, skip_start = 0, skip_len = -1, name_len
    cdef bint is_cumulative = False, steady, labelled
    cdef long long key, name_hash = 0
    cdef double value
    cdef char *parsed_end
    cdef dict cache, cumulative = {}, samples, types, offsets = None
    cdef list lst = [], entry, previous = None, order = None
    cdef Py_ssize_t k = 0, n_previous = 0, inner_len
    cdef object wanted_set, labels, known, seen = None, adjust = None
    cdef array.array keys = None, lasts = None, new_keys = None, new_values = None
    cdef str name, inner, last_name = "", family_type = "", family_name = ""

    exp = _py.Exposition()
    samples = exp.samples
    types = exp.types
    wanted_set, cache, room, mark = _py._begin(wanted, label_cache)
    if label_cache is not None and room:
        previous, order = label_cache.order, []
        n_previous = len(previous)
    if resets is not None:
        keys, lasts, new_keys, new_values = resets._keys, resets._last, resets._new_keys, resets._new
        offsets = resets._offset
        adjust = resets.adjust
        position = len(new_keys)
        seen = resets.seen
    empty = _py.EMPTY

    while pos < size:
        nl = _find(s, pos, size, b"\n")
        end = size if nl == -1 else nl
        start = pos
        pos = end + 1
        if start == end:
            continue
        if s[start] == b"#":
            if end - start >= 7 and memcmp(s + start, b"# TYPE ", 7) == 0:
                parts = _text(s, start, end).split(None, 3)
                if len(parts) == 4:
                    family_name = parts[2]
                    family_type = parts[3].strip().lower()
                    types[family_name] = family_type
            elif end - start >= 5 and memcmp(s + start, b"# EOF", 5) == 0:
                break
            continue
        if s[start] == b" ":
            while start < end and s[start] == b" ":
                start += 1
            while end > start and s[end - 1] == b" ":
                end -= 1
            if start == end or s[start] == b"#":
                continue
        # A line of the family skipped last (``name{`` or ``name ``) is skipped before any search.
        if (
            skip_len > 0
            and end - start > skip_len
            and (s[start + skip_len] == b"{" or s[start + skip_len] == b" ")
            and memcmp(s + start, s + skip_start, skip_len) == 0
        ):
            continue
        brace = _find(s, start, end, b"{")
        space = _find(s, start, end, b" ")
        labelled = False
        if brace != -1:
            if space == -1 or brace < space:
                labelled = True
            else:  # ``name {...}``: only spaces between the name and the brace
                labelled = True
                for i in range(space, brace):
                    if s[i] != b" ":
                        labelled = False
                        break
        if labelled:
            name_end = brace
            while name_end > start and s[name_end - 1] == b" ":
                name_end -= 1
        else:
            if space == -1:
                invalid += 1
                continue
            name_end = space
        name_len = name_end - start
        if name_len == last_len and memcmp(s + start, s + last_start, name_len) == 0:
            name = last_name
        else:
            name = _text(s, start, name_end)
            if wanted_set is not None and name not in wanted_set:
                skip_start, skip_len = start, name_len
                continue
        if labelled:
            if _contains(s, start, end, b"# {", 3):
                close = _py._label_end(_text(s, start, end), brace + 1 - start)
                if close != -1:
                    close += start
            else:
                close = _rfind(s, start, end, b"}")
            if close == -1:
                invalid += 1
                continue
            value_start = close + 1
        else:
            close = brace = start - 1  # no label text
            value_start = space + 1
        if name is not last_name:
            known = cumulative.get(name)
            if known is None:
                if wanted_set is None and not _py._NAME_RE.match(name):
                    invalid += 1
                    continue
                known = cumulative[name] = _py._is_cumulative(name, family_name, family_type)
            name_hash = hash(name)
            is_cumulative = known
            found = samples.get(name)
            if found is None:
                found = samples[name] = []
            lst = found
            last_name = name
            last_start, last_len = start, name_len
        inner_len = close - brace - 1
        if inner_len > 0:
            found = None
            if k < n_previous:  # the label set at this place on the last page, if the bytes agree
                entry = previous[k]
                text_ = entry[2]
                if (
                    PyUnicode_GET_LENGTH(text_) == inner_len
                    and PyUnicode_IS_COMPACT_ASCII(text_)
                    and memcmp(PyUnicode_DATA(text_), s + brace + 1, inner_len) == 0
                ):
                    inner = text_
                    found = entry
            if found is None:
                inner = _text(s, brace + 1, close)
                found = cache.get(inner)
            k += 1
            if found is None:
                labels = _py.parse_labels(inner)
                if labels is None:
                    invalid += 1
                    continue
                if check_labels is not None:
                    check_labels(labels)
                if room:
                    entry = cache[inner] = [labels, mark, inner]
                    marked += 1
                    if order is not None:
                        order.append(entry)
            else:
                entry = found
                labels = entry[0]
                if entry[1] != mark:
                    entry[1] = mark
                    marked += 1
                if order is not None:
                    if len(entry) == 2:  # made by parser.py
                        entry.append(inner)
                    order.append(entry)
        else:
            inner = ""
            labels = empty
        # The value: the first space-separated word after the labels (or the name).
        while value_start < end and s[value_start] == b" ":
            value_start += 1
        value_end = value_start
        while value_end < end and s[value_end] != b" ":
            value_end += 1
        if value_end == value_start:
            invalid += 1
            continue
        value = PyOS_string_to_double(s + value_start, &parsed_end, NULL)
        if parsed_end != s + value_end:  # not all of the word: float() decides (underscores...)
            PyErr_Clear()
            try:
                value = float(_text(s, value_start, value_end))
            except ValueError:
                invalid += 1
                continue
        if adjust is not None and is_cumulative:
            key = hash(inner) ^ name_hash
            steady = (
                position < len(keys)
                and keys.data.as_longlongs[position] == key
                and lasts.data.as_doubles[position] <= value < INF
                and (not offsets or key not in offsets)
                and (seen is None or key not in seen)
            )
            if steady:
                _append_key(new_keys, key)
                _append_value(new_values, value)
                if seen is not None:
                    seen.add(key)
                position += 1
            else:
                adjusted = adjust(key, value)
                seen = resets.seen
                position = len(new_keys)
                if adjusted is None:
                    continue
                value = adjusted
        if count == sample_limit and sample_limit:
            raise _py.SampleLimitExceeded(sample_limit)
        lst.append((labels, value))
        count += 1
    if order is not None:
        label_cache.order = order
    return _py._finish(exp, label_cache, cache, mark, marked, invalid, count, not room)
