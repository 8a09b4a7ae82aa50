import copy

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from course_utils.labs.instruction import (
    ALPACA_CHAT_TEMPLATE,
    IGNORE_INDEX,
    RESPONSE_TEMPLATE,
    CompletionOnlyCollator,
    completion_loss,
    completion_only_labels,
    find_subsequence,
    response_template_ids,
    to_messages,
    trl_completion_labels,
    unpadded_labels,
)

FORMATTED = "### Instruction:\nAdd.\n\n### Response:\ndef f():\n    pass"

PROMPTS = [
    "### Instruction:\nAdd.\n\n### Response:\n",
    "### Instruction:\nReverse the given string.\n\n### Input:\nhello\n\n### Response:\n",
    "### Instruction:\nSay hi.\n\n### Response:\n",
]
COMPLETIONS = ["def f():\n    pass", "olleh", "hi"]


# --- find_subsequence ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sequence", "pattern", "expected"),
    [
        ([7, 8, 1, 2], [7, 8], 0),  # at the start
        ([1, 7, 8, 2], [7, 8], 1),  # in the middle
        ([1, 2, 7, 8], [7, 8], 2),  # at the end
        ([1, 7, 2, 8], [7, 8], -1),  # the tokens occur, but not contiguously
        ([1, 2, 3], [7, 8], -1),  # absent
        ([], [7], -1),  # empty sequence
        ([7], [7, 8], -1),  # pattern longer than the sequence
        ([7, 8, 7, 8], [7, 8], 0),  # first occurrence wins
        ([7, 7, 8], [7, 8], 1),  # a partial match right before the real one
    ],
)
def test_find_subsequence(sequence, pattern, expected):
    assert find_subsequence(sequence, pattern) == expected


def test_find_subsequence_accepts_tuples_and_tensors_lists():
    assert find_subsequence((3, 4, 5), [4, 5]) == 1
    assert find_subsequence(torch.tensor([3, 4, 5]).tolist(), (4, 5)) == 1


# --- completion_only_labels ------------------------------------------------------------------------------------


def test_completion_only_labels_masks_prompt_template_and_padding():
    input_ids = torch.tensor([[5, 7, 8, 9, 2, 0]])
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 0]])
    labels = completion_only_labels(input_ids, attention_mask, [7, 8])
    assert torch.equal(labels, torch.tensor([[-100, -100, -100, 9, 2, -100]]))


def test_completion_only_labels_first_occurrence_of_the_template_wins():
    # The response itself contains the template again: only tokens after the first one are kept.
    input_ids = torch.tensor([[7, 8, 4, 7, 8, 6]])
    attention_mask = torch.ones_like(input_ids)
    labels = completion_only_labels(input_ids, attention_mask, [7, 8])
    assert torch.equal(labels, torch.tensor([[-100, -100, 4, 7, 8, 6]]))


def test_completion_only_labels_batch_with_left_padding():
    input_ids = torch.tensor(
        [
            [0, 0, 5, 7, 8, 9],
            [5, 5, 7, 8, 9, 3],
        ]
    )
    attention_mask = torch.tensor(
        [
            [0, 0, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1],
        ]
    )
    labels = completion_only_labels(input_ids, attention_mask, [7, 8])
    expected = torch.tensor(
        [
            [-100, -100, -100, -100, -100, 9],
            [-100, -100, -100, -100, 9, 3],
        ]
    )
    assert torch.equal(labels, expected)


def test_completion_only_labels_row_without_template_is_fully_masked_with_a_warning():
    input_ids = torch.tensor([[5, 7, 8, 9], [5, 6, 9, 2]])
    attention_mask = torch.ones_like(input_ids)
    with pytest.warns(UserWarning, match=r"Row 1 has no response template \[7, 8\]"):
        labels = completion_only_labels(input_ids, attention_mask, [7, 8])
    assert torch.equal(labels, torch.tensor([[-100, -100, -100, 9], [-100, -100, -100, -100]]))


def test_completion_only_labels_does_not_modify_its_inputs():
    input_ids = torch.tensor([[5, 7, 8, 9, 2, 0]])
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 0]])
    ids_before, mask_before = input_ids.clone(), attention_mask.clone()
    labels = completion_only_labels(input_ids, attention_mask, [7, 8])
    assert torch.equal(input_ids, ids_before)
    assert torch.equal(attention_mask, mask_before)
    assert labels.data_ptr() != input_ids.data_ptr()
    assert labels.dtype == input_ids.dtype


def test_ignore_index_is_pytorch_cross_entropy_default():
    assert IGNORE_INDEX == torch.nn.CrossEntropyLoss().ignore_index == -100


# --- response_template_ids -------------------------------------------------------------------------------------


def test_response_template_ids_has_no_bos(tiny_tokenizer):
    ids = response_template_ids(tiny_tokenizer)
    alone = tiny_tokenizer(RESPONSE_TEMPLATE)["input_ids"]
    # Alone, OPT's tokenizer puts its BOS (</s>) first; inside a text there is none.
    assert alone[0] == tiny_tokenizer.bos_token_id
    assert tiny_tokenizer.bos_token_id not in ids
    assert tiny_tokenizer.decode(ids) == RESPONSE_TEMPLATE


def test_response_template_ids_occur_in_a_formatted_text_but_the_naive_ids_do_not(tiny_tokenizer):
    text_ids = tiny_tokenizer(FORMATTED)["input_ids"]
    ids = response_template_ids(tiny_tokenizer)
    naive = tiny_tokenizer(RESPONSE_TEMPLATE)["input_ids"]
    start = find_subsequence(text_ids, ids)
    assert start > 0
    # What follows the template is exactly the response.
    assert tiny_tokenizer.decode(text_ids[start + len(ids) :]) == "def f():\n    pass"
    assert find_subsequence(text_ids, naive) == -1


def test_response_template_merging_with_the_context_raises(tiny_tokenizer):
    # Byte-level BPE groups "\n" with the spaces after it ("\n   " is one token), so "\n" + "    return"
    # does not start with the token of "\n" alone.
    context_ids = tiny_tokenizer("\n", add_special_tokens=False)["input_ids"]
    merged = tiny_tokenizer("\n    return", add_special_tokens=False)["input_ids"]
    assert merged[: len(context_ids)] != context_ids
    with pytest.raises(ValueError, match="merges with"):
        response_template_ids(tiny_tokenizer, "    return")


def _word_level_tokenizer() -> PreTrainedTokenizerFast:
    """Tokens: whole words split on whitespace, so 'A' + 'B' merge into the word 'AB'."""
    vocab = {"<unk>": 0, "</s>": 1, "<pad>": 2, "A": 3, "B": 4, "AB": 5, "C": 6}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="</s>", pad_token="<pad>")


def test_response_template_ids_with_a_word_level_tokenizer():
    tokenizer = _word_level_tokenizer()
    assert response_template_ids(tokenizer, "B C", context="A ") == [4, 6]
    with pytest.raises(ValueError, match="merges with"):
        response_template_ids(tokenizer, "B C", context="A")


# --- CompletionOnlyCollator ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def collator(tiny_tokenizer):
    return CompletionOnlyCollator(tiny_tokenizer)


@pytest.fixture(scope="module")
def batch(collator):
    return collator([{"text": p + c} for p, c in zip(PROMPTS, COMPLETIONS, strict=True)])


def test_collator_template_ids(collator, tiny_tokenizer):
    assert collator.template_ids == response_template_ids(tiny_tokenizer)


def test_collator_returns_three_tensors_of_one_shape(batch):
    assert sorted(batch) == ["attention_mask", "input_ids", "labels"]
    lengths = [t.shape for t in batch.values()]
    assert lengths[0] == lengths[1] == lengths[2]
    assert batch["input_ids"].shape[0] == 3


def test_collator_pads_on_the_right(batch, tiny_tokenizer):
    mask = batch["attention_mask"]
    lengths = mask.sum(dim=1)
    # The longest row is unpadded, the others are ones then zeros, with the pad id after their tokens.
    assert lengths.max().item() == mask.shape[1]
    for row, n in enumerate(lengths.tolist()):
        expected = torch.tensor([1] * n + [0] * (mask.shape[1] - n))
        assert torch.equal(mask[row], expected)
        assert (batch["input_ids"][row, n:] == tiny_tokenizer.pad_token_id).all()


def test_collator_input_ids_are_bos_text_eos(batch, tiny_tokenizer):
    for row, (prompt, completion) in enumerate(zip(PROMPTS, COMPLETIONS, strict=True)):
        n = int(batch["attention_mask"][row].sum())
        text_ids = tiny_tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]
        expected = [tiny_tokenizer.bos_token_id, *text_ids, tiny_tokenizer.eos_token_id]
        assert batch["input_ids"][row, :n].tolist() == expected


def test_collator_last_attended_label_is_eos(batch, tiny_tokenizer):
    for row in range(3):
        n = int(batch["attention_mask"][row].sum())
        assert batch["labels"][row, n - 1].item() == tiny_tokenizer.eos_token_id


def test_collator_labels_are_ignored_exactly_up_to_the_end_of_the_template(batch, collator, tiny_tokenizer):
    for row, (prompt, completion) in enumerate(zip(PROMPTS, COMPLETIONS, strict=True)):
        # The prompt ends with the template, so its tokens (with BOS) are exactly what must be ignored.
        prompt_length = len(tiny_tokenizer(prompt)["input_ids"])
        completion_ids = tiny_tokenizer(completion, add_special_tokens=False)["input_ids"]
        n = int(batch["attention_mask"][row].sum())
        labels = batch["labels"][row]
        assert (labels[:prompt_length] == IGNORE_INDEX).all()
        assert labels[prompt_length:n].tolist() == [*completion_ids, tiny_tokenizer.eos_token_id]
        assert (labels[n:] == IGNORE_INDEX).all()
        ids = batch["input_ids"][row].tolist()
        assert find_subsequence(ids, collator.template_ids) + len(collator.template_ids) == prompt_length


def test_collator_truncates_to_max_length(tiny_tokenizer):
    short = CompletionOnlyCollator(tiny_tokenizer, max_length=8)
    with pytest.warns(UserWarning, match="no response template"):
        out = short([{"text": PROMPTS[0] + COMPLETIONS[0]}])
    assert out["input_ids"].shape == (1, 8)
    assert (out["labels"] == IGNORE_INDEX).all()


def test_collator_uses_a_custom_labels_fn_and_text_field(tiny_tokenizer):
    calls = []

    def labels_fn(input_ids, attention_mask, template_ids):
        calls.append((input_ids.clone(), attention_mask.clone(), list(template_ids)))
        return torch.full_like(input_ids, 42)

    collate = CompletionOnlyCollator(tiny_tokenizer, labels_fn=labels_fn, text_field="formatted")
    out = collate([{"formatted": FORMATTED}, {"formatted": PROMPTS[2] + "hi"}])
    assert len(calls) == 1
    input_ids, attention_mask, template_ids = calls[0]
    assert torch.equal(input_ids, out["input_ids"])
    assert torch.equal(attention_mask, out["attention_mask"])
    assert template_ids == response_template_ids(tiny_tokenizer)
    assert torch.equal(out["labels"], torch.full_like(out["input_ids"], 42))


# --- unpadded_labels -------------------------------------------------------------------------------------------


def test_unpadded_labels_drops_padding_of_each_row():
    batch = {
        "labels": torch.tensor([[-100, 9, 2, -100], [-100, -100, 4, 2], [-100, 8, -100, -100]]),
        "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, 0]]),
    }
    assert unpadded_labels(batch) == [[-100, 9, 2], [-100, -100, 4, 2], [8, -100]]


# --- equivalence with TRL --------------------------------------------------------------------------------------


def test_collator_labels_equal_trl_completion_only_labels(tiny_model, tiny_tokenizer, batch):
    """Our masking gives, token for token, the labels TRL's SFTTrainer builds with completion_only_loss."""
    trl_labels = trl_completion_labels(tiny_model, tiny_tokenizer, PROMPTS, COMPLETIONS)
    ours = unpadded_labels(batch)
    assert trl_labels == ours
    # Not vacuous: every row keeps its completion plus EOS.
    kept = [[t for t in row if t != IGNORE_INDEX] for row in ours]
    expected = [
        [*tiny_tokenizer(c, add_special_tokens=False)["input_ids"], tiny_tokenizer.eos_token_id] for c in COMPLETIONS
    ]
    assert kept == expected


@pytest.mark.parametrize(
    ("row", "prompt"),
    [
        ({"instruction": "Add two numbers.", "input": "", "output": "1"}, "### Instruction:\nAdd two numbers.\n\n"),
        (
            {"instruction": "Reverse the given string.", "input": "hello", "output": "olleh"},
            "### Instruction:\nReverse the given string.\n\n### Input:\nhello\n\n",
        ),
    ],
)
def test_alpaca_chat_template_writes_the_lab_prompt(tiny_tokenizer, row, prompt):
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.chat_template = ALPACA_CHAT_TEMPLATE
    rendered = tokenizer.apply_chat_template(to_messages(row), tokenize=False, add_generation_prompt=True)
    assert rendered == prompt + RESPONSE_TEMPLATE
    full = tokenizer.apply_chat_template(to_messages(row, with_response=True), tokenize=False)
    assert full == prompt + RESPONSE_TEMPLATE + row["output"] + tokenizer.eos_token


def test_completion_loss_is_the_mean_nll_of_completion_tokens_whatever_the_batching(tiny_model, tiny_tokenizer):
    prompts = ["### Instruction:\nAdd two numbers.\n\n### Response:\n", "### Instruction:\nSort.\n\n### Response:\n"]
    completions = ["def add(a, b):\n    return a + b", "sorted(x)"]
    # by hand: every token after the prompt, the end-of-sequence token included, predicted from the tokens before it
    nlls = []
    for prompt, completion in zip(prompts, completions, strict=True):
        ids = tiny_tokenizer(prompt + completion)["input_ids"] + [tiny_tokenizer.eos_token_id]
        start = len(tiny_tokenizer(prompt)["input_ids"])
        with torch.no_grad():
            log_probs = torch.log_softmax(tiny_model(torch.tensor([ids])).logits[0], dim=-1)
        nlls += [-log_probs[t - 1, ids[t]].item() for t in range(start, len(ids))]
    expected = sum(nlls) / len(nlls)  # a mean over tokens, not over rows
    for batch_size in (1, 2):  # padding changes nothing
        assert completion_loss(tiny_model, tiny_tokenizer, prompts, completions, batch_size) == pytest.approx(expected)
