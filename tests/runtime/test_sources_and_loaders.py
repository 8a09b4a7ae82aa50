import shutil
from pathlib import Path

import pytest
import torch

from course_utils.instructor import hub_mirror as hub_layout  # where each Hub repository keeps its files
from course_utils.runtime.loaders import (
    held_out_openings,
    load_code_alpaca,
    load_dpo_models,
    load_imdb,
    load_instruct_pairs,
    load_ppo_policy,
    load_reward_model,
    load_sentiment_pipeline,
    load_sft_model,
    load_ultrafeedback,
)
from course_utils.runtime.profiles import Profile
from course_utils.runtime.sources import ROLES, asset_path, resolve

FULL = Profile("full", "cpu")
COLUMNS = ["instruction", "input", "output"]


@pytest.fixture
def no_mirror(monkeypatch):
    monkeypatch.delenv("COURSE_HUB_MIRROR", raising=False)


# --- assets ----------------------------------------------------------------------------------------------------


def test_asset_path_points_inside_the_package():
    path = asset_path("models", "opt-tiny")
    assert path.is_dir()
    assert path.parts[-3:] == ("assets", "models", "opt-tiny")
    assert (path / "config.json").is_file()


def test_asset_path_missing_raises_with_the_rebuild_hint():
    with pytest.raises(FileNotFoundError, match="build_tiny_assets.py"):
        asset_path("models", "does-not-exist")


# --- resolve ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny", "grade"])
def test_resolve_gives_packaged_assets_for_tiny_and_grade(name, no_mirror):
    profile = Profile(name, "cpu")
    assert resolve("sft_model", profile) == str(asset_path("models", "opt-tiny"))
    assert resolve("code_alpaca", profile) == str(asset_path("datasets", "code_alpaca"))
    assert resolve("reward_model", profile) == str(asset_path("models", "gpt2-tiny"))
    assert resolve("instruct_pairwise", profile) == str(asset_path("datasets", "instruct_pairwise"))


def test_resolve_tiny_ignores_the_mirror(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_HUB_MIRROR", str(tmp_path))
    assert resolve("sft_model", Profile("tiny", "cpu")) == str(asset_path("models", "opt-tiny"))


def test_resolve_full_without_mirror_gives_hub_ids(no_mirror):
    assert resolve("sft_model", FULL) == "facebook/opt-350m"
    assert resolve("code_alpaca", FULL) == "sahil2801/CodeAlpaca-20k"


def test_resolve_full_with_mirror_gives_owner_name_directory(monkeypatch, tmp_path):
    (tmp_path / "facebook" / "opt-350m").mkdir(parents=True)
    monkeypatch.setenv("COURSE_HUB_MIRROR", str(tmp_path))
    assert resolve("sft_model", FULL) == str(tmp_path / "facebook" / "opt-350m")


def test_resolve_full_with_mirror_lacking_the_repo_raises(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_HUB_MIRROR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="code_alpaca"):
        resolve("code_alpaca", FULL)


@pytest.mark.parametrize("profile", [FULL, Profile("tiny", "cpu")])
def test_resolve_unknown_role_raises_key_error(profile):
    with pytest.raises(
        KeyError, match="code_alpaca, dpo_model, gold_reward_model, gsm8k, imdb, instruct_pairwise, ppo_policy"
    ):
        resolve("policy", profile)


def test_roles_hub_ids():
    assert {name: role.hub_id for name, role in ROLES.items()} == {
        "sft_model": "facebook/opt-350m",
        "code_alpaca": "sahil2801/CodeAlpaca-20k",
        "reward_model": "gpt2",
        "instruct_pairwise": "Dahoas/synthetic-instruct-gptj-pairwise",
        "ppo_policy": "lvwerra/gpt2-imdb",
        "sentiment_model": "lvwerra/distilbert-imdb",
        "imdb": "stanfordnlp/imdb",
        "dpo_model": "HuggingFaceTB/SmolLM2-360M",
        "ultrafeedback": "HuggingFaceH4/ultrafeedback_binarized",
        "capstone_policy": "HuggingFaceTB/SmolLM2-135M",
        "rlvr_policy": "Qwen/Qwen2.5-0.5B-Instruct",
        "gsm8k": "openai/gsm8k",
        "capstone_dialogues": "Anthropic/hh-rlhf",
        "gold_reward_model": "OpenAssistant/reward-model-deberta-v3-large-v2",
    }


def test_a_role_without_a_packaged_stand_in_says_so_in_the_tiny_profile():
    with pytest.raises(ValueError, match="'gold_reward_model' has no packaged stand-in"):
        resolve("gold_reward_model", Profile("tiny", "cpu"))


# --- full profile end to end through a local mirror ------------------------------------------------------------

MIRROR_ROWS = [
    {"instruction": f"Task number {i}.", "input": "" if i % 2 else f"x = {i}", "output": f"result {i}"}
    for i in range(10)
]
# Real rows can carry stray whitespace; the loader strips it (leading spaces would hide the response template).
MIRROR_ROWS[3] = {"instruction": " Task number 3.\n", "input": "", "output": "    result 3\n"}
STRIPPED_ROWS = [{key: value.strip() for key, value in row.items()} for row in MIRROR_ROWS]
MIRROR_REVIEWS = {
    split: [{"text": f"{split} review {i}", "label": i % 2} for i in range(4)]
    for split in ("train", "test", "unsupervised")
}
MIRROR_FEEDBACK = [
    {
        "prompt": "Hi?",
        "chosen": [{"content": "Hi?", "role": "user"}, {"content": "Hello!", "role": "assistant"}],
        "rejected": [{"content": "Hi?", "role": "user"}, {"content": "No.", "role": "assistant"}],
        "score_chosen": 8.0,
        "score_rejected": 2.0,
    }
]
MIRROR_PAIRS = [{"prompt": f"Question {i}?", "chosen": f"A good answer {i}.", "rejected": "No."} for i in range(6)]


@pytest.fixture(scope="module")
def hub_mirror(tmp_path_factory) -> Path:
    """A directory laid out like the Hub repositories of the full profile (no network needed), small rows."""
    mirror = tmp_path_factory.mktemp("hub_mirror")
    for hub_id, asset in [
        ("facebook/opt-350m", "opt-tiny"),
        ("gpt2", "gpt2-tiny"),
        ("HuggingFaceTB/SmolLM2-360M", "gpt2-tiny"),
        ("lvwerra/gpt2-imdb", "gpt2-imdb-tiny"),
        ("lvwerra/distilbert-imdb", "distilbert-imdb-tiny"),
    ]:
        shutil.copytree(asset_path("models", asset), mirror / hub_id)
    hub_layout.write_code_alpaca(mirror, MIRROR_ROWS)
    hub_layout.write_instruct_pairs(mirror, MIRROR_PAIRS)
    hub_layout.write_imdb(mirror, MIRROR_REVIEWS)
    hub_layout.write_ultrafeedback(mirror, {"train_prefs": MIRROR_FEEDBACK, "test_prefs": MIRROR_FEEDBACK})
    # ultrafeedback_binarized has six splits; a broken train_sft shard proves that only the two preference splits
    # are read.
    (mirror / "HuggingFaceH4" / "ultrafeedback_binarized" / "data" / "train_sft-00000-of-00001.parquet").write_text(
        "not a parquet file"
    )
    return mirror


def test_full_profile_loads_the_model_from_the_mirror(monkeypatch, hub_mirror):
    monkeypatch.setenv("COURSE_HUB_MIRROR", str(hub_mirror))
    model, tokenizer = load_sft_model(FULL)
    expected = str(hub_mirror / "facebook" / "opt-350m")
    assert model.config._name_or_path == expected
    assert tokenizer.name_or_path == expected
    assert model.config.model_type == "opt"
    assert model.dtype == torch.float32
    assert next(model.parameters()).device == torch.device("cpu")
    assert tokenizer.pad_token == "<pad>"


def test_full_profile_loads_code_alpaca_from_the_mirror(monkeypatch, hub_mirror):
    monkeypatch.setenv("COURSE_HUB_MIRROR", str(hub_mirror))
    splits = load_code_alpaca(FULL)
    assert sorted(splits) == ["test", "train"]
    # 10 rows, test_size 0.2 -> 2 test rows, 8 train rows.
    assert (splits["train"].num_rows, splits["test"].num_rows) == (8, 2)
    assert splits["train"].column_names == COLUMNS
    assert splits["test"].column_names == COLUMNS
    loaded = sorted(list(splits["train"]) + list(splits["test"]), key=lambda row: row["instruction"])
    assert loaded == sorted(STRIPPED_ROWS, key=lambda row: row["instruction"])


def test_full_profile_loads_the_reward_model_from_the_mirror(monkeypatch, hub_mirror):
    monkeypatch.setenv("COURSE_HUB_MIRROR", str(hub_mirror))
    model, tokenizer = load_reward_model(FULL)
    assert model.config._name_or_path == str(hub_mirror / "gpt2")
    assert type(model).__name__ == "GPT2ForSequenceClassification"


def test_full_profile_loads_the_pairs_from_the_mirror(monkeypatch, hub_mirror):
    monkeypatch.setenv("COURSE_HUB_MIRROR", str(hub_mirror))
    assert list(load_instruct_pairs(FULL)) == MIRROR_PAIRS


def test_full_profile_loads_lab3_models_and_reviews_from_the_mirror(monkeypatch, hub_mirror):
    monkeypatch.setenv("COURSE_HUB_MIRROR", str(hub_mirror))
    policy, _ = load_ppo_policy(FULL)
    assert policy.config._name_or_path == str(hub_mirror / "lvwerra" / "gpt2-imdb")
    assert load_sentiment_pipeline(FULL).model.config._name_or_path == str(hub_mirror / "lvwerra" / "distilbert-imdb")
    assert list(load_imdb(FULL, split="test")) == MIRROR_REVIEWS["test"]


def test_full_profile_loads_lab4_from_the_mirror_reading_only_the_preference_splits(monkeypatch, hub_mirror):
    monkeypatch.setenv("COURSE_HUB_MIRROR", str(hub_mirror))
    splits = load_ultrafeedback(FULL)
    assert sorted(splits) == ["test_prefs", "train_prefs"]
    assert list(splits["test_prefs"]) == MIRROR_FEEDBACK
    policy, reference, _ = load_dpo_models(FULL)
    assert (
        policy.config._name_or_path
        == reference.config._name_or_path
        == str(hub_mirror / "HuggingFaceTB" / "SmolLM2-360M")
    )


# --- tiny profile ----------------------------------------------------------------------------------------------


def test_tiny_model_is_the_packaged_one(tiny_model_and_tokenizer):
    model, tokenizer = tiny_model_and_tokenizer
    assert model.config._name_or_path == str(asset_path("models", "opt-tiny"))
    assert tokenizer.name_or_path == str(asset_path("models", "opt-tiny"))
    assert model.dtype == torch.float32
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (1, 2)


@pytest.fixture(scope="module")
def tiny_splits():
    return load_code_alpaca(Profile("tiny", "cpu"))


def test_tiny_code_alpaca_split_sizes_and_columns(tiny_splits):
    # 400 packaged rows, 20% held out.
    assert (tiny_splits["train"].num_rows, tiny_splits["test"].num_rows) == (320, 80)
    assert tiny_splits["train"].column_names == COLUMNS


def test_tiny_code_alpaca_split_is_the_same_on_every_call(tiny_splits):
    again = load_code_alpaca(Profile("grade", "cpu"))
    assert list(again["train"]["instruction"]) == list(tiny_splits["train"]["instruction"])
    assert list(again["test"]["instruction"]) == list(tiny_splits["test"]["instruction"])
    assert list(again["test"]["input"]) == list(tiny_splits["test"]["input"])


def test_tiny_code_alpaca_train_and_test_are_disjoint(tiny_splits):
    train = set(zip(tiny_splits["train"]["instruction"], tiny_splits["train"]["input"], strict=True))
    test = set(zip(tiny_splits["test"]["instruction"], tiny_splits["test"]["input"], strict=True))
    assert len(train) == 320 and len(test) == 80
    assert train.isdisjoint(test)


def test_tiny_reward_model_has_one_scalar_head_and_knows_its_padding(tiny_profile):
    model, tokenizer = load_reward_model(tiny_profile)
    assert model.config.num_labels == 1
    assert model.score.weight.shape == (1, model.config.n_embd)
    # GPT-2 has no padding token: the loader pads with end-of-sequence and tells the model, which needs it to
    # find each row's last real token.
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    assert model.config.pad_token_id == tokenizer.pad_token_id == tokenizer.eos_token_id
    assert model.dtype == torch.float32


def test_tiny_reward_backbone_is_the_packaged_gpt2_style_model(tiny_profile):
    model, tokenizer = load_reward_model(tiny_profile)
    assert model.config._name_or_path == str(asset_path("models", "gpt2-tiny"))
    assert model.config.model_type == "gpt2"
    # Like GPT-2's tokenizer, nothing is added around a text.
    ids = tokenizer("Human: hi")["input_ids"]
    assert tokenizer.decode(ids) == "Human: hi"
    assert tokenizer.eos_token_id not in ids


def test_tiny_instruct_pairs_schema_and_size(tiny_profile):
    rows = load_instruct_pairs(tiny_profile)
    assert rows.column_names == ["prompt", "chosen", "rejected"]
    assert rows.num_rows == 480
    assert all(row["chosen"] != row["rejected"] for row in rows)
    # Several pairs per prompt, as in real preference data: a split must keep a prompt's pairs together.
    prompts = rows["prompt"]
    assert len(set(prompts)) == 200
    assert max(prompts.count(prompt) for prompt in set(prompts)) >= 2


def test_tiny_ppo_policy_has_a_value_head_and_gpt2_padding(tiny_profile):
    policy, tokenizer = load_ppo_policy(tiny_profile)
    assert type(policy).__name__ == "CausalLMWithValueHead"
    assert policy.config.model_type == "gpt2"
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"


def test_tiny_sentiment_pipeline_returns_every_label_as_a_raw_logit(tiny_profile):
    sentiment = load_sentiment_pipeline(tiny_profile)
    assert sentiment.model.config.id2label == {0: "NEGATIVE", 1: "POSITIVE"}
    positive, negative = sentiment(["I loved it and would watch it again.", "The acting is terrible."])
    assert {item["label"] for item in positive} == {item["label"] for item in negative} == {"NEGATIVE", "POSITIVE"}
    score = {item["label"]: item["score"] for item in positive}
    # Raw logits, not probabilities: far outside [0, 1] for such clear texts.
    assert score["POSITIVE"] > 2.0 and score["NEGATIVE"] < -2.0
    # Sorted by score, so POSITIVE comes first here and last for the negative text.
    assert positive[0]["label"] == "POSITIVE" and negative[-1]["label"] == "POSITIVE"


def test_tiny_imdb_schema_splits_and_balance(tiny_profile):
    train, test = load_imdb(tiny_profile, "train"), load_imdb(tiny_profile, "test")
    assert train.column_names == test.column_names == ["text", "label"]
    assert (train.num_rows, test.num_rows) == (600, 200)
    assert sum(train["label"]) == 300
    assert not set(train["text"]) & set(test["text"])
    assert 100 < sum(len(text) > 200 for text in train["text"]) < 600  # the lab's length filter has work to do


def test_held_out_openings_are_six_tokens_of_the_long_test_reviews_in_order(tiny_profile, tiny_tokenizer):
    long_reviews = [text for text in load_imdb(tiny_profile, "test")["text"] if len(text) > 200]
    openings = held_out_openings(tiny_profile, tiny_tokenizer, count=5)
    assert openings == [tiny_tokenizer.encode(text)[:6] for text in long_reviews[:5]]
    assert [len(opening) for opening in openings] == [6] * 5
    assert held_out_openings(tiny_profile, tiny_tokenizer) == held_out_openings(tiny_profile, tiny_tokenizer)[:48]


def test_tiny_ultrafeedback_schema_and_disjoint_prompts(tiny_profile):
    splits = load_ultrafeedback(tiny_profile)
    train, test = splits["train_prefs"], splits["test_prefs"]
    assert (train.num_rows, test.num_rows) == (400, 80)
    assert train.column_names == [
        "prompt",
        "prompt_id",
        "chosen",
        "rejected",
        "messages",
        "score_chosen",
        "score_rejected",
    ]
    row = test[0]
    assert [message["role"] for message in row["chosen"]] == ["user", "assistant"]
    assert row["chosen"][0] == row["rejected"][0] == {"content": row["prompt"], "role": "user"}
    assert row["score_chosen"] > row["score_rejected"]
    assert not set(train["prompt"]) & set(test["prompt"])


def test_every_hub_model_a_role_names_has_its_real_architecture():
    from course_utils.runtime.architectures import ARCHITECTURES
    from course_utils.runtime.sources import ROLES

    models = {role.hub_id for role in ROLES.values() if role.tiny_asset is None or role.tiny_asset[0] == "models"}
    assert set(ARCHITECTURES) == models
