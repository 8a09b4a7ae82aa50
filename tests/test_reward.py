import pytest
import torch

from course_utils.loaders import load_reward_model
from course_utils.profiles import Profile
from course_utils.reward import reward_scores, trl_reward_loss, with_eos

TEXTS = [
    "Human: How do I boil an egg?\n\nAssistant: Put the egg in a pot of cold water. Good luck!",
    "Human: How do I boil an egg?\n\nAssistant: No.",
    "Human: Give me some tips to bake bread.\n\nAssistant: Sure! To bake bread, mix flour, water, yeast and salt.",
]


@pytest.fixture(scope="module")
def reward_model_and_tokenizer():
    """The tiny reward model with a seeded score head (tests only read it)."""
    torch.manual_seed(0)
    return load_reward_model(Profile("tiny", "cpu"))


def one_score(model, tokenizer, text: str) -> float:
    """The reference: one unpadded row, end-of-sequence appended, the head's output."""
    inputs = tokenizer(text + tokenizer.eos_token, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits[0, 0].item()


def test_with_eos_appends_once(reward_model_and_tokenizer):
    _, tokenizer = reward_model_and_tokenizer
    assert with_eos("hi", tokenizer) == "hi<|endoftext|>"
    assert with_eos("hi<|endoftext|>", tokenizer) == "hi<|endoftext|>"


def test_reward_scores_match_one_text_at_a_time_whatever_the_padding(reward_model_and_tokenizer):
    model, tokenizer = reward_model_and_tokenizer
    expected = torch.tensor([one_score(model, tokenizer, text) for text in TEXTS])
    for batch_size in (1, 2, 3):
        scores = reward_scores(model, tokenizer, TEXTS, batch_size=batch_size)
        assert scores.shape == (3,) and scores.dtype == torch.float32
        torch.testing.assert_close(scores, expected, atol=1e-5, rtol=0)


def test_reward_scores_read_the_last_real_token(reward_model_and_tokenizer):
    # Changing the last token of a text changes its score; padding another row in the batch does not.
    model, tokenizer = reward_model_and_tokenizer
    a, b = reward_scores(model, tokenizer, ["Human: hi\n\nAssistant: Yes.", "Human: hi\n\nAssistant: Yes!"])
    assert a != b
    alone = reward_scores(model, tokenizer, ["Human: hi\n\nAssistant: Yes."])
    padded = reward_scores(model, tokenizer, ["Human: hi\n\nAssistant: Yes.", TEXTS[0] * 3])
    assert alone[0].item() == pytest.approx(padded[0].item(), abs=1e-5)


def test_reward_scores_of_nothing_is_empty(reward_model_and_tokenizer):
    model, tokenizer = reward_model_and_tokenizer
    assert reward_scores(model, tokenizer, []).shape == (0,)


def test_trl_reward_loss_is_the_bradley_terry_loss_of_the_rewards_we_compute(reward_model_and_tokenizer):
    model, tokenizer = reward_model_and_tokenizer
    chosen, rejected = [TEXTS[0], TEXTS[2]], [TEXTS[1], TEXTS[1]]
    batch = trl_reward_loss(model, tokenizer, chosen, rejected)
    # TRL prepares texts exactly as reward_scores does.
    torch.testing.assert_close(batch.chosen_rewards, reward_scores(model, tokenizer, chosen), atol=1e-5, rtol=0)
    torch.testing.assert_close(batch.rejected_rewards, reward_scores(model, tokenizer, rejected), atol=1e-5, rtol=0)
    margins = batch.chosen_rewards - batch.rejected_rewards
    assert batch.loss == pytest.approx(torch.nn.functional.softplus(-margins).mean().item(), abs=1e-6)


def test_trl_reward_loss_does_not_train(reward_model_and_tokenizer):
    model, tokenizer = reward_model_and_tokenizer
    before = [p.detach().clone() for p in model.parameters()]
    trl_reward_loss(model, tokenizer, [TEXTS[0]], [TEXTS[1]])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize(("chosen", "rejected"), [([], []), (["a"], ["b", "c"])])
def test_trl_reward_loss_rejects_unpaired_input(reward_model_and_tokenizer, chosen, rejected):
    model, tokenizer = reward_model_and_tokenizer
    with pytest.raises(ValueError, match="as many chosen as rejected"):
        trl_reward_loss(model, tokenizer, chosen, rejected)
