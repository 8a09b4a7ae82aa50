import pytest
import torch

from course_utils.notebook.generation import DECODING_STRATEGIES, generate, sample_with_filter

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


def test_generate_sampling_is_repeatable_with_a_seed_and_varies_without_one(tiny_model, tiny_tokenizer):
    options = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_new_tokens": MAX_NEW}
    prompts = PROMPTS[:1] * 6
    first = generate(tiny_model, tiny_tokenizer, prompts, seed=3, **options)
    assert generate(tiny_model, tiny_tokenizer, prompts, seed=3, **options) == first
    # Six draws of the same prompt in one batch: sampling gives more than one continuation.
    assert len(set(first)) > 1


def test_generate_beam_search_with_one_beam_is_greedy(tiny_model, tiny_tokenizer, batched):
    assert generate(tiny_model, tiny_tokenizer, PROMPTS, max_new_tokens=MAX_NEW, num_beams=1) == batched


@pytest.mark.parametrize("name", sorted(DECODING_STRATEGIES))
def test_every_decoding_strategy_runs(tiny_model, tiny_tokenizer, name):
    texts = generate(tiny_model, tiny_tokenizer, PROMPTS, max_new_tokens=4, seed=0, **DECODING_STRATEGIES[name])
    assert len(texts) == len(PROMPTS) and all(isinstance(text, str) for text in texts)


def keep_the_best(logits: torch.Tensor) -> torch.Tensor:
    """Top-k with k=1: every token but the most probable gets -inf, so sampling is greedy decoding."""
    return torch.where(logits == logits.max(dim=-1, keepdim=True).values, logits, torch.tensor(float("-inf")))


def test_sample_with_filter_keeping_only_the_best_token_is_greedy(tiny_model, tiny_tokenizer):
    for prompt in PROMPTS:
        expected = greedy_reference(tiny_model, tiny_tokenizer, prompt, MAX_NEW)
        assert sample_with_filter(tiny_model, tiny_tokenizer, prompt, keep_the_best, MAX_NEW, seed=5) == expected


def test_sample_with_filter_draws_from_the_filtered_distribution(tiny_model, tiny_tokenizer):
    """Unfiltered, different seeds give different texts; the same seed gives the same text."""
    draws = [sample_with_filter(tiny_model, tiny_tokenizer, PROMPTS[1], lambda x: x, MAX_NEW, seed=s) for s in range(4)]
    assert len(set(draws)) > 1
    assert sample_with_filter(tiny_model, tiny_tokenizer, PROMPTS[1], lambda x: x, MAX_NEW, seed=2) == draws[2]


def test_sample_with_filter_passes_logits_of_shape_one_by_vocab(tiny_model, tiny_tokenizer):
    shapes = []

    def spy(logits: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(logits.shape))
        return logits

    sample_with_filter(tiny_model, tiny_tokenizer, PROMPTS[0], spy, max_new_tokens=3, seed=0)
    assert shapes and all(shape == (1, tiny_model.config.vocab_size) for shape in shapes)
