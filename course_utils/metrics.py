"""Evaluation metrics, loaded through Hugging Face `evaluate` from modules shipped with the package."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files

import evaluate


@cache
def _bleu_metric() -> evaluate.EvaluationModule:
    script = files("course_utils").joinpath("evaluate_modules", "course_bleu.py")
    return evaluate.load(str(script))


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100) of ``predictions`` against one reference each, with sacreBLEU's defaults.

    >>> round(bleu(["def add(a, b): return a + b"], ["def add(a, b): return a + b"]), 1)
    100.0
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references; give one each.")
    if not predictions:
        raise ValueError("BLEU needs at least one prediction.")
    result = _bleu_metric().compute(predictions=list(predictions), references=[[ref] for ref in references])
    return float(result["score"])
