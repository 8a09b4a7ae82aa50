import pytest
import torch
import trl

from course_utils.profiles import Profile
from course_utils.training import mixed_precision, trainer_kwargs


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


def test_trainer_kwargs_cpu_does_not_ask_cuda_about_bf16(monkeypatch):
    def fail():
        raise AssertionError("is_bf16_supported called for a CPU profile")

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", fail)
    assert trainer_kwargs(Profile("tiny", "cpu"))["bf16"] is False


@pytest.mark.parametrize(
    ("bf16_supported", "bf16", "fp16"),
    [(True, True, False), (False, False, True)],  # an A100 / H100, then a T4
)
def test_trainer_kwargs_gpu_precision(monkeypatch, bf16_supported, bf16, fp16):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_supported)
    kwargs = trainer_kwargs(Profile("full", "cuda"))
    assert mixed_precision(Profile("full", "cuda")) == ("bf16" if bf16 else "fp16")
    assert (kwargs["bf16"], kwargs["fp16"], kwargs["use_cpu"], kwargs["dataloader_pin_memory"]) == (
        bf16,
        fp16,
        False,
        True,
    )


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
