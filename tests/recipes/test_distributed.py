"""Two CPU processes under torchrun (DDP over gloo), launched once as docs/train.md says
(``ACCELERATE_USE_CPU=true torchrun --nproc_per_node 2 ...``): `course train`'s trainer and our PPO and GRPO engines
stay in step, and the engines' statistics are gathered over both processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from course_utils.runtime.sources import asset_path

TINY = str(asset_path("models", "gpt2-tiny"))
HH = [
    {
        "chosen": f"\n\nHuman: Question {i}?\n\nAssistant: A kind, full answer {i}.",
        "rejected": f"\n\nHuman: Question {i}?\n\nAssistant: No.",
    }
    for i in range(40)
]

# Each rank: 5 steps of `course train dpo` (2 pairs a step); 2 PPO steps of our engine on its own queries with its
# own constant reward (rank 0 scores 1, rank 1 scores 3); 2 steps of `course train ppo` (each rank samples its own
# prompts; the tiny GPT-2 with a fresh one-score head as the reward model), evaluated on 3 prompts shared unevenly;
# 2 steps of `course train grpo` (each rank its own prompts, 4 answers to each, a length reward from a file);
# after each, a digest of the weights the rank ended with.
RANK_REPORT = """import hashlib, json, sys
from pathlib import Path

import torch
from datasets import Dataset

from course_utils.runtime.loaders import load_tokenizer
from course_utils.ppo import CausalLMWithValueHead, PPOConfig, PPOTrainer
from course_utils.recipes import RecipeConfig, build_trainer, run_grpo_recipe, run_ppo_recipe


def digest(weights):
    return hashlib.sha256(b"".join(weights[name].detach().numpy().tobytes() for name in sorted(weights))).hexdigest()


source, pairs, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
config = RecipeConfig(method="dpo", model=source, output_dir=str(out / "dpo"), train_files=(pairs,), max_steps=5,
                      batch_size=2, eval_fraction=0, learning_rate=1e-2)
trainer = build_trainer(config)
trainer.train()
rank = trainer.accelerator.process_index
weights = trainer.accelerator.unwrap_model(trainer.model).state_dict()
recipe = {"world": trainer.accelerator.num_processes, "epoch": trainer.state.epoch, "digest": digest(weights),
          "lora_b": float(sum(w.abs().sum() for name, w in weights.items() if "lora_B" in name))}

torch.manual_seed(0)
tokenizer = load_tokenizer(source)
ppo = PPOTrainer(PPOConfig(batch_size=8, mini_batch_size=4, learning_rate=1e-3, seed=0),
                 CausalLMWithValueHead.from_pretrained(source), tokenizer)
before = digest(ppo.policy.state_dict())
prompts = ["How do I make tea?", "Hi"] if rank == 0 else ["How do I boil an egg?", "Bake bread, please."]
queries = [torch.tensor(tokenizer.encode(prompts[i % 2] + "\\n\\n")) for i in range(8)]
torch.manual_seed(rank)  # each rank samples its own answers
for _ in range(2):
    responses = ppo.generate(queries, max_new_tokens=6, do_sample=True, top_k=0, top_p=1.0)
    stats = ppo.step(queries, responses, torch.full((8,), 1.0 + 2.0 * rank))
engine = {"world": ppo.accelerator.num_processes, "digest": digest(ppo.policy.state_dict()), "before": before,
          "reward_mean": stats["env/reward_mean"], "reward_std": stats["env/reward_std"]}
prompts = [row["chosen"].rpartition("Assistant:")[0] + "Assistant:" for row in map(json.loads, open(pairs))]
config = RecipeConfig(method="ppo", model=source, reward_model=str(out / "rm"), output_dir=str(out / "ppo"),
                      train_files=(pairs,), max_steps=2, batch_size=4, logging_steps=1, max_new_tokens=6)
policy, _, history = run_ppo_recipe(config, prompts[3:], prompts[:3])
recipe_ppo = {"digest": digest(policy.state_dict()), "history": history}
config = RecipeConfig(method="grpo", model=source, reward_function=f"{out / 'verifier.py'}:score",
                      output_dir=str(out / "grpo"), train_files=(pairs,), max_steps=2, batch_size=2, group_size=4,
                      logging_steps=1, max_new_tokens=6, learning_rate=1e-2)
rows = Dataset.from_dict({"prompt": prompts})
policy, _, history = run_grpo_recipe(config, rows.select(range(3, len(prompts))), rows.select(range(3)))
recipe_grpo = {"digest": digest(policy.state_dict()), "history": history}
(out / f"rank{rank}.json").write_text(json.dumps({"recipe": recipe, "engine": engine, "recipe_ppo": recipe_ppo,
                                                  "recipe_grpo": recipe_grpo}))
"""
# A verifier for `course train grpo`: longer answers score more, so that every group has advantages to learn from.
VERIFIER = "def score(completions, **columns):\n    return [len(completion) / 10 for completion in completions]\n"


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """What each of the two ranks reported."""
    folder = tmp_path_factory.mktemp("ddp")
    pairs = folder / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in HH))
    script = folder / "rank_report.py"
    script.write_text(RANK_REPORT)
    (folder / "verifier.py").write_text(VERIFIER)
    reward_model = AutoModelForSequenceClassification.from_pretrained(TINY, num_labels=1)  # a one-score head
    reward_model.save_pretrained(folder / "rm")
    AutoTokenizer.from_pretrained(TINY).save_pretrained(folder / "rm")
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    command = [str(torchrun), "--nproc_per_node", "2", str(script), TINY, str(pairs), str(folder)]
    launched = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert launched.returncode == 0, launched.stderr[-2000:]
    return [json.loads((folder / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def test_course_train_keeps_both_processes_in_step(ranks):
    recipe = [rank["recipe"] for rank in ranks]
    assert [report["world"] for report in recipe] == [2, 2]
    assert recipe[0]["digest"] == recipe[1]["digest"] and recipe[0]["lora_b"] > 0  # trained, in sync (B starts at 0)
    # 5 steps x 2 pairs x 2 ranks = 20 of 40 pairs: half an epoch (one process alone would be at a quarter)
    assert recipe[0]["epoch"] == pytest.approx(0.5)


def test_the_ppo_engine_keeps_both_processes_in_step_and_gathers_their_statistics(ranks):
    engine = [rank["engine"] for rank in ranks]
    assert [report["world"] for report in engine] == [2, 2]
    assert engine[0]["digest"] == engine[1]["digest"] != engine[0]["before"]  # trained, in sync
    assert [report["reward_mean"] for report in engine] == [2.0, 2.0]  # ranks scored 1 and 3
    # gathered: 8 ones and 8 threes, standard deviation sqrt(16 / 15) = 1.0328 (one rank alone: 0)
    assert engine[0]["reward_std"] == pytest.approx((16 / 15) ** 0.5)


def test_course_train_ppo_keeps_both_processes_in_step_and_logs_what_both_saw(ranks):
    ppo = [rank["recipe_ppo"] for rank in ranks]
    assert ppo[0]["digest"] == ppo[1]["digest"]
    # the same history on both: rewards gathered over both ranks' own prompts, evaluations over both shares (2 + 1)
    assert ppo[0]["history"] == ppo[1]["history"]
    assert [entry["step"] for entry in ppo[0]["history"]] == [0, 1, 2]


def test_course_train_grpo_keeps_both_processes_in_step_and_logs_what_both_saw(ranks):
    grpo = [rank["recipe_grpo"] for rank in ranks]
    assert grpo[0]["digest"] == grpo[1]["digest"]
    assert grpo[0]["history"] == grpo[1]["history"]  # means over both ranks; evaluations over both shares
    assert [entry["step"] for entry in grpo[0]["history"]] == [1, 2]
