import pytest
import torch

from course_utils.labs.reward import trl_reward_loss
from course_utils.lm import reward_scores, with_eos
from course_utils.runtime.loaders import load_reward_model, load_saved_reward_model
from course_utils.runtime.profiles import Profile

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
    bert_like = type("Tokenizer", (), {"eos_token": None})()  # marks the end itself ([SEP])
    assert with_eos("hi", bert_like) == "hi"


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


def test_reward_scores_cut_a_long_text_to_max_length_on_the_tokenizers_side(reward_model_and_tokenizer):
    """The tiny model reads 256 positions: a longer text is scored on its last 20 tokens, its end kept."""
    model, tokenizer = reward_model_and_tokenizer
    long = TEXTS[0] * 40  # about 900 tokens
    tokenizer.truncation_side = "left"
    try:
        (cut,) = reward_scores(model, tokenizer, [long], max_length=20)
    finally:
        tokenizer.truncation_side = "right"
    last = torch.tensor([tokenizer.encode(long + tokenizer.eos_token)[-20:]])  # ends with the end-of-sequence token
    with torch.no_grad():
        assert cut.item() == pytest.approx(model(input_ids=last).logits[0, 0].item(), abs=1e-5)


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


def test_load_saved_reward_model_gives_the_same_rewards_for_a_whole_model(reward_model_and_tokenizer, tmp_path):
    model, tokenizer = reward_model_and_tokenizer
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = load_saved_reward_model(tmp_path, "cpu")
    assert loaded.config.pad_token_id == loaded_tokenizer.pad_token_id
    torch.testing.assert_close(reward_scores(loaded, loaded_tokenizer, TEXTS), reward_scores(model, tokenizer, TEXTS))


def test_load_saved_reward_model_refuses_a_classifier(tmp_path):
    """A sentiment classifier's first logit is "negative": as a reward it would train the wrong way, silently."""
    from transformers import AutoModelForSequenceClassification

    from course_utils.runtime.sources import asset_path

    tiny = asset_path("models", "gpt2-tiny")
    AutoModelForSequenceClassification.from_pretrained(tiny, num_labels=2).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="a classifier with 2 labels, not a reward model \\(1 score\\)"):
        load_saved_reward_model(tmp_path, "cpu")


def test_load_saved_reward_model_merges_a_lora_adapter_and_its_score_head(tmp_path):
    """The full profile saves an adapter: loaded back and merged, it scores as the adapted model did."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    base, tokenizer = load_reward_model(Profile("tiny", "cpu"))
    untuned = reward_scores(base, tokenizer, TEXTS)
    config = LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True, task_type="SEQ_CLS")
    adapted = get_peft_model(base, config)
    with torch.no_grad():  # LoRA's B starts at zero and the head copy equals the base's: move both, as training would
        for name, parameter in adapted.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                parameter.add_(0.05 * torch.randn_like(parameter))
    expected = reward_scores(adapted, tokenizer, TEXTS)
    adapted.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = load_saved_reward_model(tmp_path, "cpu")
    assert not hasattr(loaded, "peft_config") or not loaded.peft_config, "the adapter should be merged"
    torch.testing.assert_close(reward_scores(loaded, loaded_tokenizer, TEXTS), expected, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(expected, untuned, atol=1e-3), "the adapter should change the rewards"


def test_split_by_prompt_holds_out_whole_prompts_in_order():
    from datasets import Dataset

    from course_utils.labs.reward import split_by_prompt

    rows = Dataset.from_dict({"prompt": ["p1", "p2", "p1", "p3", "p4", "p2", "p5", "p1"], "chosen": list("abcdefgh")})
    split = split_by_prompt(rows, test_size=0.4, seed=0)
    # sorted p1..p5 shuffled by random.Random(0): p3, p2, p1, p5, p4; round(0.4 * 5) = 2 held out: p3 and p2
    assert split["test"]["chosen"] == ["b", "d", "f"] and split["train"]["chosen"] == ["a", "c", "e", "g", "h"]


def test_held_out_accuracy_scores_the_held_out_pairs_with_the_weights_given(reward_model_and_tokenizer):
    from course_utils.labs.reward import conversation, held_out_accuracy, held_out_pairs
    from course_utils.notebook.checks import model_weights

    model, tokenizer = reward_model_and_tokenizer
    profile = Profile("tiny", "cpu")
    chosen, rejected = held_out_pairs(profile)
    assert len(chosen) == len(rejected) == 98 and chosen[0].startswith(conversation("", "")[:7])
    wins = reward_scores(model, tokenizer, chosen) > reward_scores(model, tokenizer, rejected)
    assert held_out_accuracy(profile, model_weights(model)) == wins.float().mean().item()
