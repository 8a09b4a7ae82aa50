import pytest
import torch

from course_utils.generation import generate

# Prompts of different token lengths, so that a batch needs padding.
PROMPTS = ["def", "The sum of", "SELECT", "### Instruction:\nAdd two numbers.\n\n### Response:\n"]
MAX_NEW = 12


def greedy_reference(model, tokenizer, prompt: str, max_new_tokens: int) -> str:
    """Greedy decoding written out by hand: argmax of the last logits, one token at a time, stop at EOS."""
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    new: list[int] = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            next_id = int(model(input_ids=ids).logits[0, -1].argmax())
            if next_id == tokenizer.eos_token_id:
                break
            new.append(next_id)
            ids = torch.cat([ids, torch.tensor([[next_id]])], dim=1)
    return tokenizer.decode(new, skip_special_tokens=True)


@pytest.fixture(scope="module")
def batched(tiny_model, tiny_tokenizer):
    return generate(tiny_model, tiny_tokenizer, PROMPTS, max_new_tokens=MAX_NEW)


def test_generate_returns_one_string_per_prompt(batched):
    assert len(batched) == len(PROMPTS)
    assert all(isinstance(text, str) for text in batched)


def test_generate_empty_prompt_list_returns_empty_list(tiny_model, tiny_tokenizer):
    assert generate(tiny_model, tiny_tokenizer, [], max_new_tokens=MAX_NEW) == []


def test_generate_matches_hand_written_greedy_decoding(tiny_model, tiny_tokenizer, batched):
    """Only the continuation is returned (no prompt), and it is the greedy one."""
    expected = [greedy_reference(tiny_model, tiny_tokenizer, p, MAX_NEW) for p in PROMPTS]
    assert batched == expected
    # Not vacuous: the tiny model writes a non-empty continuation for the first three prompts.
    assert all(text for text in expected[:3])
    assert not any(text.startswith(prompt) for text, prompt in zip(batched, PROMPTS, strict=True))


def test_generate_is_deterministic(tiny_model, tiny_tokenizer, batched):
    assert generate(tiny_model, tiny_tokenizer, PROMPTS, max_new_tokens=MAX_NEW) == batched


def test_generate_left_padding_does_not_change_greedy_outputs(tiny_model, tiny_tokenizer, batched):
    alone = [generate(tiny_model, tiny_tokenizer, [p], max_new_tokens=MAX_NEW)[0] for p in PROMPTS]
    assert batched == alone


def test_generate_small_batches_give_the_same_outputs(tiny_model, tiny_tokenizer, batched):
    assert generate(tiny_model, tiny_tokenizer, PROMPTS, max_new_tokens=MAX_NEW, batch_size=3) == batched


def test_generate_leaves_the_tokenizer_padding_side_alone(tiny_model, tiny_tokenizer):
    side = tiny_tokenizer.padding_side
    generate(tiny_model, tiny_tokenizer, PROMPTS[:2], max_new_tokens=2)
    assert tiny_tokenizer.padding_side == side


@pytest.mark.parametrize("max_new_tokens", [1, 3, 5])
def test_generate_respects_max_new_tokens(tiny_model, tiny_tokenizer, max_new_tokens):
    # "def" makes the tiny model write a long function (15 tokens), so the limit is what stops it.
    longer = generate(tiny_model, tiny_tokenizer, ["def"], max_new_tokens=40)[0]
    short = generate(tiny_model, tiny_tokenizer, ["def"], max_new_tokens=max_new_tokens)[0]
    short_ids = tiny_tokenizer(short, add_special_tokens=False)["input_ids"]
    longer_ids = tiny_tokenizer(longer, add_special_tokens=False)["input_ids"]
    assert len(longer_ids) > 5
    assert len(short_ids) == max_new_tokens
    # Greedy: the short continuation is the start of the long one.
    assert longer.startswith(short)
