"""What the labs' test cells use to check that an exercise was done, not handed to a library."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def done_by_hand(*functions: Callable, exercise: str) -> Iterator[None]:
    """While inside, calling any of ``functions`` raises: the exercise must be written without them.

    The functions' *code* is swapped, not the names that hold them, so a copy saved earlier, a method reached
    through an instance or a library that calls them on the learner's behalf all raise too; on leaving, each gets
    its own code back.

    >>> import statistics
    >>> with done_by_hand(statistics.mean, exercise="the mean"):
    ...     statistics.mean([1, 2])
    Traceback (most recent call last):
    NotImplementedError: Write the mean yourself: it may not call statistics.mean.
    >>> statistics.mean([1, 2])
    1.5
    """
    originals: list[tuple[types.FunctionType, types.CodeType]] = []
    try:
        for function in functions:
            inner = function
            while hasattr(inner, "__wrapped__"):  # a decorated function: its innermost code does the work
                inner = inner.__wrapped__
            if not isinstance(inner, types.FunctionType) or inner.__closure__:
                raise TypeError(f"done_by_hand takes plain Python functions, not {function!r}.")
            originals.append((inner, inner.__code__))
            inner.__code__ = _raising(f"Write {exercise} yourself: it may not call {_name(inner)}.")
        yield
    finally:
        for inner, code in originals:
            inner.__code__ = code


def _name(function: types.FunctionType) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def _raising(message: str) -> types.CodeType:
    """The code of a function that takes any arguments and raises ``NotImplementedError(message)``."""
    namespace: dict[str, object] = {}
    exec(f"def stand_in(*args, **kwargs):\n    raise NotImplementedError({message!r})\n", namespace)
    return namespace["stand_in"].__code__  # type: ignore[attr-defined]
