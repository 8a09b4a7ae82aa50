"""What the labs' test cells use to check an exercise: that it was done, not handed to a library, what a plot
shows, however it was drawn, the seed of a hidden test's inputs, and a trained model's weights as data."""

from __future__ import annotations

import copy
import os
import secrets
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection


@contextmanager
def done_by_hand(*functions: Callable, exercise: str) -> Iterator[None]:
    """While inside, calling any of ``functions`` raises: the exercise must be written without them.

    The functions' *code* is swapped, not the names that hold them, so a copy saved earlier, a method reached
    through an instance or a library that calls them on the learner's behalf all raise too; on leaving, each gets
    its own code back. A new function made from the original code object (``types.FunctionType(f.__code__, ...)``)
    escapes the swap, so a profiler watches for that code running, and the block fails on leaving if it ran (or if
    the profiler was switched off inside).

    >>> import statistics
    >>> with done_by_hand(statistics.mean, exercise="the mean"):
    ...     statistics.mean([1, 2])
    Traceback (most recent call last):
    NotImplementedError: Write the mean yourself: it may not call statistics.mean.
    >>> statistics.mean([1, 2])
    1.5
    """
    originals: list[tuple[types.FunctionType, types.CodeType]] = []
    ran: list[str] = []

    def watch(frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call" and any(frame.f_code is code for _, code in originals):
            ran.append(f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_qualname}")

    previous = sys.getprofile()
    try:
        for function in functions:
            inner = function
            while hasattr(inner, "__wrapped__"):  # a decorated function: its innermost code does the work
                inner = inner.__wrapped__
            if not isinstance(inner, types.FunctionType) or inner.__closure__:
                raise TypeError(f"done_by_hand takes plain Python functions, not {function!r}.")
            originals.append((inner, inner.__code__))
            inner.__code__ = _raising(f"Write {exercise} yourself: it may not call {_name(inner)}.")
        sys.setprofile(watch)
        yield
        watched_to_the_end = sys.getprofile() is watch
    finally:
        sys.setprofile(previous)
        for inner, code in originals:
            inner.__code__ = code
    if ran:
        raise NotImplementedError(f"Write {exercise} yourself: it ran a copy of {ran[0]}.")
    if not watched_to_the_end:
        raise RuntimeError(f"{exercise} switched off the check that it is done by hand (sys.setprofile).")


def _name(function: types.FunctionType) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def _raising(message: str) -> types.CodeType:
    """The code of a function that takes any arguments and raises ``NotImplementedError(message)``."""
    namespace: dict[str, object] = {}
    exec(f"def stand_in(*args, **kwargs):\n    raise NotImplementedError({message!r})\n", namespace)
    return namespace["stand_in"].__code__  # type: ignore[attr-defined]


def plotted_points(axes: Axes) -> dict[str, list[tuple[float, float]]]:
    """The (x, y) points an Axes shows, by label, whether drawn as lines or as markers.

    Lines come from ``axes.plot`` or pandas' ``.plot()``; point collections from ``axes.scatter`` or pandas'
    ``.plot.scatter()``. Artists without a label of their own (matplotlib names them ``_child0``...) are under "".

    >>> import matplotlib.pyplot as plt
    >>> figure, axes = plt.subplots()
    >>> _ = axes.plot([1, 2], [3, 4], label="train"); _ = axes.scatter([5], [6])
    >>> plotted_points(axes)
    {'train': [(1.0, 3.0), (2.0, 4.0)], '': [(5.0, 6.0)]}
    """
    shown: dict[str, list[tuple[float, float]]] = {}
    artists = [(line, line.get_xydata()) for line in axes.lines]
    artists += [(points, points.get_offsets()) for points in axes.collections if isinstance(points, PathCollection)]
    for artist, xy in artists:
        label = artist.get_label()
        key = "" if label.startswith("_") else label
        shown.setdefault(key, []).extend((float(x), float(y)) for x, y in np.asarray(xy, dtype=float).reshape(-1, 2))
    return shown


def grading_seed() -> int:
    """The seed a hidden test draws its inputs from: the grader's secret while ``course grade`` checks a notebook
    (``COURSE_GRADING_SEED``, set for its checks alone, never in the student's kernel), a fresh one anywhere else.

    An answer can only pass such a test by computing: nobody knows its inputs before it runs.
    """
    return int(os.environ.get("COURSE_GRADING_SEED") or secrets.randbelow(2**31))


def model_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A trained model's weights as data, on the CPU, to be measured apart from it (`load_weights`).

    A PEFT model is merged first, in a copy: its weights then fit the base model's architecture.
    """
    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    return {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}


def load_weights(model: torch.nn.Module, weights: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """``model`` with ``weights`` (from `model_weights`) in place of its own, in evaluation mode.

    Raises an ``AssertionError`` (a failed check) naming what does not fit: missing, unexpected or misshapen weights.
    """
    own = model.state_dict()
    missing, unexpected = sorted(own.keys() - weights.keys()), sorted(weights.keys() - own.keys())
    assert not missing and not unexpected, (
        f"The weights do not fit the lab's model: missing {missing[:3]}, unexpected {unexpected[:3]}."
    )
    misshapen = [name for name in own if tuple(own[name].shape) != tuple(weights[name].shape)]
    assert not misshapen, f"The weights do not fit the lab's model: {misshapen[:3]} have other shapes."
    model.load_state_dict(dict(weights))
    return model.eval()
