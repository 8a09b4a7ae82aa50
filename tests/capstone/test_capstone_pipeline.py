"""The capstone's pipeline (`course_utils.capstone`) on the tiny profile: small seeded inputs, exact numbers."""

import pytest
import torch
from peft import LoraConfig
from transformers import AutoModelForCausalLM

from course_utils import capstone
from course_utils.capstone.judge import gold_reward
from course_utils.capstone.measures import best_of_n, best_of_n_kl
from course_utils.ppo import PPOConfig, PPOTrainer, lora_policy, policy_signals
from course_utils.runtime.loaders import load_saved_reward_model, load_tokenizer
from course_utils.runtime.profiles import Profile
from course_utils.runtime.sources import asset_path

SOURCE = str(asset_path("models", "gpt2-tiny"))
LORA = LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True, lora_dropout=0.0)


@pytest.fixture(scope="module")
def world():
    return capstone.load_world(Profile("tiny", "cpu"))


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(SOURCE)


@pytest.fixture(scope="module")
def model():
    return AutoModelForCausalLM.from_pretrained(SOURCE).eval()


def test_the_tiny_world_has_the_how_to_questions_and_sft_rows_in_query_form(world):
    assert len(world.questions) == 200  # 40 tasks x 5 phrasings
    assert world.sft_rows.column_names == ["prompt", "completion"]
    row = world.sft_rows[0]
    assert row["prompt"] == world.query(row["prompt"].removesuffix("\n\n"))
    assert world.answer_end == "\n" and not world.chat


def test_sampled_answers_are_reproducible_end_at_the_line_and_leave_the_global_seed_alone(world, tokenizer, model):
    questions = world.questions[:8]
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = capstone.sample_answers(model, tokenizer, world, questions, max_new_tokens=30, seed=5)
    assert torch.rand(1) == expected_next  # sampling forked the random state
    again = capstone.sample_answers(model, tokenizer, world, questions, max_new_tokens=30, seed=5)
    other = capstone.sample_answers(model, tokenizer, world, questions, max_new_tokens=30, seed=6)
    assert first.answers == again.answers and first.answers != other.answers
    newline = tokenizer.encode("\n")[0]
    for response, answer in zip(first.response_ids, first.answers, strict=True):
        assert "\n" not in answer
        ended = response[-1].item() in (newline, tokenizer.eos_token_id)
        assert ended or len(response) == 30  # stopped at the end of the line, or cut off
        assert newline not in response[:-1].tolist()


def test_the_tiny_gold_reward_is_the_judge():
    gold = capstone.load_gold_reward(Profile("tiny", "cpu"))
    question, answers = "How do I boil an egg?", ["No.", "Sure! Put the egg in a pot of cold water. Good luck!"]
    assert gold([question] * 2, answers) == [gold_reward(question, answer) for answer in answers]
    assert capstone.gold_judge(gold)(question, answers[1]) == gold_reward(question, answers[1])


def test_best_of_n_curve_by_hand():
    proxy = torch.tensor([[0.0, 2.0, 1.0, 3.0]])  # one question, N = 4 samples
    gold = torch.tensor([[1.0, 0.0, 2.0, -1.0]])
    rows = capstone.best_of_n_curve(proxy, gold, [1, 2, 4], best_of_n, best_of_n_kl)
    # n = 1: every sample: proxy (0 + 2 + 1 + 3) / 4 = 1.5, gold (1 + 0 + 2 - 1) / 4 = 0.5
    # n = 2: groups (0, 2) and (1, 3) keep samples 1 and 3: proxy (2 + 3) / 2 = 2.5, gold (0 - 1) / 2 = -0.5
    # n = 4: sample 3: proxy 3, gold -1
    assert [(row["n"], row["proxy"], row["gold"]) for row in rows] == [(1, 1.5, 0.5), (2, 2.5, -0.5), (4, 3.0, -1.0)]
    assert [row["kl"] for row in rows] == [best_of_n_kl(1), best_of_n_kl(2), best_of_n_kl(4)]
    with pytest.raises(ValueError, match="at least 8 samples"):
        capstone.best_of_n_curve(proxy, gold, [8], best_of_n, best_of_n_kl)


def test_policy_signals_sum_each_answers_tokens_whatever_the_padding(world, tokenizer, model):
    samples = capstone.sample_answers(model, tokenizer, world, world.questions[:4], max_new_tokens=12, seed=0)
    answered, pad = (samples.query_ids, samples.response_ids), tokenizer.pad_token_id
    signals = policy_signals(model, model, *answered, pad, batch_size=3)  # two batches: 3 answers, then 1
    for i, (query, response) in enumerate(zip(samples.query_ids, samples.response_ids, strict=True)):
        ids = torch.cat([query, response]).unsqueeze(0)
        with torch.no_grad():
            logprobs = torch.log_softmax(model(ids).logits[0, :-1], dim=-1)[len(query) - 1 :]  # predicting the answer
        alone = logprobs.gather(1, response.unsqueeze(1)).sum()
        entropy = -(logprobs.exp() * logprobs).sum(-1).mean()
        assert signals["logprob"][i].item() == pytest.approx(alone.item(), abs=1e-4)
        assert signals["entropy"][i].item() == pytest.approx(entropy.item(), abs=1e-4)
        assert signals["length"][i].item() == len(response)


def test_the_kl_signal_is_zero_for_the_same_model_and_for_fresh_adapters(world, tokenizer, model):
    samples = capstone.sample_answers(model, tokenizer, world, world.questions[:6], max_new_tokens=12, seed=0)
    same = policy_signals(model, model, samples.query_ids, samples.response_ids, tokenizer.pad_token_id)
    assert same["kl"].tolist() == [0.0] * 6
    fresh = lora_policy(SOURCE, LORA, "cpu")  # B = 0: the adapters change nothing yet
    adapters_off = policy_signals(fresh.policy, None, samples.query_ids, samples.response_ids, tokenizer.pad_token_id)
    assert adapters_off["kl"].tolist() == [0.0] * 6


def test_rlhf_loop_evaluates_on_schedule_and_restores_any_evaluated_step(world, tokenizer):
    torch.manual_seed(0)
    policy = lora_policy(SOURCE, LORA, "cpu")
    config = PPOConfig(batch_size=4, mini_batch_size=4, ppo_epochs=1, learning_rate=1e-2, init_kl_coef=0.05)
    trainer = PPOTrainer(config, policy, tokenizer)
    length = lambda questions, answers: [float(len(answer.split())) for answer in answers]  # noqa: E731
    sample = capstone.sampler(tokenizer, world, max_new_tokens=8)
    run = capstone.PPORun(sample, world.questions[:4], length, length)
    assert capstone.rlhf_loop(trainer, run, sample, length, world.questions, 3, 2) is run
    assert [row["step"] for row in run.history] == [0, 2, 3]  # the start, every 2 steps, and the last
    assert run.history[0]["kl"] == 0.0  # before the first step, the policy is its reference
    assert set(run.answers) == set(run.weights) == {0, 2, 3}
    assert all(name.startswith(("policy.", "value_head.")) for name in run.weights[0])
    run.restore(trainer, 0)
    assert run.evaluate(trainer, 4) == {**run.history[0], "step": 4}  # the starting policy, measured again
    assert run.best_step() in (0, 2, 3, 4)
    run.audit(size=3)
    assert [row["discordance"] for row in run.history] == [0.0] * 4  # the proxy is the gold reward: no disagreement
    run.audit(size=3, disagreement=lambda proxy_scores, gold_scores: float(len(proxy_scores)))
    assert run.history[0]["discordance"] == 3.0


def test_peak_then_fall_needs_a_rising_proxy_and_half_the_gold_gain_given_back():
    assert capstone.peak_then_fall([0.0, 1.0, 0.5], [0.0, 1.0, 2.0])  # gained 1.0, gave back 0.5
    assert not capstone.peak_then_fall([0.0, 1.0, 0.6], [0.0, 1.0, 2.0])  # gave back 0.4 of 1.0
    assert capstone.peak_then_fall([0.0, 1.0, 0.6], [0.0, 1.0, 2.0], give_back=0.4)
    assert capstone.peak_then_fall([-0.4, 0.2, -0.1], [0.0, 1.0, 2.0])  # gained 0.6, gave back 0.3
    assert not capstone.peak_then_fall([0.0, 1.0, 0.4], [2.0, 1.0, 0.0])  # the proxy fell too
    assert not capstone.peak_then_fall([1.0, 0.8, 0.1], [0.0, 1.0, 2.0])  # the gold never rose
    with pytest.raises(ValueError, match="three evaluations"):
        capstone.peak_then_fall([0.0, 1.0], [0.0, 1.0])


def test_exploits_are_the_answers_the_proxy_overrates_most():
    samples = capstone.Samples(["q"] * 4, [], [], ["a", "b", "c", "d"])
    proxy = lambda questions, answers: [1.0, 2.0, 3.0, 4.0]  # noqa: E731
    gold = lambda questions, answers: [1.0, 2.0, -5.0, 4.0]  # noqa: E731 -- "c" is the proxy's mistake
    assert [row["answer"] for row in capstone.exploits(samples, proxy, gold, k=1)] == ["c"]


def test_train_proxy_learns_the_gold_labelled_pairs_and_saves_itself(world, tmp_path):
    profile = Profile("tiny", "cpu")
    pairs = [
        {"prompt": question, "chosen": f"Sure! Here is how. {question} Good luck!", "rejected": "No."}
        for question in world.questions[:32]
    ]
    from trl import RewardConfig

    from course_utils.runtime.training import trainer_kwargs

    config = RewardConfig(
        output_dir="unused",
        max_steps=10,
        per_device_train_batch_size=16,
        learning_rate=1e-3,
        logging_steps=1,
        **trainer_kwargs(profile),
    )
    model, tokenizer, history = capstone.train_proxy(profile, world, pairs, config, tmp_path / "proxy")
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert losses[-1] < losses[0]
    proxy = capstone.proxy_rewards(model, tokenizer, world)
    questions = world.questions[32:40]
    chosen = proxy(questions, [f"Sure! Here is how. {q} Good luck!" for q in questions])
    rejected = proxy(questions, ["No."] * len(questions))
    assert all(c > r for c, r in zip(chosen, rejected, strict=True))
    reloaded = capstone.proxy_rewards(*load_saved_reward_model(tmp_path / "proxy", "cpu"), world)
    assert reloaded(questions, ["No."] * len(questions)) == pytest.approx(rejected, abs=1e-5)


def test_stop_token_ids_are_the_end_of_sequence_and_the_answer_end(world, tokenizer):
    assert capstone.stop_token_ids(tokenizer, world) == [tokenizer.eos_token_id, tokenizer.encode("\n")[0]]
    two_tokens = capstone.World([], world.sft_rows, chat=False, answer_end="\n\n\n.")
    with pytest.raises(ValueError, match="must be one token"):
        capstone.stop_token_ids(tokenizer, two_tokens)


def test_trl_rows_and_reward_use_the_query_and_cut_the_answer_like_sample_answers(world):
    pairs = [{"prompt": "How do I boil an egg?", "chosen": "Boil it.", "rejected": "No."}]
    assert capstone.preference_rows(world, pairs)[0] == {
        "prompt": "How do I boil an egg?\n\n",
        "chosen": "Boil it.",
        "rejected": "No.",
    }
    rows = capstone.query_rows(world, ["How do I boil an egg?"])
    assert rows[0] == {"prompt": "How do I boil an egg?\n\n", "question": "How do I boil an egg?"}
    seen = []

    def reward(questions, answers):
        seen.append((list(questions), list(answers)))
        return [1.5] * len(answers)

    trl_fn = capstone.trl_reward(world, reward)
    assert trl_fn(rows["prompt"], [" Boil it. \nHow do I fry it?"], question=rows["question"]) == [1.5]
    assert seen == [(["How do I boil an egg?"], ["Boil it."])]  # the answer stops at the end of its line


def test_route_row_compares_a_lora_policy_with_the_sft_answers(world, tokenizer, model):
    fresh = lora_policy(SOURCE, LORA, "cpu")  # B = 0: the same policy as the SFT model
    sft_side = capstone.sample_answers(model, tokenizer, world, world.questions[:6], max_new_tokens=16, seed=3)
    length = lambda questions, answers: [float(len(answer)) for answer in answers]  # noqa: E731
    judged = []

    def win_rate(prefer, questions, ours, theirs):
        judged.append((ours, theirs))
        return 0.25

    row = capstone.route_row("fresh", fresh.policy, tokenizer, world, sft_side, length, length, win_rate, 16, seed=3)
    assert judged == [(sft_side.answers, sft_side.answers)]  # the same seed, the same policy: the same answers
    assert row == {
        "policy": "fresh",
        "gold win rate vs SFT": 0.25,
        "gold reward": pytest.approx(sum(map(len, sft_side.answers)) / 6),
        "proxy reward": pytest.approx(sum(map(len, sft_side.answers)) / 6),
        "KL from SFT": 0.0,
        "mean length (words)": pytest.approx(sum(len(a.split()) for a in sft_side.answers) / 6),
    }


def test_without_an_answer_end_only_the_end_of_sequence_token_stops_an_answer(world, tokenizer):
    dialogues = capstone.World([], world.sft_rows, chat=True, answer_end=None)  # the full profile's hh-rlhf answers
    assert capstone.stop_token_ids(tokenizer, dialogues) == [tokenizer.eos_token_id]
    assert dialogues.query("Hi?") == "\n\nHuman: Hi?\n\nAssistant:"
    keep = capstone.trl_reward(dialogues, lambda questions, answers: [float(len(a)) for a in answers])
    assert keep(["p"], [" Line one.\nLine two. "], question=["Hi?"]) == [float(len("Line one.\nLine two."))]
