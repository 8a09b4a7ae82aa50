"""The PPO trainer and the value-head model on the packaged GPT-2-style tiny model."""

import copy
import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from course_utils.lm import pack_batch
from course_utils.ppo.length_sampler import LengthSampler
from course_utils.ppo.losses import gae_advantages, kl_penalised_rewards
from course_utils.ppo.trainer import PPOConfig, PPOTrainer
from course_utils.ppo.value_head import VALUE_HEAD_FILE, CausalLMWithValueHead
from course_utils.runtime.loaders import load_tokenizer
from course_utils.runtime.sources import asset_path

SOURCE = str(asset_path("models", "gpt2-tiny"))
PROMPTS = ["How do I make a cup of tea?", "Give me some tips to bake bread.", "How do I boil an egg?", "Hi"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(SOURCE)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return CausalLMWithValueHead.from_pretrained(SOURCE)


def queries_for(tokenizer, n: int) -> list[torch.Tensor]:
    return [torch.tensor(tokenizer.encode(PROMPTS[i % len(PROMPTS)] + "\n\n")) for i in range(n)]


def test_config_defaults_are_the_classic_ones():
    config = PPOConfig()
    assert (config.learning_rate, config.batch_size, config.mini_batch_size, config.ppo_epochs) == (
        1.41e-5,
        128,
        128,
        4,
    )
    assert (config.init_kl_coef, config.adap_kl_ctrl, config.target, config.horizon) == (0.2, True, 6.0, 10000)
    assert (config.gamma, config.lam, config.cliprange, config.cliprange_value) == (1.0, 0.95, 0.2, 0.2)
    assert (config.vf_coef, config.ratio_threshold, config.kl_penalty) == (0.1, 10.0, "kl")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kl_penalty": "l1"}, "kl_penalty"),
        ({"batch_size": 10, "mini_batch_size": 4}, "multiple"),
        ({"ppo_epochs": 0}, "ppo_epochs"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PPOConfig(**kwargs)


def test_value_head_gives_one_value_per_token(model, tokenizer):
    ids = torch.tensor([tokenizer.encode("How do I boil an egg?")])
    logits, values = model(ids, torch.ones_like(ids))
    assert logits.shape == (*ids.shape, model.config.vocab_size)
    assert values.shape == ids.shape


def test_save_and_load_round_trip(model, tokenizer, tmp_path):
    with torch.no_grad():
        model.value_head.weight.add_(1.0)
    model.save_pretrained(tmp_path)
    assert (tmp_path / VALUE_HEAD_FILE).is_file()
    ids = torch.tensor([tokenizer.encode("How do I boil an egg?")])
    reloaded = CausalLMWithValueHead.from_pretrained(str(tmp_path))
    for a, b in zip(model(ids, torch.ones_like(ids)), reloaded(ids, torch.ones_like(ids)), strict=True):
        torch.testing.assert_close(a, b)
    # The policy alone is a plain causal LM directory.
    plain = AutoModelForCausalLM.from_pretrained(tmp_path)
    torch.testing.assert_close(plain(ids).logits, model(ids, torch.ones_like(ids))[0])


def test_from_pretrained_without_a_saved_head_starts_near_zero(tokenizer):
    model = CausalLMWithValueHead.from_pretrained(SOURCE)
    ids = torch.tensor([tokenizer.encode("How do I boil an egg?")])
    assert model(ids, torch.ones_like(ids))[1].abs().max() < 1.0


def make_trainer(model, tokenizer, **overrides) -> PPOTrainer:
    settings = {"batch_size": 8, "mini_batch_size": 8, "ppo_epochs": 1, "learning_rate": 1e-4} | overrides
    return PPOTrainer(PPOConfig(**settings), model, tokenizer)


def test_generate_cuts_after_eos_and_respects_the_length_sampler(model, tokenizer):
    trainer = make_trainer(model, tokenizer)
    torch.manual_seed(0)
    responses = trainer.generate(queries_for(tokenizer, 8), LengthSampler(4, 6, seed=0), batch_size=4, do_sample=True)
    assert len(responses) == 8
    eos = tokenizer.eos_token_id
    for response in responses:
        assert 1 <= len(response) <= 5
        assert eos not in response[:-1].tolist()


def test_generate_with_left_padding_equals_one_query_at_a_time(model, tokenizer):
    trainer = make_trainer(model, tokenizer)
    queries = queries_for(tokenizer, 4)  # lengths differ, so batches are padded
    batched = trainer.generate(queries, batch_size=4, do_sample=False, max_new_tokens=6)
    alone = [trainer.generate([query], batch_size=1, do_sample=False, max_new_tokens=6)[0] for query in queries]
    assert [r.tolist() for r in batched] == [r.tolist() for r in alone]


def test_step_checks_the_batch_size(model, tokenizer):
    trainer = make_trainer(model, tokenizer)
    queries = queries_for(tokenizer, 4)
    with pytest.raises(ValueError, match="batch_size=8"):
        trainer.step(queries, queries, [0.0] * 4)


def test_first_step_against_an_identical_reference(model, tokenizer):
    """KL, approx-KL and clipfrac are all zero before the policy has moved; the stats have the classic names."""
    trainer = make_trainer(model, tokenizer)
    queries = queries_for(tokenizer, 8)
    responses = trainer.generate(queries, batch_size=8, do_sample=False, max_new_tokens=5)
    stats = trainer.step(queries, responses, torch.linspace(-1, 1, 8))
    assert stats["objective/kl"] == 0.0
    assert stats["ppo/policy/approxkl"] == 0.0
    assert stats["ppo/policy/clipfrac"] == 0.0
    assert stats["ppo/policy/ratio"] == pytest.approx(1.0)
    assert stats["env/reward_mean"] == pytest.approx(0.0, abs=1e-6)
    for name in (
        "objective/entropy",
        "objective/kl_coef",
        "ppo/loss/policy",
        "ppo/loss/value",
        "ppo/returns/mean",
        "ppo/val/vpred",
        "env/reward_std",
        "ppo/mean_scores",
    ):
        assert name in stats
    # The adaptive controller saw a KL of 0 (< target 6): the coefficient went down, by the classic rule.
    assert trainer.kl_ctl.value == pytest.approx(0.2 * (1 - 0.2 * 8 / 10000))


def test_padding_never_changes_a_rows_logprobs_or_values(model, tokenizer):
    queries = queries_for(tokenizer, 4)
    responses = [torch.tensor(tokenizer.encode(" Sure! Boil water."))] * 4
    small = pack_batch(queries, responses, tokenizer.pad_token_id)
    # A fifth, much longer row makes every other row carry more padding.
    big = pack_batch(queries + [torch.cat(queries)], responses + [responses[0]], tokenizer.pad_token_id)
    width = small.input_ids.shape[1]
    with torch.no_grad():
        small_logits, small_values = model(small.input_ids, small.attention_mask)
        big_logits, big_values = model(big.input_ids, big.attention_mask)
    mask = small.mask
    torch.testing.assert_close(big.mask[:4, : width - 1], mask)
    torch.testing.assert_close(big_values[:4, : width - 1] * mask, small_values[:, :-1] * mask, atol=1e-5, rtol=0)
    torch.testing.assert_close(big_logits[:4, : width - 1], small_logits[:, :-1], atol=1e-4, rtol=0)


def test_stats_do_not_depend_on_what_the_padding_token_is(tokenizer):
    """Padding with another token id changes nothing: padding is never attended to, learned from or counted."""
    queries = queries_for(tokenizer, 8)
    responses = [torch.tensor(tokenizer.encode(text)) for text in (" Sure!", " No.", " Boil water for nine minutes.")]
    responses = [responses[i % 3] for i in range(8)]
    scores = torch.linspace(-1, 1, 8)
    other_pad = copy.deepcopy(tokenizer)
    other_pad.pad_token = tokenizer.convert_ids_to_tokens(100)
    results = []
    for tok in (tokenizer, other_pad):
        torch.manual_seed(0)
        trainer = make_trainer(CausalLMWithValueHead.from_pretrained(SOURCE), tok, mini_batch_size=4, ppo_epochs=2)
        results.append(trainer.step(queries, responses, scores))
    assert other_pad.pad_token_id != tokenizer.pad_token_id
    for key, value in results[0].items():
        if not key.startswith("time/"):
            assert results[1][key] == pytest.approx(value, abs=1e-5), key


def test_learner_functions_drive_the_step(model, tokenizer):
    calls = {"rewards": 0, "advantages": 0, "policy_loss": 0, "value_loss": 0}

    def rewards_fn(scores, kl, mask, kl_coef):
        calls["rewards"] += 1
        assert kl_coef == 0.2
        return kl_penalised_rewards(scores, kl, mask, kl_coef)

    def advantages_fn(rewards, values, mask, gamma, lam):
        calls["advantages"] += 1
        return gae_advantages(rewards, values, mask, gamma, lam)

    def policy_loss_fn(logprobs, old_logprobs, advantages, mask, cliprange):
        calls["policy_loss"] += 1
        return (logprobs * mask).sum() * 0.0

    def value_loss_fn(values, old_values, returns, mask, cliprange_value):
        calls["value_loss"] += 1
        assert cliprange_value == config.cliprange_value
        return (values * mask).sum() * 0.0

    config = PPOConfig(batch_size=8, mini_batch_size=4, ppo_epochs=2)
    trainer = PPOTrainer(
        config,
        model,
        tokenizer,
        rewards_fn=rewards_fn,
        advantages_fn=advantages_fn,
        policy_loss_fn=policy_loss_fn,
        value_loss_fn=value_loss_fn,
    )
    queries = queries_for(tokenizer, 8)
    stats = trainer.step(queries, trainer.generate(queries, max_new_tokens=4, do_sample=False), torch.ones(8))
    assert calls == {"rewards": 1, "advantages": 1, "policy_loss": 4, "value_loss": 4}  # 2 epochs x 2 mini-batches
    assert stats["ppo/loss/policy"] == 0.0 and stats["ppo/loss/value"] == 0.0


def test_the_reference_model_stays_frozen(model, tokenizer):
    trainer = make_trainer(model, tokenizer, learning_rate=1e-2)
    before = [p.detach().clone() for p in trainer.ref_model.parameters()]
    queries = queries_for(tokenizer, 8)
    trainer.step(queries, trainer.generate(queries, max_new_tokens=4, do_sample=False), torch.ones(8))
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.ref_model.parameters(), strict=True))
    assert not any(p.requires_grad for p in trainer.ref_model.parameters())


def test_mean_reward_rises_on_a_toy_task(model, tokenizer):
    """Reward = number of '!' in the response: PPO must learn to write them within a few steps."""
    trainer = make_trainer(
        model, tokenizer, batch_size=32, mini_batch_size=8, ppo_epochs=4, learning_rate=3e-4, init_kl_coef=0.05
    )
    queries = queries_for(tokenizer, 32)
    sampler = LengthSampler(4, 12, seed=0)
    torch.manual_seed(0)
    rewards = []
    for _ in range(12):
        responses = trainer.generate(queries, sampler, batch_size=32, do_sample=True, top_k=0, top_p=1.0)
        scores = [float(tokenizer.decode(r).count("!")) for r in responses]
        stats = trainer.step(queries, responses, scores)
        rewards.append(stats["env/reward_mean"])
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 1.0, rewards


def test_suppressed_tokens_are_never_sampled_and_have_no_probability_in_the_step(model, tokenizer):
    queries = queries_for(tokenizer, 8)
    greedy = make_trainer(model, tokenizer).generate(queries, max_new_tokens=3, do_sample=False)
    favourite = int(greedy[0][0])  # the token the policy writes first: suppressing it must change something
    trainer = make_trainer(model, tokenizer, suppress_tokens=(favourite,))
    torch.manual_seed(0)
    responses = trainer.generate(queries, max_new_tokens=6, do_sample=True, top_k=0, top_p=1.0)
    assert all(favourite not in response.tolist() for response in responses)
    batch = pack_batch(queries, responses, tokenizer.pad_token_id)
    logits, _ = trainer._policy_forward(batch.input_ids, batch.attention_mask)
    probs = torch.softmax(logits, dim=-1)[..., favourite]
    assert torch.all(probs == 0) and torch.isfinite(logits).all()
    stats = trainer.step(queries, responses, torch.ones(8))
    assert all(math.isfinite(value) for value in stats.values())


def test_suppress_tokens_must_be_token_ids():
    with pytest.raises(ValueError, match="suppress_tokens"):
        PPOConfig(suppress_tokens=(-1,))


def lora_policy(**lora) -> CausalLMWithValueHead:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(SOURCE)
    config = LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True, **lora)  # GPT-2's Conv1D: fan_in_fan_out
    return CausalLMWithValueHead(get_peft_model(base, config))


def test_a_lora_policy_is_its_own_reference_with_the_adapters_off(tokenizer):
    """One network in memory: the reference is the base model, the adapters' changes are what the KL measures."""
    model = lora_policy(init_lora_weights=False)  # random adapters: the policy starts away from its base
    trainer = make_trainer(model, tokenizer)
    assert trainer.ref_model is None
    batch = pack_batch(queries_for(tokenizer, 4), [torch.tensor(tokenizer.encode(" Boil water."))] * 4, 0)
    base = AutoModelForCausalLM.from_pretrained(SOURCE).eval()
    with torch.no_grad():
        expected = base(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1]
        reference = trainer._reference_logits(batch.input_ids, batch.attention_mask)
        policy, _ = trainer._policy_forward(batch.input_ids, batch.attention_mask)
    torch.testing.assert_close(reference, expected)
    assert not torch.allclose(policy, expected, atol=1e-3)  # the adapters are on again after the reference pass


def test_a_lora_policy_trains_only_its_adapters_and_value_head(tokenizer):
    model = lora_policy()  # LoRA's own initialisation: B = 0, so the policy starts equal to its reference
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable and all("lora_" in name or name.startswith("value_head") for name in trainable)
    before = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    trainer = make_trainer(model, tokenizer, learning_rate=1e-2)
    optimised = sum(len(group["params"]) for group in trainer.optimizer.param_groups)
    assert optimised == len(trainable)  # no optimiser state for the frozen base
    queries = queries_for(tokenizer, 8)
    stats = trainer.step(
        queries, trainer.generate(queries, max_new_tokens=4, do_sample=False), torch.linspace(-1, 1, 8)
    )
    assert stats["objective/kl"] == 0.0  # before the update, policy == base model
    changed = {name for name, parameter in model.named_parameters() if not torch.equal(parameter, before[name])}
    assert changed == {name for name in trainable if "lora_A" not in name}  # B = 0 gives A no gradient at first
