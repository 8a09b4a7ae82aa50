"""Each lab's full configuration at its real size: parameters, trainable parameters, estimated peak GPU memory.

    python benchmarks/full_size.py

The models are built on PyTorch's ``meta`` device from the real configurations (``course_utils.runtime.architectures``),
so nothing is downloaded or allocated; the LoRA adapter, batch size and sequence length are read from each solution
notebook's configuration cell, run in the full profile. Training on a free Colab T4 (15 GB, no bf16) runs in fp16 mixed
precision on float32 weights. The estimate adds, in bytes:

- every model in memory, float32 weights: 4 per parameter (the policy, its frozen reference, a reward model);
- what trains: a float32 gradient (4) and AdamW's two moments (8) per trainable parameter;
- activations kept for the backward pass, per layer 34 s b h bytes in 16 bits without recomputation, for the b
  sequences of length s that go through the model with gradients (Korthikanti et al. 2022, "Reducing Activation
  Recomputation in Large Transformer Models", eq. 2, less its 5 a s^2 b term: PyTorch's scaled-dot-product
  attention, which transformers uses by default, does not keep the attention matrix);
- a language model's logits for those sequences, b s V, kept in fp16 and upcast to float32 for the loss and its
  gradient (10 bytes; a reward model's scalar head has none worth counting);
- 0.5 GiB for the CUDA context and the allocator's slack.

It is an estimate to size the labs, not a measurement: run the labs on a GPU (``torch.cuda.max_memory_allocated``)
to measure.
"""

from __future__ import annotations

import ast
import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
import torch
from peft import get_peft_model
from results import save
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, PretrainedConfig

from course_utils.labs.verifiable_rewards import sft_settings
from course_utils.ppo import CausalLMWithValueHead
from course_utils.runtime.architectures import model_config
from course_utils.runtime.profiles import Profile

ROOT = Path(__file__).resolve().parents[1]

GIB = 1024**3
T4_GIB = 15.0
CUDA_CONTEXT = 0.5 * GIB
# The longest query, assumed: an hh-rlhf question with its "Human: ... Assistant:" frame (Lab 6), a GSM8K question
# with its "Question: ... Answer:" frame (Lab 5)
QUERY_TOKENS = 256


def settings(lab: str, *names: str, **given: object) -> dict:
    """The settings ``names`` of a lab's solution (``config = SFTConfig(...)``, ``max_length = profile.pick(...)``),
    in the full profile.

    Only the statements that assign them run, after the imports of their cells: a cell may also load data or train.
    Names those statements read from other cells are passed as ``given``.
    """
    notebook = nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    namespace: dict = {"profile": Profile("full", "cpu"), **given}
    for cell in notebook.cells:
        try:
            body = ast.parse(cell.source).body if cell.cell_type == "code" else []
        except SyntaxError:  # a cell with IPython's shell escapes (the install cell)
            continue
        assigns = [
            node
            for node in body
            if isinstance(node, ast.Assign) and any(getattr(target, "id", None) in names for target in node.targets)
        ]
        if assigns:
            imports = [node for node in body if isinstance(node, ast.Import | ast.ImportFrom)]
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(ast.Module(imports + assigns, []), lab, "exec"), namespace)  # noqa: S102 -- our notebook
    missing = [name for name in names if name not in namespace]
    if missing:
        raise ValueError(f"{lab} assigns no {', '.join(missing)} at the top level of a cell.")
    return {name: namespace[name] for name in names}


@dataclass
class Model:
    """One network in GPU memory during training: its configuration and how many of its parameters train."""

    config: PretrainedConfig
    parameters: int
    trainable: int
    causal: bool  # a language model (a logit per vocabulary token), not a classifier


def build(hub_id: str, trains: bool = True, peft_config=None, value_head: bool = False, **overrides) -> Model:
    """``hub_id``'s real architecture on the meta device, frozen or trained (with ``peft_config``: its adapter)."""
    config = model_config(hub_id, "real", **overrides)
    with torch.device("meta"):
        causal = config.model_type != "distilbert" and "num_labels" not in overrides
        auto = AutoModelForCausalLM if causal else AutoModelForSequenceClassification
        model = auto.from_config(config, dtype=torch.float32)  # float32 weights, as the labs' loaders load them
        if value_head:
            model = CausalLMWithValueHead(model)
        if peft_config is not None:
            model = get_peft_model(model, peft_config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad) if trains else 0
    return Model(config, sum(p.numel() for p in model.parameters()), trainable, causal)


def activation_bytes(model: Model, sequences: int, length: int) -> float:
    """Activations kept for the backward pass (Korthikanti et al. 2022) and a language model's logits in fp16 and
    float32."""
    config = model.config
    per_layer = 34 * length * sequences * config.hidden_size
    logits = 10 * sequences * length * config.vocab_size if model.causal else 0
    return config.num_hidden_layers * per_layer + logits


def estimate(models: list[Model], trained: Model, sequences: int, length: int) -> float:
    weights = sum(4 * model.parameters for model in models)
    optimizer = sum(12 * model.trainable for model in models)
    return weights + optimizer + activation_bytes(trained, sequences, length) + CUDA_CONTEXT


def verifiable_rewards_rows() -> list[list]:
    """Lab 5's largest stages. SFT trains LoRA adapters on Qwen2.5-0.5B-Instruct and saves the merged model; the SFT
    policy stays in memory from then on. The last GRPO run (against the lax verifier) trains a LoRA policy while the
    first run's policy is kept for the audit (expert iteration's and the tool runs' models are freed before it); so
    is it while TRL's GRPOTrainer trains the instruct model with the calculator as a tool.
    An update reads ``batch_size / mini_batches`` answers of a query and up to ``max_completion_length`` tokens."""
    sft, lora = sft_settings(Profile("full", "cpu"), output_dir="lab5-sft-checkpoints")  # the lab's SFT cell calls it
    found = settings("lab5_verifiable_rewards", "config", "chat_config", max_new_tokens=256)
    grpo, trl_tools = found["config"], found["chat_config"]
    qwen = "Qwen/Qwen2.5-0.5B-Instruct"
    policy, sft_model = build(qwen, peft_config=lora), build(qwen, trains=False)
    first_run = build(qwen, trains=False, peft_config=lora)
    answers = grpo.batch_size // grpo.mini_batches
    return [
        ["lab5 SFT", "Qwen2.5-0.5B + LoRA", policy, sft.per_device_train_batch_size, sft.max_length, [policy]],
        [
            "lab5 GRPO, lax run",
            "Qwen2.5-0.5B + LoRA; SFT, first run",
            policy,
            answers,
            QUERY_TOKENS + grpo.max_completion_length,
            [sft_model, first_run, policy],
        ],
        [
            "lab5 TRL GRPO, tools",
            "Qwen2.5-0.5B + LoRA; SFT, first run",
            policy,
            trl_tools.per_device_train_batch_size,
            QUERY_TOKENS + trl_tools.max_completion_length,
            [sft_model, first_run, policy],
        ],
    ]


def capstone_rows() -> list[list]:
    """Lab 6, stage by stage, with every network the notebook still holds at that stage (nothing is freed).

    The SFT policy is fully fine-tuned; the proxy is gpt2 with a scalar head, fully fine-tuned; the gold
    (DeBERTa-v3-large) and the SFT model stay in memory from then on. Each PPO run keeps its policy (LoRA adapters
    and a value head of ``hidden + 1`` weights, left out here; its reference is itself with the adapters off), and
    DPO and GRPO add one LoRA policy each. A query is an hh-rlhf question of up to ``QUERY_TOKENS``.
    """
    lab = "lab6_rlhf_capstone"
    # The settings cells in the notebook's order; GRPO's answers end at stop_ids (a stand-in: tokens do not matter here)
    kept = ("sft_config", "proxy_config", "max_new_tokens", "lora", "ppo_config", "dpo_config", "grpo_config")
    # and what the later settings are computed from: the routes' budgets are PPO's optimiser updates
    found = settings(lab, *kept, "ppo_steps", "minibatches", "ppo_updates", stop_ids=[0])
    sft, proxy_config, max_new_tokens, lora, ppo, dpo, grpo = (found[name] for name in kept)
    smollm = "HuggingFaceTB/SmolLM2-135M"
    sft_model, sft_trained = build(smollm, trains=False), build(smollm)
    gold = build("OpenAssistant/reward-model-deberta-v3-large-v2", trains=False, num_labels=1)
    proxy, proxy_trained = build("gpt2", trains=False, num_labels=1), build("gpt2", num_labels=1)
    policy = build(smollm, peft_config=lora)
    answered = QUERY_TOKENS + max_new_tokens
    held = [sft_model, gold, proxy]
    sft_batch, proxy_batch = sft.per_device_train_batch_size, 2 * proxy_config.per_device_train_batch_size
    return [
        ["lab6 SFT", "SmolLM2-135M", sft_trained, sft_batch, sft.max_length, [sft_trained]],
        [
            "lab6 proxy",
            "gpt2, 1 label; SFT, gold",
            proxy_trained,
            proxy_batch,
            proxy_config.max_length,
            [sft_model, gold, proxy_trained],
        ],
        [
            "lab6 PPO, 2nd run",
            "SmolLM2-135M + LoRA x 2; SFT, gold, proxy",
            policy,
            ppo.mini_batch_size,
            answered,
            [*held, policy, policy],
        ],
        [
            "lab6 DPO",
            "+ SmolLM2-135M + LoRA",
            policy,
            2 * dpo.per_device_train_batch_size,
            dpo.max_length,
            [*held, policy, policy, policy],
        ],
        [
            "lab6 GRPO",
            "+ SmolLM2-135M + LoRA",
            policy,
            grpo.per_device_train_batch_size,
            answered,
            [*held, policy, policy, policy, policy],
        ],
    ]


def rows() -> list[list[str]]:
    """One row per lab: what trains, parameters, trainable parameters, the batch, the estimated peak memory."""
    table = []

    lab1 = settings("lab1_instruction_tuning", "config", "peft_config", "max_length")
    policy = build("facebook/opt-350m", peft_config=lab1["peft_config"])
    batch = lab1["config"].per_device_train_batch_size
    table.append(["lab1 SFT", "opt-350m + LoRA", policy, batch, lab1["max_length"], [policy]])

    lab2 = settings("lab2_reward_modeling", "config", "peft_config")
    reward = build("gpt2", peft_config=lab2["peft_config"], num_labels=1)
    batch = lab2["config"].per_device_train_batch_size
    table.append(["lab2 reward", "gpt2 + LoRA, 1 label", reward, 2 * batch, lab2["config"].max_length, [reward]])

    lab3 = settings("lab3_ppo_sentiment", "config")
    policy = build("lvwerra/gpt2-imdb", value_head=True)
    reference = build("lvwerra/gpt2-imdb", trains=False)
    sentiment = build("lvwerra/distilbert-imdb", trains=False)
    # Queries of up to 7 tokens and responses of up to 15 (LengthSampler(2, 8) and (4, 16)).
    batch = lab3["config"].mini_batch_size
    table.append(["lab3 PPO", "gpt2-imdb + value head", policy, batch, 7 + 15, [policy, reference, sentiment]])

    sft = settings("lab4_dpo", "sft_config", "sft_lora")
    policy = build("HuggingFaceTB/SmolLM2-360M", peft_config=sft["sft_lora"])
    batch = sft["sft_config"].per_device_train_batch_size
    table.append(["lab4 SFT reference", "SmolLM2-360M + LoRA", policy, batch, sft["sft_config"].max_length, [policy]])

    lab4 = settings("lab4_dpo", "config", "peft_config")
    policy = build("HuggingFaceTB/SmolLM2-360M", peft_config=lab4["peft_config"])
    reference = build("HuggingFaceTB/SmolLM2-360M", trains=False)
    batch = lab4["config"].per_device_train_batch_size  # pairs: a chosen and a rejected sequence each
    length = lab4["config"].max_length
    table.append(["lab4 DPO", "SmolLM2-360M + LoRA, reference", policy, 2 * batch, length, [policy, reference]])
    table += verifiable_rewards_rows()
    table += capstone_rows()

    printed = []
    for name, what, trained, sequences, length, models in table:
        peak = estimate(models, trained, sequences, length) / GIB
        printed.append(
            [
                name,
                what,
                f"{sum(m.parameters for m in models) / 1e6:.1f} M",
                f"{trained.trainable / 1e6:.2f} M",
                f"{100 * trained.trainable / trained.parameters:.2f} %",
                f"{sequences} x {length}",
                f"{peak:.1f} GiB",
                "yes" if peak < T4_GIB else "NO",
            ]
        )
    return printed


def main() -> None:
    from course_utils.instructor.tables import text_table

    warnings.filterwarnings("ignore", category=FutureWarning)  # peft asks transformers a deprecated question
    header = [
        "lab",
        "networks",
        "parameters",
        "trainable",
        "of the trained",
        "sequences x tokens",
        "est. peak GPU memory",
        f"fits a T4 ({T4_GIB:g} GB)",
    ]
    table = rows()
    print(text_table(header, table))
    save("full_size", header, table)


if __name__ == "__main__":
    main()
