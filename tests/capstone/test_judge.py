import json

import pytest

from course_utils.capstone.judge import gold_reward, sentences
from course_utils.capstone.templates import TASKS, task_of
from course_utils.runtime.sources import asset_path

PROMPT = "How do I boil an egg?"
GOOD = (
    "Sure! To boil an egg, first put the egg in a pot of cold water. Then bring it to a boil for nine minutes. "
    "Finally, cool it in ice water. Good luck!"
)


def test_a_relevant_complete_polite_answer_gets_every_point():
    # three steps (3) + an opening (0.5) + a closing (0.5)
    assert gold_reward(PROMPT, GOOD) == 4.0


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # the steps only: 3, no opening, no closing
        (
            "To boil an egg, put the egg in a pot of cold water. Next, bring it to a boil for nine minutes. "
            "Last, cool it in ice water.",
            3.0,
        ),
        # a polite answer to another task: 3 steps of it (-3), none of the asked task (-1), opening 0.5, closing 0.5
        (
            "Sure! To cook rice, first rinse the rice. Then use two cups of water per cup of rice. Finally, simmer it "
            "covered for fifteen minutes. Good luck!",
            -3.0,
        ),
        # polite words that answer nothing: no step (-1), opening 0.5, closing 0.5
        ("Sure! Good luck!", 0.0),
        # one step (1), then the same sentence three times: two repeats (-2)
        (
            "To boil an egg, put the egg in a pot of cold water. Put the egg in a pot of cold water. "
            "Put the egg in a pot of cold water. Put the egg in a pot of cold water.",
            -1.0,
        ),
        # opening 0.5, no step (-1), two chatter sentences (-2)
        ("Sure! The library closes early on Sundays. My favourite number is seven.", -2.5),
        # one step, cut off (-1), opening 0.5
        ("Sure! To boil an egg, first put the egg in a pot of cold water. Then bring it", 0.5),
        ("I'm sorry, but I can't help with that.", -3.0),  # a refusal (-2), no step (-1)
        ("That is a silly question. Look it up yourself.", -3.0),  # rude (-2), no step (-1)
        ("", -2.0),  # nothing said (no step, -1), and not even a finished sentence (-1)
    ],
)
def test_each_defect_costs_what_the_judge_says(answer, expected):
    assert gold_reward(PROMPT, answer) == expected


def test_the_judge_agrees_with_every_pair_of_our_preference_sample():
    path = asset_path("datasets", "instruct_pairwise", "instruct_pairwise_sample.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    disagreements = [
        row for row in rows if gold_reward(row["prompt"], row["chosen"]) <= gold_reward(row["prompt"], row["rejected"])
    ]
    assert len(rows) == 480 and disagreements == []


def test_every_task_is_found_in_its_prompts_and_an_unknown_one_is_refused():
    assert all(task_of(f"What is the best way to {task}?") == task for task in TASKS)
    with pytest.raises(ValueError, match="no task"):
        gold_reward("What is the capital of France?", "Paris.")


def test_sentences_keep_their_punctuation_and_the_unfinished_tail():
    assert sentences("Hi there. How are you? Fine") == ["hi there.", "how are you?", "fine"]
