import pytest
import torch

from course_utils.labs.sentiment_control import (
    CONTROL_WORDS,
    CONTROLS,
    add_control_tokens,
    control_scores,
    mean_by_control,
)
from course_utils.runtime.loaders import load_ppo_policy
from course_utils.runtime.profiles import Profile


@pytest.fixture
def policy_with_controls():
    model, tokenizer = load_ppo_policy(Profile("tiny", "cpu"))
    vocabulary = len(tokenizer)
    return model, tokenizer, add_control_tokens(model, tokenizer), vocabulary


def test_control_tokens_are_new_single_tokens_with_embeddings(policy_with_controls):
    model, tokenizer, ids, vocabulary = policy_with_controls
    assert sorted(ids.values()) == list(range(vocabulary, vocabulary + 3))
    for control, token_id in ids.items():
        assert tokenizer.encode(control) == [token_id]
    assert model.policy.get_input_embeddings().weight.shape[0] >= vocabulary + 3
    logits, values = model(torch.tensor([[ids["[positive]"], 5, 6]]), torch.ones(1, 3, dtype=torch.long))
    assert logits.shape[-1] >= vocabulary + 3 and values.shape == (1, 3)


def test_control_tokens_are_left_out_of_decoded_text(policy_with_controls):
    _, tokenizer, ids, _ = policy_with_controls
    text_ids = tokenizer.encode("I watched this film")
    assert tokenizer.decode([ids["[neutral]"], *text_ids], skip_special_tokens=True) == tokenizer.decode(text_ids)


def test_mean_by_control():
    # [negative]: (-1 + -3) / 2 = -2; [neutral]: 4; [positive] absent
    means = mean_by_control([-1.0, 4.0, -3.0], ["[negative]", "[neutral]", "[negative]"])
    assert means == {"[negative]": -2.0, "[neutral]": 4.0}
    assert set(CONTROLS) >= set(means)
    with pytest.raises(ValueError, match="one control per value"):
        mean_by_control([1.0], [])


def test_control_tokens_start_from_their_words(policy_with_controls):
    model, tokenizer, ids, _ = policy_with_controls
    embeddings = model.policy.get_input_embeddings().weight
    for control, word in CONTROL_WORDS.items():
        torch.testing.assert_close(embeddings[ids[control]], embeddings[tokenizer.encode(word)].mean(dim=0))
    assert not torch.equal(embeddings[ids["[negative]"]], embeddings[ids["[positive]"]])


def test_control_scores_put_the_token_first_leave_it_out_of_the_text_and_repeat(policy_with_controls):
    model, tokenizer, ids, _ = policy_with_controls
    query_ids = [tokenizer.encode("I watched this"), tokenizer.encode("My sister told me")]
    seen = []

    def reward_fn(texts, controls):
        seen.append((texts, controls))
        return [float(len(text)) for text in texts]

    options = {"do_sample": True, "top_k": 0, "top_p": 1.0}
    means = control_scores(model, tokenizer, query_ids, ids, reward_fn, seed=3, **options)
    assert list(means) == list(CONTROLS)
    for (texts, controls), control in zip(seen, CONTROLS, strict=True):
        assert controls == [control, control]
        assert texts[0].startswith("I watched this") and not any(c in text for c in CONTROLS for text in texts)
        assert means[control] == sum(len(text) for text in texts) / 2
    assert control_scores(model, tokenizer, query_ids, ids, reward_fn, seed=3, **options) == means


def test_control_rewards_shape_the_positive_logit_by_control_and_name_an_unknown_one():
    from course_utils.labs.sentiment_control import control_rewards

    # [negative]: -(-1.5) = 1.5; [neutral]: -2 * 1.5 + 4 = 1; [positive]: -1.5; a neutral text earns the neutral 4
    assert control_rewards([-1.5, -1.5, -1.5, 0.0], ["[negative]", "[neutral]", "[positive]", "[neutral]"]) == [
        1.5,
        1.0,
        -1.5,
        4.0,
    ]
    with pytest.raises(ValueError, match=r"\['\[happy\]'\]"):
        control_rewards([1.0], ["[happy]"])
