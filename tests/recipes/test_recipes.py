"""`course train`: the labs' methods on files (course_utils.recipes), checked before any model loads."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from safetensors.torch import load_file

from course_utils.cli import main
from course_utils.recipes import DataError, RecipeConfig, build_trainer, method_rows, read_rows, run_recipe
from course_utils.runtime.loaders import load_tokenizer
from course_utils.runtime.sources import asset_path

TINY = str(asset_path("models", "gpt2-tiny"))
QUESTIONS = ["How do I boil an egg?", "How do I plant a tree?", "How do I fold a shirt?", "How do I make tea?"]


def hh_rows() -> list[dict[str, str]]:
    """hh-rlhf's schema: whole dialogues, the chosen and the rejected sharing the human's turn."""
    return [
        {
            "chosen": f"\n\nHuman: {question}\n\nAssistant: Step by step: first {question[9:-1]}, then check it.",
            "rejected": f"\n\nHuman: {question}\n\nAssistant: No.",
        }
        for question in QUESTIONS * 2
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_the_configuration_checks_every_field_in_one_line():
    with pytest.raises(
        ValueError, match=r"method must be one of sft, reward, ppo, dpo, grpo, not 'rl'.*learning_rate must be"
    ):
        RecipeConfig(method="rl", model="gpt2", output_dir="out", train_files=("a.jsonl",), learning_rate=0)
    with pytest.raises(ValueError, match="give train_files or a dataset"):
        RecipeConfig(method="dpo", model="gpt2", output_dir="out")
    with pytest.raises(ValueError, match="max_steps must be a whole number of at least 1, not 0"):
        RecipeConfig(method="dpo", model="gpt2", output_dir="out", dataset="Anthropic/hh-rlhf", max_steps=0)


def test_ppo_takes_a_reward_model_and_settings_only_it_can_use(monkeypatch):
    files = {"model": "gpt2", "output_dir": "out", "train_files": ("prompts.jsonl",)}
    with pytest.raises(ValueError, match="ppo needs a reward_model, and only ppo takes one"):
        RecipeConfig(method="ppo", **files)
    with pytest.raises(ValueError, match="ppo needs a reward_model, and only ppo takes one"):
        RecipeConfig(method="dpo", reward_model="rm", **files)
    with pytest.raises(ValueError, match=r"batch_size \(8\) must be a multiple of mini_batch_size"):
        RecipeConfig(method="ppo", reward_model="rm", mini_batch_size=3, **files)
    with pytest.raises(ValueError, match=r"max_new_tokens \(512\) must be below max_length \(512\)"):
        RecipeConfig(method="ppo", reward_model="rm", max_new_tokens=512, **files)
    with pytest.raises(ValueError, match="set mini_batch_size, not gradient_accumulation_steps"):
        RecipeConfig(method="ppo", reward_model="rm", gradient_accumulation_steps=2, **files)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # what `accelerate launch` sets for DeepSpeed
    with pytest.raises(ValueError, match="ppo runs on one process or under DDP"):
        RecipeConfig(method="ppo", reward_model="rm", **files)
    RecipeConfig(method="dpo", **files)  # the TRL trainers run under DeepSpeed
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED")
    with pytest.raises(ValueError, match="stop_on_warning watches ppo's evaluations"):
        RecipeConfig(method="dpo", stop_on_warning=True, **files)
    with pytest.raises(ValueError, match="stop_on_warning watches ppo's evaluations"):
        RecipeConfig(method="ppo", reward_model="rm", stop_on_warning=True, eval_fraction=0, **files)


def test_a_configuration_file_with_flags_on_top(tmp_path):
    file = tmp_path / "recipe.yaml"
    file.write_text("method: reward\nmodel: gpt2\noutput_dir: rm\ntrain_files: pairs.jsonl.gz\nmax_steps: 300\n")
    config = RecipeConfig.from_sources(file, max_steps=20, lora=None)
    assert (config.method, config.train_files, config.max_steps, config.lora) == (
        "reward",
        ("pairs.jsonl.gz",),
        20,
        True,
    )
    file.write_text('{"method": "dpo", "model": "gpt2", "outputdir": "x"}')
    with pytest.raises(ValueError, match="unknown settings outputdir"):
        RecipeConfig.from_sources(file)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("pairs.jsonl", '{"chosen": "a"}\n', "row 1 has no chosen/rejected text columns (dpo needs them)."),
        ("pairs.jsonl", "", "no rows."),
        ("pairs.jsonl", '{"chosen": "a", "rejected": "b"}\n{"chosen": "a", \n', "line 2 is not JSON"),
        ("pairs.json", '{"chosen": "a", "rejected": "b"}', "expected an array of objects, got dict."),
        ("pairs.csv", "chosen,rejected\n", "unknown format; use one of .jsonl, .jsonl.gz, .json, .parquet."),
    ],
)
def test_a_bad_file_is_named_with_its_problem(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError) as raised:
        read_rows([path], "dpo")
    assert str(raised.value).startswith(f"{path}: ") and problem in str(raised.value)
    assert "\n" not in str(raised.value)


def test_hh_rlhf_files_read_gzipped_and_sft_learns_the_last_assistant_turn(tmp_path):
    rows = read_rows([write_jsonl(tmp_path / "train.jsonl.gz", hh_rows())], "sft")
    assert len(rows) == 8
    first = method_rows(rows, "sft")[0]
    # the dialogue cut before its last "Assistant:" turn: the prompt ends with it, the completion is the answer
    assert first == {
        "prompt": "\n\nHuman: How do I boil an egg?\n\nAssistant:",
        "completion": " Step by step: first boil an egg, then check it.",
    }
    assert method_rows(rows, "dpo").column_names == ["chosen", "rejected"]
    assert method_rows(rows, "ppo")[0] == {"prompt": "\n\nHuman: How do I boil an egg?\n\nAssistant:"}
    with pytest.raises(DataError, match="row 1 has no prompt or chosen text columns \\(ppo needs them\\)"):
        read_rows([write_jsonl(tmp_path / "answers.jsonl", [{"completion": "Boil it."}])], "ppo")
    with pytest.raises(DataError, match="row 1's chosen dialogue has no 'Assistant:' turn"):
        read_rows([write_jsonl(tmp_path / "plain.jsonl", [{"chosen": "just text"}])], "sft")


def test_every_row_of_a_run_has_the_same_columns_and_a_prompt_to_answer(tmp_path):
    """One table is made of all the rows, with the first row's columns: another layout would be lost, not read."""
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "How do I make tea?"}])
    dialogues = write_jsonl(tmp_path / "hh.jsonl", hh_rows()[:1])
    with pytest.raises(DataError, match=f"^{dialogues}: its rows have chosen where {prompts}'s have prompt.$"):
        read_rows([prompts, dialogues], "ppo")
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [{"prompt": "Hi"}, hh_rows()[0]])
    with pytest.raises(DataError, match="row 2 has chosen where row 1 has prompt."):
        read_rows([mixed], "ppo")
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"prompt": "Hi"}, {"prompt": " "}])
    with pytest.raises(DataError, match="row 2's prompt is empty"):
        read_rows([empty], "ppo")


def test_a_long_prompt_keeps_its_end_and_its_beginning_of_sequence_token():
    from course_utils.recipes.ppo import encode_prompt

    class Llama:  # a tokenizer that starts every text with its beginning-of-sequence token (1)
        bos_token_id = 1

        def encode(self, text):
            return [1, *range(10, 10 + len(text.split()))]

    assert encode_prompt("a b c d e", Llama(), keep=3).tolist() == [1, 13, 14]  # BOS, then the last two words
    assert encode_prompt("a b", Llama(), keep=3).tolist() == [1, 10, 11]  # short enough: whole
    gpt2 = load_tokenizer(TINY)  # adds nothing
    assert encode_prompt("one two three four", gpt2, keep=2).tolist() == gpt2.encode("one two three four")[-2:]


def test_a_bad_file_stops_the_command_before_any_model_is_loaded(tmp_path, monkeypatch, capsys):
    import transformers

    def loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the data was checked")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", loading)
    bad = write_jsonl(tmp_path / "pairs.jsonl", [{"chosen": "a", "rejected": "b"}, {"chosen": "only"}])
    code = main(["train", "dpo", "--model", TINY, "--output-dir", str(tmp_path / "out"), "--train", str(bad)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"course train: {bad}: row 2 has no chosen/rejected text columns (dpo needs them).\n"
    )


@pytest.mark.parametrize(
    ("method", "file"),
    [("sft", "train.jsonl"), ("reward", "train.jsonl.gz"), ("dpo", "train.parquet")],
)
def test_each_method_trains_the_tiny_model_from_files_end_to_end(tmp_path, method, file):
    path = tmp_path / file
    if method == "sft":
        write_jsonl(path, [{"prompt": f"{q}\n\n", "completion": "Boil it, then eat it."} for q in QUESTIONS * 2])
    elif file.endswith(".parquet"):
        Dataset.from_list(hh_rows()).to_parquet(str(path))
    else:
        write_jsonl(path, hh_rows())
    out = tmp_path / "out"
    flags = ["--max-steps", "3", "--batch-size", "2", "--logging-steps", "1", "--learning-rate", "1e-2"]
    assert main(["train", method, "--model", TINY, "--output-dir", str(out), "--train", str(path), *flags]) == 0
    history = json.loads((out / "metrics.json").read_text())
    assert [entry["step"] for entry in history if "loss" in entry] == [1, 2, 3]
    assert any("eval_loss" in entry for entry in history)  # 5% held out of 8 rows: one row
    assert (out / "loss.png").stat().st_size > 0
    # the LoRA adapters were merged into a plain model of the base's architecture, and it moved
    trained, base = load_file(out / "model.safetensors"), load_file(Path(TINY) / "model.safetensors")
    assert not (out / "adapter_config.json").exists()
    shared = [name for name in base if name in trained and "attn.c_attn.weight" in name]
    assert shared and any(not torch.equal(trained[name], base[name]) for name in shared)


def test_grpo_takes_a_reward_function_and_groups_that_fit_its_mini_batches():
    files = {"model": "gpt2", "output_dir": "out", "train_files": ("prompts.jsonl",)}
    with pytest.raises(ValueError, match="grpo needs a reward_function, and only grpo takes one"):
        RecipeConfig(method="grpo", **files)
    with pytest.raises(ValueError, match="grpo needs a reward_function, and only grpo takes one"):
        RecipeConfig(method="ppo", reward_model="rm", reward_function="v:f", **files)
    with pytest.raises(ValueError, match="group_size must be at least 2"):
        RecipeConfig(method="grpo", reward_function="v:f", group_size=1, **files)
    with pytest.raises(ValueError, match=r"batch_size x group_size \(64\) must be a multiple of mini_batch_size"):
        RecipeConfig(method="grpo", reward_function="v:f", mini_batch_size=5, **files)
    with pytest.raises(ValueError, match="grpo updates once per mini-batch"):
        RecipeConfig(method="grpo", reward_function="v:f", gradient_accumulation_steps=2, **files)


VERIFIER = """
from course_utils.labs.verifiable_rewards import answer_reward


def score(completions, answer, **columns):
    rewards = answer_reward(completions, answer)
    return [reward + 0.1 * ("####" in completion) for reward, completion in zip(rewards, completions)]
"""


def grpo_prompts(path: Path) -> Path:
    """Prompts with the true answer in a column of their own, as the reward function reads it."""
    questions = [(f"Ann has {a} pens. Ann gets {b} more. How many pens does Ann have now?", a + b) for a, b in
                 [(2, 3), (4, 5), (6, 2), (3, 3), (7, 1), (5, 4), (2, 8), (9, 9)]]  # fmt: skip
    return write_jsonl(path, [{"prompt": f"Question: {q}\nAnswer: ", "answer": str(a)} for q, a in questions])


def test_grpo_trains_with_a_verifier_from_a_python_file(tmp_path):
    (tmp_path / "verifier.py").write_text(VERIFIER)
    model, out = str(asset_path("models", "gpt2-arith-tiny")), tmp_path / "policy"
    flags = ["--reward-function", f"{tmp_path / 'verifier.py'}:score", "--max-steps", "2", "--batch-size", "2"]
    flags += ["--group-size", "4", "--mini-batch-size", "4", "--max-new-tokens", "8", "--logging-steps", "1"]
    flags += ["--learning-rate", "1e-2", "--eval-fraction", "0.25", "--max-length", "64"]
    assert (
        main(
            [
                "train",
                "grpo",
                "--model",
                model,
                "--output-dir",
                str(out),
                "--train",
                str(grpo_prompts(tmp_path / "p.jsonl")),
                *flags,
            ]
        )
        == 0
    )
    history = json.loads((out / "metrics.json").read_text())
    assert [entry["step"] for entry in history] == [1, 2]
    assert all(
        {"reward", "loss", "entropy", "clip_ratio/region_mean", "eval_reward"} <= set(entry) for entry in history
    )
    assert (out / "loss.png").stat().st_size > 0 and not (out / "adapter_config.json").exists()


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("verifier", "name it module:function"),
        ("no_such_module_here:score", "importing no_such_module_here failed"),
        ("{tmp}/verifier.py:nothing", "has no function nothing"),
        ("{tmp}/missing.py:score", "no such file"),
    ],
)
def test_a_reward_function_that_cannot_be_found_stops_the_command_in_one_line(tmp_path, capsys, spec, problem):
    (tmp_path / "verifier.py").write_text(VERIFIER)
    prompts = grpo_prompts(tmp_path / "p.jsonl")
    spec = spec.format(tmp=tmp_path)
    args = ["train", "grpo", "--model", TINY, "--output-dir", str(tmp_path / "o"), "--train", str(prompts)]
    assert main([*args, "--reward-function", spec]) == 2
    error = capsys.readouterr().err.strip()
    assert problem in error and len(error.splitlines()) == 1


def test_ppo_trains_against_the_reward_model_course_train_reward_made(tmp_path):
    """The whole of RLHF from one hh-rlhf file: a reward model, then PPO against it on the file's prompts."""
    path = write_jsonl(tmp_path / "train.jsonl", hh_rows())
    short = ["--batch-size", "4", "--logging-steps", "1", "--learning-rate", "1e-2", "--eval-fraction", "0.25"]
    rm, policy = tmp_path / "rm", tmp_path / "policy"
    assert (
        main(
            [
                "train",
                "reward",
                "--model",
                TINY,
                "--output-dir",
                str(rm),
                "--train",
                str(path),
                "--max-steps",
                "2",
                *short,
            ]
        )
        == 0
    )
    flags = ["--reward-model", str(rm), "--max-steps", "2", "--mini-batch-size", "2", "--max-new-tokens", "6", *short]
    assert main(["train", "ppo", "--model", TINY, "--output-dir", str(policy), "--train", str(path), *flags]) == 0
    history = json.loads((policy / "metrics.json").read_text())
    # evaluated on the 2 held-out prompts before training and at each logged step (the score and the monitor's
    # signals); each step's reward, KL and loss
    evaluation = ["eval_entropy", "eval_kl", "eval_length", "eval_reward"]
    assert [sorted(set(entry) - {"monitor_warnings"}) for entry in history] == [[*evaluation, "step"]] + [
        sorted([*evaluation, "kl", "loss", "reward", "step"])
    ] * 2
    assert history[0]["eval_kl"] == 0.0 and history[0]["eval_length"] >= 1  # the start is its own reference
    assert [entry["step"] for entry in history] == [0, 1, 2]
    # the first step's answers came from the untrained policy: exactly its reference (LoRA's B starts at zero)
    assert history[1]["kl"] == 0.0 and history[2]["kl"] != 0.0
    assert (policy / "loss.png").stat().st_size > 0
    # saved as a plain language model: adapters merged, no value head, and its weights moved
    trained, base = load_file(policy / "model.safetensors"), load_file(Path(TINY) / "model.safetensors")
    assert not (policy / "adapter_config.json").exists() and not any("value_head" in name for name in trained)
    shared = [name for name in base if name in trained and "attn.c_attn.weight" in name]
    assert shared and any(not torch.equal(trained[name], base[name]) for name in shared)
    # without held-out prompts: no evaluation, and the plot has the panels of what was logged
    alone = tmp_path / "alone"
    flags = [*flags[:-2], "--eval-fraction", "0", "--max-steps", "1"]
    assert main(["train", "ppo", "--model", TINY, "--output-dir", str(alone), "--train", str(path), *flags]) == 0
    assert [sorted(entry) for entry in json.loads((alone / "metrics.json").read_text())] == [
        ["kl", "loss", "reward", "step"]
    ]


def test_ppo_stops_at_the_monitors_first_warning_when_asked(tmp_path, monkeypatch, capsys):
    import course_utils.recipes.ppo as recipe
    from course_utils.ppo import HackingMonitor, MonitorThresholds

    class Watchful(HackingMonitor):  # warns as soon as the KL moves at all
        def __init__(self) -> None:
            super().__init__(MonitorThresholds(kl=1e-9, entropy_change=None, length_change=None))

    monkeypatch.setattr(recipe, "HackingMonitor", Watchful)
    path = write_jsonl(tmp_path / "train.jsonl", hh_rows())
    rm, policy = tmp_path / "rm", tmp_path / "policy"
    assert (
        main(["train", "reward", "--model", TINY, "--output-dir", str(rm), "--train", str(path), "--max-steps", "1"])
        == 0
    )
    flags = ["--reward-model", str(rm), "--max-steps", "4", "--batch-size", "4", "--logging-steps", "1"]
    flags += ["--learning-rate", "1e-2", "--eval-fraction", "0.25", "--max-new-tokens", "6", "--stop-on-warning"]
    assert main(["train", "ppo", "--model", TINY, "--output-dir", str(policy), "--train", str(path), *flags]) == 0
    history = json.loads((policy / "metrics.json").read_text())
    # the first evaluation is the start (KL 0); the one after step 1 sees the policy moved: stopped there, of 4 steps
    assert [entry["step"] for entry in history] == [0, 1]
    assert history[1]["monitor_warnings"] == ["kl"] and "monitor_warnings" not in history[0]
    assert "reward-hacking monitor: kl went from 0 to" in capsys.readouterr().out


def test_a_recipe_run_again_trains_the_same_way(tmp_path):
    """The adapters are initialised after the seed is set: the same configuration gives the same losses."""
    path = write_jsonl(tmp_path / "pairs.jsonl", hh_rows())
    losses = []
    for run in ("first", "second"):
        config = RecipeConfig(
            method="dpo",
            model=TINY,
            output_dir=str(tmp_path / run),
            train_files=(str(path),),
            max_steps=2,
            batch_size=2,
            logging_steps=1,
            eval_fraction=0,
        )
        history = json.loads((run_recipe(config) / "metrics.json").read_text())
        losses.append([entry["loss"] for entry in history if "loss" in entry])
    assert len(losses[0]) == 2 and losses[0] == losses[1]


def test_a_run_shorter_than_the_logging_interval_still_logs_and_plots_its_loss(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", hh_rows())
    config = RecipeConfig(
        method="reward",
        model=TINY,
        output_dir=str(tmp_path / "rm"),
        train_files=(str(path),),
        max_steps=1,
        batch_size=2,
        eval_fraction=0,
    )  # logging_steps 10 by default
    output = run_recipe(config)
    assert [entry["step"] for entry in json.loads((output / "metrics.json").read_text()) if "loss" in entry] == [1]
    assert (output / "loss.png").exists()


@pytest.mark.parametrize("method", ["sft", "reward"])
def test_a_checkpoint_stored_in_bfloat16_trains_float32_weights(method, tmp_path):
    """SmolLM2 is stored in bfloat16, and transformers loads a checkpoint as stored unless told otherwise."""
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(TINY).to(torch.bfloat16).save_pretrained(tmp_path / "stored-bf16")
    load_tokenizer(TINY).save_pretrained(tmp_path / "stored-bf16")
    path = write_jsonl(tmp_path / "pairs.jsonl", hh_rows())
    config = RecipeConfig(
        method=method,
        model=str(tmp_path / "stored-bf16"),
        output_dir=str(tmp_path / "out"),
        train_files=(str(path),),
        max_steps=1,
        eval_fraction=0,
    )
    assert {parameter.dtype for parameter in build_trainer(config).model.parameters()} == {torch.float32}


def test_sft_on_a_dataset_laid_out_like_hh_rlhf_on_the_hub(tmp_path):
    """``--dataset`` with ``--data-dir``: a repository's folder of .jsonl.gz files, read as load_dataset reads it."""
    (tmp_path / "hh-rlhf" / "helpful-base").mkdir(parents=True)
    write_jsonl(tmp_path / "hh-rlhf" / "helpful-base" / "train.jsonl.gz", hh_rows())
    flags = ["--dataset", str(tmp_path / "hh-rlhf"), "--data-dir", "helpful-base", "--max-steps", "2"]
    assert main(["train", "sft", "--model", TINY, "--output-dir", str(tmp_path / "sft"), *flags]) == 0
    assert (tmp_path / "sft" / "model.safetensors").exists()


@pytest.mark.parametrize(("name", "kind"), [("ddp", "MULTI_GPU"), ("deepspeed_zero2", "DEEPSPEED")])
def test_the_shipped_launch_configurations_are_what_accelerate_reads(name, kind, monkeypatch, capsys):
    """Found by the command docs/train.md gives, parsed by accelerate's own loader (they need GPUs: not run here)."""
    import runpy
    import sys

    from accelerate.commands.config.config_args import load_config_from_file

    monkeypatch.setattr(sys, "argv", ["launch", name])
    runpy.run_module("course_utils.recipes.launch", run_name="__main__")
    config = load_config_from_file(capsys.readouterr().out.strip())
    assert (config.distributed_type.name, config.num_machines, config.use_cpu) == (kind, 1, False)
    if name == "deepspeed_zero2":
        assert config.deepspeed_config["zero_stage"] == 2
