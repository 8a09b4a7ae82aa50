"""Lab 5, the capstone: RLHF end to end, and what optimising a learned reward does to the true one.

The pipeline of InstructGPT (Ouyang et al. 2022), measured as in Gao, Schulman & Hilton (2022, "Scaling laws for
reward model overoptimization"):

1. an SFT policy (`train_sft_policy`);
2. answers sampled from it (`sample_answers`), labelled in pairs by the **gold** reward (`load_gold_reward`: the
   stand-in for human preference) and a **proxy** reward model trained on those pairs (`train_proxy`, Lab 2's method);
3. best-of-n against the proxy (`best_of_n_curve`) and PPO against it (`run_ppo`, LoRA adapters only), both measured
   by the gold reward at each KL distance from the SFT policy (`kl_to_reference`).

A question is what the gold judge reads; a *query* is the question as the policy sees it (`World.query`); an answer
is what the policy wrote, up to ``World.answer_end``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, load_dataset
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .dpo import train_sft_reference
from .judge import gold_reward
from .lm import logprobs_from_logits, pack_batch, reward_scores, sample_responses
from .loaders import load_causal_lm, load_reward_model
from .overoptimization import GoldFn, prefer_by
from .ppo import PPOTrainer
from .profiles import Profile
from .quiet import progress_bars_enabled
from .sources import resolve
from .training import train

RewardsFn = Callable[[Sequence[str], Sequence[str]], list[float]]  # (questions, answers) -> one reward per answer
HH_HUMAN, HH_ASSISTANT = "\n\nHuman: ", "\n\nAssistant:"


@dataclass(frozen=True)
class World:
    """What the capstone's policy is asked, how it is asked, and what it is taught first.

    ``questions`` are what the gold judge reads; ``sft_rows`` (prompt / completion) what SFT imitates.
    """

    questions: list[str]
    sft_rows: Dataset
    chat: bool  # True: queries are hh-rlhf dialogues ("Human: ... Assistant:"); False: the question, a blank line
    # An answer stops here as well as at the end-of-sequence token: the end of its line (tiny); None (full): only at
    # the end-of-sequence token, which SFT taught it to write after each answer (hh-rlhf's answers span lines).
    answer_end: str | None

    def query(self, question: str) -> str:
        """The text the policy continues to answer ``question``.

        >>> World([], Dataset.from_dict({}), chat=False, answer_end="\\n").query("How do I boil an egg?")
        'How do I boil an egg?\\n\\n'
        """
        return f"{HH_HUMAN}{question}{HH_ASSISTANT}" if self.chat else f"{question}\n\n"


def load_world(profile: Profile) -> World:
    """The tiny how-to world (our preference sample: 200 questions on 40 tasks) or, in ``full``, the single-turn
    dialogues of hh-rlhf's helpful-base split (question, and the chosen answer for SFT)."""
    if not profile.is_full:
        rows = load_dataset(resolve("capstone_dialogues", profile), split="train")
        world = World(sorted(set(rows["prompt"])), Dataset.from_dict({}), chat=False, answer_end="\n")
        sft = rows.map(lambda row: {"prompt": world.query(row["prompt"]), "completion": row["chosen"]})
        return replace(world, sft_rows=sft.select_columns(["prompt", "completion"]))
    rows = load_dataset(resolve("capstone_dialogues", profile), data_dir="helpful-base", split="train")
    single = rows.filter(lambda row: row["chosen"].count(HH_HUMAN) == 1)
    split = [row["chosen"].rsplit(HH_ASSISTANT, 1) for row in single]
    questions = [head.removeprefix(HH_HUMAN).strip() for head, _ in split]
    sft = Dataset.from_dict(
        {"prompt": [head + HH_ASSISTANT for head, _ in split], "completion": [tail for _, tail in split]}
    )
    return World(sorted(set(questions)), sft, chat=True, answer_end=None)


def train_sft_policy(
    profile: Profile, world: World, config: Any, save_dir: str | Path, peft_config: Any = None
) -> list[dict]:
    """Fine-tune the capstone's base model on ``world.sft_rows`` (completion-only loss, Lab 1's method) and save it
    to ``save_dir`` (a LoRA adapter is merged first); returns the log history."""
    model, tokenizer = load_causal_lm("capstone_policy", profile)
    pairs = world.sft_rows.rename_column("completion", "chosen")
    return train_sft_reference(model, tokenizer, pairs, config, save_dir, peft_config=peft_config)


def stop_token_ids(tokenizer: PreTrainedTokenizerBase, world: World) -> list[int]:
    """The tokens an answer stops at: the end-of-sequence token, and ``world.answer_end`` (which must be one token)."""
    if world.answer_end is None:
        return [tokenizer.eos_token_id]
    stop = tokenizer.encode(world.answer_end, add_special_tokens=False)
    if len(stop) != 1:
        raise ValueError(f"The answer end {world.answer_end!r} must be one token, not {len(stop)}.")
    return [tokenizer.eos_token_id, stop[0]]


@dataclass
class Samples:
    """Answers sampled from a policy: the token ids PPO trains on and the text the judges read."""

    questions: list[str]
    query_ids: list[torch.Tensor]
    response_ids: list[torch.Tensor]  # each ends at the answer's end (or the end-of-sequence token), or is cut off
    answers: list[str]


@torch.no_grad()
def sample_answers(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    questions: Sequence[str],
    max_new_tokens: int,
    seed: int,
    batch_size: int = 64,
) -> Samples:
    """One sampled answer per question (plain sampling: temperature 1, no top-k or top-p), reproducible by ``seed``.

    Generation stops at the end-of-sequence token or at ``world.answer_end`` (`stop_token_ids`); an answer that
    reaches ``max_new_tokens`` first is cut off, and the gold judge sees that.
    """
    query_ids = [torch.tensor(tokenizer.encode(world.query(question))) for question in questions]
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        responses = sample_responses(
            model,
            tokenizer,
            query_ids,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            do_sample=True,
            top_k=0,
            top_p=1.0,
            eos_token_id=stop_token_ids(tokenizer, world),
        )
    answers = [tokenizer.decode(response, skip_special_tokens=True).strip() for response in responses]
    return Samples(list(questions), query_ids, responses, answers)


def load_gold_reward(profile: Profile) -> RewardsFn:
    """The gold reward, ``gold(questions, answers) -> rewards``: the tiny world's judge (`judge.gold_reward`) or, in
    ``full``, OpenAssistant's DeBERTa-v3-large reward model (trained on human preferences; 435 M parameters, it fits
    a T4 beside the policy)."""
    if not profile.is_full:
        return lambda questions, answers: [gold_reward(q, a) for q, a in zip(questions, answers, strict=True)]
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = resolve("gold_reward_model", profile)
    model = AutoModelForSequenceClassification.from_pretrained(source).to(profile.device).eval()
    tokenizer = AutoTokenizer.from_pretrained(source)

    @torch.no_grad()
    def gold(questions: Sequence[str], answers: Sequence[str]) -> list[float]:
        scores = []
        for start in range(0, len(questions), 32):
            batch = tokenizer(
                list(questions[start : start + 32]),
                list(answers[start : start + 32]),
                truncation=True,
                max_length=512,
                padding=True,
                return_tensors="pt",
            ).to(profile.device)
            scores += model(**batch).logits[:, 0].float().cpu().tolist()
        return scores

    return gold


def gold_judge(gold: RewardsFn) -> GoldFn:
    """The gold reward of one answer at a time, ``(question, answer) -> reward``."""
    return lambda question, answer: gold([question], [answer])[0]


def train_proxy(
    profile: Profile, world: World, pairs: Sequence[dict[str, str]], config: Any, save_dir: str | Path
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, list[dict]]:
    """The proxy reward model: Lab 2's (gpt2, or the tiny GPT-2, with a scalar head) trained with ``RewardTrainer``
    on ``pairs`` (question / chosen / rejected answers, written as the policy's query followed by the answer), and
    saved to ``save_dir`` (``loaders.load_saved_reward_model`` loads it back)."""
    from trl import RewardTrainer

    texts = {
        "chosen": [world.query(pair["prompt"]) + pair["chosen"] for pair in pairs],
        "rejected": [world.query(pair["prompt"]) + pair["rejected"] for pair in pairs],
    }
    model, tokenizer = load_reward_model(profile)
    trainer = RewardTrainer(
        model=model, args=config, train_dataset=Dataset.from_dict(texts), processing_class=tokenizer
    )
    train(trainer)
    trainer.save_model(str(save_dir))
    return trainer.model.eval(), tokenizer, trainer.state.log_history


def proxy_rewards(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, world: World) -> RewardsFn:
    """The proxy as a reward function, ``proxy(questions, answers) -> rewards``: it reads what it was trained on."""

    def proxy(questions: Sequence[str], answers: Sequence[str]) -> list[float]:
        texts = [world.query(q) + a for q, a in zip(questions, answers, strict=True)]
        return reward_scores(model, tokenizer, texts, batch_size=64, desc=None).tolist()

    return proxy


def best_of_n_curve(
    proxy: torch.Tensor,
    gold: torch.Tensor,
    ns: Sequence[int],
    select: Callable[[torch.Tensor], torch.Tensor],
    kl: Callable[[int], float],
) -> list[dict[str, float]]:
    """Proxy and gold reward of best-of-n by the proxy, for each n in ``ns``, from N samples per question.

    ``proxy`` and ``gold`` are (questions, N). Each question's N samples are cut into N // n groups of n; ``select``
    picks the best of each group by the proxy (indices, one per group); the rows average the picked samples' rewards
    over groups and questions. Using every group, not one, gives the same expectation with N / n times the samples.
    """
    if proxy.shape != gold.shape or proxy.ndim != 2:
        raise ValueError(
            f"proxy and gold must both be (questions, N), got {tuple(proxy.shape)} and {tuple(gold.shape)}."
        )
    rows = []
    for n in ns:
        groups = proxy.shape[1] // n
        if groups == 0:
            raise ValueError(f"n = {n} needs at least {n} samples per question, there are {proxy.shape[1]}.")
        proxy_groups = proxy[:, : groups * n].reshape(-1, n)  # (questions * groups, n)
        gold_groups = gold[:, : groups * n].reshape(-1, n)
        picked = torch.as_tensor(select(proxy_groups)).long().reshape(-1, 1)
        rows.append(
            {
                "n": n,
                "kl": float(kl(n)),
                "proxy": proxy_groups.gather(1, picked).mean().item(),
                "gold": gold_groups.gather(1, picked).mean().item(),
            }
        )
    return rows


@torch.no_grad()
def response_logprobs(
    model: torch.nn.Module, query_ids: Sequence[torch.Tensor], response_ids: Sequence[torch.Tensor], pad_token_id: int
) -> torch.Tensor:
    """log pi(response | query) of each sample: the sum of its response tokens' log-probabilities, shape (samples,)."""
    batch = pack_batch(query_ids, response_ids, pad_token_id)
    device = next(model.parameters()).device
    logits = model(input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device)).logits
    per_token = logprobs_from_logits(logits[:, :-1].float(), batch.input_ids[:, 1:].to(device))  # (samples, tokens-1)
    return (per_token * batch.mask.to(device)).sum(dim=1).cpu()


def kl_to_reference(
    policy: torch.nn.Module, reference: torch.nn.Module | None, samples: Samples, pad_token_id: int
) -> float:
    """KL(policy || reference) per answer, estimated on answers sampled from the policy:
    the mean of log pi(y|x) - log pi_ref(y|x) (an unbiased estimate; a single sample may be negative).

    ``reference=None``: the policy is a PEFT model and its reference is itself with the adapters switched off.
    """
    ours = response_logprobs(policy, samples.query_ids, samples.response_ids, pad_token_id)
    if reference is None:
        with policy.disable_adapter():
            theirs = response_logprobs(policy, samples.query_ids, samples.response_ids, pad_token_id)
    else:
        theirs = response_logprobs(reference, samples.query_ids, samples.response_ids, pad_token_id)
    return (ours - theirs).mean().item()


@dataclass
class PPORun:
    """What `run_ppo` measured: one row per evaluation (step, KL to the SFT policy, proxy and gold rewards), the
    answers sampled there, and the trained weights (adapters and value head) at each evaluation."""

    history: list[dict[str, float]] = field(default_factory=list)
    answers: dict[int, Samples] = field(default_factory=dict)
    weights: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)

    def best_step(self) -> int:
        """The evaluated step with the highest gold reward: where early stopping on a gold check would stop."""
        return max(self.history, key=lambda row: row["gold"])["step"]

    def restore(self, trainer: PPOTrainer, step: int) -> None:
        """Put the trained weights of ``step`` back into the trainer's policy."""
        saved = self.weights[step]
        with torch.no_grad():
            for name, parameter in trainer.policy.named_parameters():
                if name in saved:
                    parameter.copy_(saved[name])


def run_ppo(
    trainer: PPOTrainer,
    world: World,
    questions: Sequence[str],
    reward: RewardsFn,
    proxy: RewardsFn,
    gold: RewardsFn,
    steps: int,
    eval_questions: Sequence[str],
    eval_every: int,
    max_new_tokens: int,
    seed: int = 0,
    desc: str = "PPO",
) -> PPORun:
    """PPO against ``reward`` for ``steps`` steps of ``trainer.config.batch_size`` questions, evaluated before the
    first step, every ``eval_every`` steps and after the last.

    Each step samples answers to questions drawn from ``questions`` and passes ``reward(questions, answers)`` to
    `PPOTrainer.step`. Each evaluation samples answers to ``eval_questions`` (with the same seed every time, so that
    differences come from the policy) and records the mean proxy and gold rewards and the KL to the SFT policy (the
    trainer's reference). The policy needs LoRA adapters, or the trainer an explicit reference.
    """
    run = PPORun()
    tokenizer, batch_size = trainer.tokenizer, trainer.config.batch_size
    picker = torch.Generator().manual_seed(seed)
    bar = tqdm(range(steps + 1), desc=desc, disable=not progress_bars_enabled())
    for step in bar:
        if step % eval_every == 0 or step == steps:
            evaluation = sample_answers(trainer.policy, tokenizer, world, eval_questions, max_new_tokens, seed + 1)
            run.answers[step] = evaluation
            run.weights[step] = {
                name: parameter.detach().clone()
                for name, parameter in trainer.policy.named_parameters()
                if parameter.requires_grad
            }
            kl = kl_to_reference(trainer.policy.policy, trainer.ref_model, evaluation, tokenizer.pad_token_id)
            row = {
                "step": step,
                "kl": kl,
                "proxy": statistics.mean(proxy(evaluation.questions, evaluation.answers)),
                "gold": statistics.mean(gold(evaluation.questions, evaluation.answers)),
            }
            run.history.append(row)
            bar.set_postfix(kl=f"{kl:.2f}", proxy=f"{row['proxy']:.2f}", gold=f"{row['gold']:.2f}")
        if step == steps:
            break
        chosen = [questions[i] for i in torch.randint(len(questions), (batch_size,), generator=picker).tolist()]
        batch = sample_answers(trainer.policy, tokenizer, world, chosen, max_new_tokens, seed + 2 + step)
        trainer.step(batch.query_ids, batch.response_ids, reward(batch.questions, batch.answers))
    return run


def peak_then_fall(gold: Sequence[float], proxy: Sequence[float], drop: float) -> bool:
    """Whether a run shows over-optimisation: the proxy ends above where it started, and the gold reward peaks
    before the last evaluation and ends at least ``drop`` below its peak.

    >>> peak_then_fall(gold=[0.2, 1.0, 0.6, 0.1], proxy=[0.0, 0.5, 0.9, 1.2], drop=0.5)
    True
    >>> peak_then_fall(gold=[0.2, 0.5, 0.8, 1.0], proxy=[0.0, 0.5, 0.9, 1.2], drop=0.5)  # gold still rising
    False
    """
    if len(gold) != len(proxy) or len(gold) < 3:
        raise ValueError(f"Give at least three evaluations of both rewards, got {len(gold)} and {len(proxy)}.")
    peak = max(range(len(gold)), key=gold.__getitem__)
    return proxy[-1] > proxy[0] and peak < len(gold) - 1 and gold[-1] <= gold[peak] - drop


def exploits(samples: Samples, proxy: RewardsFn, gold: RewardsFn, k: int = 5) -> list[dict[str, float | str]]:
    """The ``k`` answers of ``samples`` that the proxy likes most compared with the gold judge: what the policy
    learned to exploit shows here."""
    proxy_scores, gold_scores = proxy(samples.questions, samples.answers), gold(samples.questions, samples.answers)
    # On a common scale (standard scores: the two rewards have different units), the proxy's excess over the gold.
    gap = standardised(proxy_scores) - standardised(gold_scores)
    picked = gap.argsort(descending=True)[:k].tolist()
    return [
        {
            "question": samples.questions[i],
            "answer": samples.answers[i],
            "proxy": proxy_scores[i],
            "gold": gold_scores[i],
        }
        for i in picked
    ]


def standardised(values: Sequence[float]) -> torch.Tensor:
    """``values`` less their mean, divided by their standard deviation (1 if they are all equal).

    >>> standardised([1.0, 2.0, 3.0]).tolist()
    [-1.0, 0.0, 1.0]
    """
    values = torch.as_tensor(values, dtype=torch.float32)
    std = values.std() if len(values) > 1 and values.std() > 0 else torch.tensor(1.0)
    return (values - values.mean()) / std


def preference_rows(world: World, pairs: Sequence[dict[str, str]]) -> Dataset:
    """Gold-labelled pairs as ``trl.DPOTrainer`` reads them: the policy's query as the prompt, the two answers."""
    return Dataset.from_dict(
        {
            "prompt": [world.query(pair["prompt"]) for pair in pairs],
            "chosen": [pair["chosen"] for pair in pairs],
            "rejected": [pair["rejected"] for pair in pairs],
        }
    )


def query_rows(world: World, questions: Sequence[str]) -> Dataset:
    """Questions as ``trl.GRPOTrainer`` (or ``RLOOTrainer``) reads them: the query as the prompt, and the question
    in a column of its own, which the trainer hands to the reward function."""
    return Dataset.from_dict({"prompt": [world.query(q) for q in questions], "question": list(questions)})


def trl_reward(world: World, reward: RewardsFn) -> Callable[..., list[float]]:
    """``reward(questions, answers)`` as a reward function of TRL's online trainers, which call it with the prompts,
    the completions and the dataset's other columns (here ``question``). An answer is the completion up to
    ``world.answer_end``, as `sample_answers` cuts it."""

    def rewards(prompts: list[str], completions: list[str], question: list[str], **_: Any) -> list[float]:
        answers = [
            completion.split(world.answer_end)[0].strip() if world.answer_end else completion.strip()
            for completion in completions
        ]
        return [float(value) for value in reward(question, answers)]

    rewards.__name__ = "proxy"  # TRL logs each reward function's mean under its name
    return rewards


def route_row(
    name: str,
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    world: World,
    sft_side: Samples,
    gold: RewardsFn,
    proxy: RewardsFn,
    win_rate: Callable[[Callable[[str, str, str], float], list[str], list[str], list[str]], float],
    max_new_tokens: int,
    seed: int,
) -> dict[str, float | str]:
    """One row of the routes' table: a LoRA-tuned policy (``model``, a PEFT model on the SFT model) answers the
    questions of ``sft_side`` with the same seed as the SFT policy did, and is compared with it: the gold win rate
    (by ``win_rate``, each pair judged in both orders), the mean gold and proxy rewards, the KL from the SFT policy
    (the adapters switched off) and the mean answer length in words."""
    side = sample_answers(model, tokenizer, world, sft_side.questions, max_new_tokens, seed)
    prefer = prefer_by(gold_judge(gold))
    return {
        "policy": name,
        "gold win rate vs SFT": win_rate(prefer, side.questions, side.answers, sft_side.answers),
        "gold reward": statistics.mean(gold(side.questions, side.answers)),
        "proxy reward": statistics.mean(proxy(side.questions, side.answers)),
        "KL from SFT": kl_to_reference(model, None, side, tokenizer.pad_token_id),
        "mean length (words)": statistics.mean(len(answer.split()) for answer in side.answers),
    }
