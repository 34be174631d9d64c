"""
The ``pattern`` constraints of botocore models, evaluated the way AWS evaluates them.

The models' patterns are Java regular expressions, and AWS's validator checks them with
``Matcher.matches()``: the pattern must match the *whole* value, anchored or not
(``cluster-[2-7a-zA-Z]{11,16}`` does not accept ``xcluster-...``). Two things need care in Python:

* Unicode property classes such as ``\\p{L}`` and ``\\p{N}`` (CloudHSM tag keys) are not supported by
  :mod:`re`, so the third-party :mod:`regex` module is used.
* In Java, ``\\w``, ``\\d`` and ``\\s`` are ASCII-only unless ``UNICODE_CHARACTER_CLASS`` is set, whereas
  Python makes them Unicode-aware. Setting :data:`regex.ASCII` would also make ``\\p{L}`` ASCII-only, so
  instead the shorthands are rewritten to explicit ASCII classes (``\\w`` -> ``[a-zA-Z0-9_]``). The negated
  shorthands are rewritten outside brackets only; inside a bracket expression (no model uses that) they keep
  Python's Unicode meaning.

Compiled patterns are cached, so each model pattern is translated and compiled once per process.
"""

from __future__ import annotations

import functools

import regex

_POSITIVE = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\x0b\\f\\r"}
_NEGATIVE = {"W": "w", "D": "d", "S": "s"}


def java_to_python(pattern: str) -> str:
    """
    Rewrite the Java-only parts of *pattern* (ASCII shorthand classes) for the :mod:`regex` module.

    >>> java_to_python(r"[\\w]+")
    '[a-zA-Z0-9_]+'
    """
    out: list[str] = []
    in_class = False
    i = 0
    n = len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in _POSITIVE:
                out.append(_POSITIVE[nxt] if in_class else f"[{_POSITIVE[nxt]}]")
            elif nxt in _NEGATIVE and not in_class:
                out.append(f"[^{_POSITIVE[_NEGATIVE[nxt]]}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            # A ']' right after '[' or '[^' is a literal, not the end of the class.
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
            if pattern.startswith("]", i + 1):
                out.append("\\]")
                i += 1
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        else:
            out.append(char)
        i += 1
    return "".join(out)


@functools.cache
def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """
    Compile a model pattern once; use ``.fullmatch(value)`` on the result to apply AWS's semantics.

    :raises regex.error: if the pattern cannot be compiled (surfaces when a model is first compiled).
    """
    return regex.compile(java_to_python(pattern))
