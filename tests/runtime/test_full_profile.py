"""The full profile's code path, dry-run on a CPU: each lab's solution runs in ``full`` through a Hub-shaped mirror.

The mirror (``course_utils.instructor.hub_mirror``) holds models of the real architectures (OPT-350m, GPT-2, SmolLM2,
DistilBERT: their configuration classes, module names and context lengths, shrunk in depth and width, random weights)
and datasets in the real schemas and layouts with texts at realistic lengths. ``COURSE_MAX_STEPS=2`` stops each training
run after two optimisation steps, so the LoRA targets, precision, truncation lengths and column names of ``full`` all
run, but nothing is learned: a test cell's AssertionError about learning is expected; any other error is a bug.

The kernels are forked from one process that has imported the libraries, as `course grade` runs a class
(``forkserver.py``), in its sandbox (no network: the mirror is all there is): five cold starts would cost 11 CPU-s
each. The tiny profile's runs (test_pipeline.py) start cold, as a learner's kernel does.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
from conftest import ROOT

from course_utils.instructor.grading.cells import RunStatus
from course_utils.instructor.grading.forkserver import ForkServer
from course_utils.instructor.grading.limits import Limits
from course_utils.instructor.grading.sandbox import run_sandboxed
from course_utils.instructor.hub_mirror import build_mirror
from course_utils.runtime.profiles import DRY_RUN_EXAMPLES

# A last cell per lab that prints what the full profile set up, as one JSON line.
PEFT_FACTS = (
    '"model": type(trainer.model).__name__, '
    '"lora": sorted(trainer.model.peft_config["default"].target_modules), '
    '"trainable": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad), '
    '"total": sum(p.numel() for p in trainer.model.parameters()), '
    '"fp16": config.fp16, "bf16": config.bf16, "steps": trainer.state.global_step'
)
PROBES = {
    "lab1_instruction_tuning": (
        f"{{{PEFT_FACTS}, "
        '"max_length": trainer.data_collator.max_length, '
        '"longest": max(len(tokenizer(text)["input_ids"]) for text in train_rows["text"]), '
        '"base": type(trainer.model.get_base_model()).__name__, "pipeline": type(writer.model).__name__, '
        '"reloaded_dtype": str(reloaded.dtype)}'
    ),
    "lab2_reward_modeling": (
        f'{{{PEFT_FACTS}, "max_length": config.max_length, "pairs": len(pairs["train"]), '
        '"kept": len(trainer.train_dataset), "base": type(trainer.model.get_base_model()).__name__, '
        '"reloaded": type(reloaded_model).__name__, '
        '"adapter_saved": os.path.exists(f"{reward_model_dir}/adapter_config.json")}'
    ),
    "lab3_ppo_sentiment": (
        '{"model": type(trainer.policy).__name__, "base": type(trainer.policy.policy).__name__, '
        '"sentiment": type(sentiment.model).__name__, "steps": len(history), "batch_size": config.batch_size, '
        '"mixed_precision": config.mixed_precision, "control_steps": len(control_history["[positive]"]), '
        '"suppressed": list(control_config.suppress_tokens) == list(control_ids.values())}'
    ),
    "lab4_dpo": (
        f'{{{PEFT_FACTS}, "max_length": config.max_length, "base": type(trainer.model.get_base_model()).__name__, '
        '"sft_merged": not os.path.exists(f"{sft_dir}/adapter_config.json"), '
        '"accumulation": config.gradient_accumulation_steps}'
    ),
    "lab5_verifiable_rewards": (
        '{"model": type(trainer.policy).__name__, "base": type(trainer.policy.get_base_model()).__name__, '
        '"lora": sorted({name.rsplit(".", 1)[-1] for name in trainer.policy.peft_config["default"].target_modules}), '
        '"sft_merged": not os.path.exists(f"{sft_dir}/adapter_config.json"), '
        '"mixed_precision": config.mixed_precision, "max_completion_length": config.max_completion_length, '
        '"steps": [len(history) - 1 for history in (grpo_history, tool_history, lax_history)], '
        '"expert_rounds": len(expert_history), "evaluated": len(test_rows), "tool_evaluated": len(tool_test), '
        '"problems": problems["train"].column_names, "demonstrations": len(sft_rows), "trl_tool_steps": trl_tool_steps}'
    ),
    "lab6_rlhf_capstone": (
        '{"chat": world.chat, "answer_end": world.answer_end, "questions": len(world.questions), '
        '"pairs": len(pairs), "proxy": type(proxy_model).__name__, "candidates": len(candidates.answers), '
        '"model": type(trainer.policy).__name__, "base": type(trainer.policy.policy.get_base_model()).__name__, '
        '"lora": sorted(trainer.policy.policy.peft_config["default"].target_modules), '
        '"own_reference": trainer.ref_model is None, "mixed_precision": trainer.config.mixed_precision, '
        '"evaluations": [row["step"] for row in run.history], "evaluated": len(eval_questions), '
        '"dpo_steps": dpo_trainer.state.global_step, "grpo_steps": grpo_trainer.state.global_step, '
        '"routes": len(comparison)}'
    ),
}
# Longest first: the two workers finish together.
ORDER = [
    "lab6_rlhf_capstone",
    "lab5_verifiable_rewards",
    "lab4_dpo",
    "lab2_reward_modeling",
    "lab1_instruction_tuning",
    "lab3_ppo_sentiment",
]
# Room for a full-size architecture's address space and a slow cell: a dry run is not a student's submission.
LIMITS = Limits(wall_seconds=900, cell_seconds=600, memory_mb=16384, disk_mb=8192)


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[nbformat.NotebookNode, dict]]:
    """Every lab's solution in the full profile, two steps per training run, with its probe's facts."""
    mirror = build_mirror(tmp_path_factory.mktemp("hub-mirror"))
    env = {
        "COURSE_PROFILE": "full",
        "COURSE_HUB_MIRROR": str(mirror),
        "COURSE_MAX_STEPS": "2",
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }

    def run(lab: str) -> tuple[nbformat.NotebookNode, dict]:
        notebook = nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(f"import json\nimport os\n\nprint(json.dumps({PROBES[lab]}))"))
        work = tmp_path_factory.mktemp(lab)
        ran = run_sandboxed(notebook, work, limits=LIMITS, env=env, server=server, readable=[mirror])
        assert ran.status == RunStatus.OK and ran.notebook is not None, f"{lab}: {ran.status}: {ran.detail}"
        printed = "".join(out.get("text", "") for out in ran.notebook.cells[-1].outputs if out.get("name") == "stdout")
        return ran.notebook, json.loads(printed.splitlines()[-1]) if printed else {}

    with (
        ForkServer({**os.environ, **env}, tmp_path_factory.mktemp("home")) as server,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        return dict(zip(ORDER, pool.map(run, ORDER), strict=True))


@pytest.mark.parametrize("lab", ORDER)
def test_the_full_code_path_runs_without_errors_outside_learning_checks(lab: str, dry_runs: dict) -> None:
    notebook, facts = dry_runs[lab]
    assert facts, "the probe cell printed nothing"
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            graded_test = cell.metadata.get("nbgrader", {}).get("grade", False)
            where = f"cell {index} ({cell.metadata.get('nbgrader', {}).get('grade_id', 'not graded')})"
            assert graded_test, f"{where}: {output['ename']}: {output['evalue']}"
            assert output["ename"] == "AssertionError", f"{where}: {output['ename']}: {output['evalue']}"
    setup_said = "".join(output.get("text", "") for output in notebook.cells[2].outputs)
    assert "profile full" in setup_said and "at most 2 steps" in setup_said


def test_lab1_trains_a_lora_adapter_on_opt_in_float32_with_truncation(dry_runs: dict) -> None:
    facts = dry_runs["lab1_instruction_tuning"][1]
    assert (facts["model"], facts["base"]) == ("PeftModelForCausalLM", "OPTForCausalLM")
    assert facts["lora"] == ["q_proj", "v_proj"]
    assert 0 < facts["trainable"] < facts["total"] / 10
    assert (facts["fp16"], facts["bf16"], facts["steps"]) == (False, False, 2)  # a CPU: float32
    assert facts["max_length"] == 512 < facts["longest"]  # some texts are truncated
    assert facts["pipeline"] == "OPTForCausalLM"  # the pipeline loaded the saved adapter onto its base model
    # the tuned adapter reloaded onto its base model, which the mirror stores in float16 as the Hub does
    assert facts["reloaded_dtype"] == "torch.float32"


def test_lab2_trains_a_lora_reward_head_on_gpt2(dry_runs: dict) -> None:
    facts = dry_runs["lab2_reward_modeling"][1]
    assert (facts["model"], facts["base"]) == ("PeftModelForSequenceClassification", "GPT2ForSequenceClassification")
    assert facts["lora"] == ["c_attn"]
    assert (facts["fp16"], facts["bf16"], facts["steps"], facts["max_length"]) == (False, False, 2, 512)
    # RewardTrainer drops pairs longer than max_length instead of truncating them: most must survive.
    assert facts["pairs"] * 0.9 <= facts["kept"] <= facts["pairs"]
    # the saved adapter (with its score head) comes back merged into a plain model
    assert facts["adapter_saved"] and facts["reloaded"] == "GPT2ForSequenceClassification"


def test_lab3_runs_ppo_on_gpt2_with_a_distilbert_reward(dry_runs: dict) -> None:
    facts = dry_runs["lab3_ppo_sentiment"][1]
    assert facts == {
        "model": "CausalLMWithValueHead",
        "base": "GPT2LMHeadModel",
        "sentiment": "DistilBertForSequenceClassification",
        "steps": 2,
        "batch_size": 128,
        "mixed_precision": "no",
        "control_steps": 2,
        "suppressed": True,
    }


def test_lab4_trains_a_lora_adapter_on_smollm2_with_dpo(dry_runs: dict) -> None:
    facts = dry_runs["lab4_dpo"][1]
    assert (facts["model"], facts["base"]) == ("PeftModelForCausalLM", "LlamaForCausalLM")
    assert facts["sft_merged"]  # the SFT reference's LoRA adapter was merged before DPO loaded it
    assert facts["lora"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert facts["accumulation"] == 2  # 4 pairs per step, 8 per update
    assert (facts["fp16"], facts["bf16"], facts["steps"], facts["max_length"]) == (False, False, 2, 512)


def test_lab5_runs_grpo_with_lora_on_qwen_and_gsm8k(dry_runs: dict) -> None:
    facts = dry_runs["lab5_verifiable_rewards"][1]
    assert (facts["model"], facts["base"]) == ("PeftModelForCausalLM", "Qwen2ForCausalLM")
    assert facts["lora"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert facts["sft_merged"]  # the SFT policy's adapter was merged: every run starts from a plain model
    assert (facts["mixed_precision"], facts["max_completion_length"]) == ("no", 256)  # a CPU: float32
    assert facts["steps"] == [2, 2, 2] and facts["expert_rounds"] == 1  # GRPO, with the tool, lax; one round
    assert facts["evaluated"] == facts["tool_evaluated"] == DRY_RUN_EXAMPLES
    # GSM8K's schema; its own solutions are the demonstrations
    assert facts["problems"] == ["question", "answer"] and facts["demonstrations"] > 100
    assert facts["trl_tool_steps"] == 2  # TRL's GRPOTrainer with the calculator as a tool, in Qwen's chat template


def test_lab6_runs_the_capstone_on_smollm2_and_hh_rlhf_with_a_capped_sample(dry_runs: dict) -> None:
    facts = dry_runs["lab6_rlhf_capstone"][1]
    # hh-rlhf's single-turn dialogues; answers end at the end-of-sequence token only (they span lines)
    assert (facts["chat"], facts["answer_end"]) == (True, None)
    assert facts["questions"] > 2 * DRY_RUN_EXAMPLES  # enough left over for the training target and the routes
    # a dry run samples at most DRY_RUN_EXAMPLES questions at each stage: 8 x 8 best-of-n candidates
    assert 0 < facts["pairs"] <= DRY_RUN_EXAMPLES and facts["candidates"] == DRY_RUN_EXAMPLES**2
    assert facts["proxy"] == "GPT2ForSequenceClassification"  # Lab 2's reward model
    assert (facts["model"], facts["base"]) == ("CausalLMWithValueHead", "LlamaForCausalLM")
    assert facts["lora"] == ["down_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert facts["own_reference"] and facts["mixed_precision"] == "no"  # one model in memory; a CPU: float32
    assert facts["evaluations"] == [0, 1, 2] and facts["evaluated"] == DRY_RUN_EXAMPLES
    assert (facts["dpo_steps"], facts["grpo_steps"], facts["routes"]) == (2, 2, 7)
