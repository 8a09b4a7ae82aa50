import dataclasses

import pytest
import torch
import trl
from datasets import Dataset

from course_utils.runtime import training
from course_utils.runtime.loaders import load_sft_model
from course_utils.runtime.profiles import Profile
from course_utils.runtime.training import mixed_precision, no_activation_checkpointing, train, trainer_kwargs, untuned


def test_trainer_kwargs_tiny_cpu():
    assert trainer_kwargs(Profile("tiny", "cpu", seed=3)) == {
        "bf16": False,
        "fp16": False,
        "use_cpu": True,
        "activation_checkpointing": False,
        "report_to": "none",
        "save_strategy": "no",
        "seed": 3,
        "disable_tqdm": False,
        "log_level": "passive",
        "dataloader_pin_memory": False,
    }


def test_trainer_kwargs_grade_cpu_is_quiet():
    kwargs = trainer_kwargs(Profile("grade", "cpu"))
    assert (kwargs["disable_tqdm"], kwargs["log_level"], kwargs["seed"]) == (True, "error", 0)
    assert (kwargs["bf16"], kwargs["fp16"], kwargs["use_cpu"]) == (False, False, True)


def test_trainer_kwargs_cpu_does_not_ask_cuda_about_its_capability(monkeypatch):
    def fail():
        raise AssertionError("get_device_capability called for a CPU profile")

    monkeypatch.setattr(torch.cuda, "get_device_capability", fail)
    assert trainer_kwargs(Profile("tiny", "cpu"))["bf16"] is False


@pytest.mark.parametrize(
    ("capability", "bf16", "fp16"),
    [((8, 0), True, False), ((9, 0), True, False), ((7, 5), False, True)],  # an A100, an H100, then a T4
)
def test_trainer_kwargs_gpu_precision(monkeypatch, capability, bf16, fp16):
    # A T4 "supports" bf16 by emulation (torch.cuda.is_bf16_supported() is True there): its capability decides.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args: capability)
    kwargs = trainer_kwargs(Profile("full", "cuda"))
    assert mixed_precision(Profile("full", "cuda")) == ("bf16" if bf16 else "fp16")
    assert (kwargs["bf16"], kwargs["fp16"], kwargs["use_cpu"], kwargs["dataloader_pin_memory"]) == (
        bf16,
        fp16,
        False,
        True,
    )


def test_checkpointing_is_switched_off_under_the_name_transformers_knows(monkeypatch):
    assert no_activation_checkpointing() == {"activation_checkpointing": False}  # transformers after the rename

    @dataclasses.dataclass
    class BeforeTheRename:  # transformers 5.15, as preinstalled on Colab
        gradient_checkpointing: bool = False

    monkeypatch.setattr(training, "TrainingArguments", BeforeTheRename)
    assert no_activation_checkpointing() == {"gradient_checkpointing": False}


@pytest.mark.parametrize(("name", "disable_tqdm"), [("tiny", False), ("grade", True)])
def test_sft_config_accepts_trainer_kwargs(tmp_path, name, disable_tqdm):
    config = trl.SFTConfig(output_dir=str(tmp_path), **trainer_kwargs(Profile(name, "cpu", seed=11)))
    assert config.bf16 is False
    assert config.fp16 is False
    assert config.use_cpu is True
    assert config.activation_checkpointing is False
    assert config.report_to == []  # "none" means no tracker
    assert config.save_strategy == "no"
    assert config.seed == 11
    assert config.disable_tqdm is disable_tqdm
    assert config.log_level == ("error" if name == "grade" else "passive")
    assert config.dataloader_pin_memory is False


def test_mixed_precision_is_off_on_a_cpu():
    assert mixed_precision(Profile("tiny", "cpu")) == "no"


# --- a training cell run twice ---------------------------------------------------------------------------------


def test_untuned_remembers_then_restores_only_what_changed(capsys):
    model = torch.nn.Linear(2, 2)
    model.bias.requires_grad_(False)  # frozen, like a base model's weights under LoRA: never saved nor restored
    start, bias = model.weight.detach().clone(), model.bias.detach().clone()
    assert untuned(model) is model
    assert capsys.readouterr().out == ""  # the first call only remembers
    untuned(model)
    assert capsys.readouterr().out == ""  # nothing changed since: nothing to say
    with torch.no_grad():
        model.weight.add_(1.0)
        model.bias.add_(1.0)
    untuned(model)
    assert torch.equal(model.weight, start)
    assert torch.equal(model.bias.detach(), bias + 1.0)  # left as it was
    assert "its 1 trained weight tensors are back to their untuned values" in capsys.readouterr().out


def test_train_twice_trains_the_same_model_the_same_way(tmp_path, capsys):
    model, tokenizer = load_sft_model(Profile("tiny", "cpu"))
    rows = Dataset.from_dict({"text": [f"### Instruction:\nSay {i}.\n\n### Response:\n{i} {i} {i}" for i in range(16)]})
    config = trl.SFTConfig(
        output_dir=str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        logging_steps=2,
        **trainer_kwargs(Profile("grade", "cpu")),
    )
    trainer = trl.SFTTrainer(model=model, args=config, train_dataset=rows, processing_class=tokenizer)
    start = {name: value.clone() for name, value in model.state_dict().items()}

    def losses():
        return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]

    train(trainer)
    first = losses()
    assert len(first) == 3 and first[-1] < first[0]
    tuned = {name: value.clone() for name, value in model.state_dict().items()}
    capsys.readouterr()
    train(trainer)  # the cell, run again
    assert "back to their untuned values" in capsys.readouterr().out
    # Run again from the tuned weights, the first logged loss would already be the tuned model's.
    assert losses() == pytest.approx(first, rel=1e-5)
    assert all(torch.allclose(tuned[name], value, atol=1e-6) for name, value in model.state_dict().items())
    assert any(not torch.equal(start[name], value) for name, value in model.state_dict().items())
