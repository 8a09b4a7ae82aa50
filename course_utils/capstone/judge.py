"""The gold reward of the tiny profile: a judge that knows what makes an answer to our how-to questions good.

In "Scaling laws for reward model overoptimization" (Gao, Schulman & Hilton 2022) a *gold* reward model stands for
true human preference: it labels the pairs a *proxy* reward model is trained on, and it measures what optimising the
proxy really did. Our tiny world (``templates.py``) is small enough to write its gold reward down. A good answer is

- **relevant and complete**: it gives the steps of the task that was asked, and not those of another task; an answer
  that gives none of them has not answered, however politely it says nothing;
- **polite**: it opens kindly and closes with a friendly line;
- **clean**: no off-topic chatter, no sentence said twice, no rudeness, no refusal, not cut off mid-sentence.

Every chosen answer of our preference sample scores above its rejected one (tested): the judge is the preference the
sample was written from, where a reward model trained on a few hundred pairs only approximates it.
"""

from __future__ import annotations

import re

from .templates import CHATTER, CLOSINGS, OPENINGS, REFUSALS, TASKS, task_of

# The fixed words of the rude templates (the rest is the task, filled in).
RUDE_MARKS = ("silly question", "figure it out", "stop wasting my time", "obviously")
# What each quality is worth; an answer with every step, politely put and clean, scores 3 + 0.5 + 0.5 = 4.
STEP, OPENING, CLOSING = 1.0, 0.5, 0.5
OTHER_STEP, NO_STEP, CHATTER_SENTENCE, REPEAT, CUT_OFF, RUDE, REFUSAL = -1.0, -1.0, -1.0, -1.0, -1.0, -2.0, -2.0


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, lower-cased, each with its final punctuation.

    >>> sentences("Boil water. Boil water! Done")
    ['boil water.', 'boil water!', 'done']
    """
    return [part.strip().lower() for part in re.findall(r"[^.!?]+[.!?]?", text) if part.strip()]


def gold_reward(prompt: str, answer: str) -> float:
    """How good ``answer`` is as an answer to ``prompt``, in the judge's points (at most 4; below 0 for bad answers)."""
    task = task_of(prompt)
    if task is None:
        raise ValueError(f"The gold judge knows the tasks of the tiny profile only; no task in {prompt!r}.")
    text = answer.lower()
    said = sentences(answer)
    steps = sum(step in text for step in TASKS[task])
    other_steps = sum(step in text for other, other_task in TASKS.items() if other != task for step in other_task)
    score = STEP * steps + OTHER_STEP * other_steps + NO_STEP * (steps == 0)
    score += OPENING * any(answer.startswith(opening) for opening in OPENINGS if opening)
    score += CLOSING * any(closing in answer for closing in CLOSINGS)
    score += CHATTER_SENTENCE * sum(chatter in answer for chatter in CHATTER)
    score += REPEAT * (len(said) - len(set(said)))
    score += CUT_OFF * (not answer.rstrip().endswith((".", "!", "?")))
    score += RUDE * any(mark in text for mark in RUDE_MARKS)
    score += REFUSAL * any(refusal in answer for refusal in REFUSALS)
    return score
