"""The real architectures of the Hub models `sources.ROLES` names: each one's model and configuration classes and
its configuration as the repository's ``config.json`` has it, so that code which must behave as the full profile
does can be exercised without the Hub: the Hub-shaped mirror (``instructor/hub_mirror.py``) builds models of these
architectures with random weights, and ``benchmarks/full_size.py`` sizes them on PyTorch's meta device.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import (
    DebertaV2Config,
    DebertaV2ForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    OPTConfig,
    OPTForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    Qwen2Config,
    Qwen2ForCausalLM,
)


@dataclass(frozen=True)
class Architecture:
    """A Hub model's classes, its real configuration, and the packaged tiny model whose tokenizer a stand-in of it
    borrows (the real tokenizers cannot be downloaded where the mirror is built)."""

    model_class: type[PreTrainedModel]
    config_class: type[PretrainedConfig]
    config: dict
    tokenizer_from: str


# gpt2 (124M); lvwerra/gpt2-imdb is gpt2 fine-tuned on IMDB reviews, with the same configuration.
GPT2_SMALL = dict(
    vocab_size=50257, n_embd=768, n_layer=12, n_head=12, n_positions=1024, bos_token_id=50256, eos_token_id=50256
)


def smollm2(**sizes: int) -> dict:
    """A SmolLM2 configuration: what every size shares (vocabulary, context, RoPE base, tied embeddings, the bfloat16
    it is stored in), and its own ``sizes``."""
    shared = dict(
        torch_dtype="bfloat16",
        vocab_size=49152,
        max_position_embeddings=8192,
        rope_theta=100000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
    )
    return {**shared, **sizes}


# The real configurations (from each repository's config.json); `SHRUNK` keeps the structure at a toy width. A
# checkpoint stored in half precision says so (``torch_dtype``), and transformers 5 loads it in that dtype unless
# ``dtype=`` says otherwise; the others are stored in float32.
ARCHITECTURES: dict[str, Architecture] = {
    "facebook/opt-350m": Architecture(
        OPTForCausalLM,
        OPTConfig,
        # opt-350m alone among the OPTs embeds in 512 dimensions, projected to 1024, and normalises after each layer.
        dict(
            vocab_size=50272,
            hidden_size=1024,
            num_hidden_layers=24,
            ffn_dim=4096,
            num_attention_heads=16,
            word_embed_proj_dim=512,
            max_position_embeddings=2048,
            do_layer_norm_before=False,
            pad_token_id=1,
            bos_token_id=2,
            eos_token_id=2,
            torch_dtype="float16",
        ),
        "opt-tiny",
    ),
    "gpt2": Architecture(
        GPT2LMHeadModel,
        GPT2Config,
        GPT2_SMALL,
        "gpt2-tiny",
    ),
    "lvwerra/gpt2-imdb": Architecture(
        GPT2LMHeadModel,
        GPT2Config,
        GPT2_SMALL,
        "gpt2-imdb-tiny",
    ),
    # Lab 4: a base model that writes readable English, small enough for DPO (policy and reference) on a T4.
    "HuggingFaceTB/SmolLM2-360M": Architecture(
        LlamaForCausalLM,
        LlamaConfig,
        # grouped-query attention: three query heads share each key / value head
        smollm2(
            hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15, num_key_value_heads=5
        ),
        "gpt2-tiny",
    ),
    # Lab 6's policy: SmolLM2's smallest, room on a T4 for the proxy and the gold beside it.
    "HuggingFaceTB/SmolLM2-135M": Architecture(
        LlamaForCausalLM,
        LlamaConfig,
        smollm2(
            hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3
        ),
        "gpt2-tiny",
    ),
    # The verifiable-rewards lab's policy: Qwen2.5's smallest chat model (grouped-query attention, 2 key-value heads,
    # biases on q/k/v, tied embeddings), stored in bfloat16; its chat template calls tools. Digits are single tokens.
    "Qwen/Qwen2.5-0.5B-Instruct": Architecture(
        Qwen2ForCausalLM,
        Qwen2Config,
        dict(
            torch_dtype="bfloat16",
            vocab_size=151936,
            hidden_size=896,
            intermediate_size=4864,
            num_hidden_layers=24,
            num_attention_heads=14,
            num_key_value_heads=2,
            max_position_embeddings=32768,
            rope_theta=1000000.0,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
            bos_token_id=151643,
            eos_token_id=151645,
        ),
        "gpt2-arith-tiny",
    ),
    # Lab 6's gold reward: DeBERTa-v3-large with one output, trained on human preferences (relative attention).
    "OpenAssistant/reward-model-deberta-v3-large-v2": Architecture(
        DebertaV2ForSequenceClassification,
        DebertaV2Config,
        dict(
            vocab_size=128100,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=24,
            num_attention_heads=16,
            max_position_embeddings=512,
            relative_attention=True,
            position_buckets=256,
            norm_rel_ebd="layer_norm",
            share_att_key=True,
            pos_att_type=["p2c", "c2p"],
            position_biased_input=False,
            max_relative_positions=-1,
            type_vocab_size=0,
            layer_norm_eps=1e-7,
            num_labels=1,
            pad_token_id=0,
        ),
        "distilbert-imdb-tiny",
    ),
    "lvwerra/distilbert-imdb": Architecture(
        DistilBertForSequenceClassification,
        DistilBertConfig,
        dict(
            vocab_size=30522,
            dim=768,
            hidden_dim=3072,
            n_layers=6,
            n_heads=12,
            max_position_embeddings=512,
            id2label={0: "NEGATIVE", 1: "POSITIVE"},
            label2id={"NEGATIVE": 0, "POSITIVE": 1},
        ),
        "distilbert-imdb-tiny",
    ),
}
# Width and depth only: context lengths, projections, layer-norm placement and labels stay as they are.
SHRUNK = {
    "hidden_size": 64,
    "ffn_dim": 128,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "word_embed_proj_dim": 32,
    "n_embd": 64,
    "n_layer": 2,
    "n_head": 4,
    "dim": 64,
    "hidden_dim": 128,
    "n_layers": 2,
    "n_heads": 4,
}


def model_config(hub_id: str, size: str = "shrunk", **overrides) -> PretrainedConfig:
    """The configuration of ``hub_id`` at its real size or shrunk; ``overrides`` (the vocabulary, token ids) last."""
    architecture = ARCHITECTURES[hub_id]
    real = architecture.config
    shrunk = {key: value for key, value in SHRUNK.items() if key in real} if size == "shrunk" else {}
    return architecture.config_class(**{**real, **shrunk, **overrides})
