"""Build the tiny assets shipped in `course_utils/assets`: sample data, a tokenizer and small pretrained models.

Deterministic on a CPU (one thread, fixed seeds): running it again rewrites the same files. Run it after changing
the sample data or the model recipes, then commit what it wrote::

    python scripts/build_tiny_assets.py

What it builds:
- ``datasets/code_alpaca/``: our synthetic CodeAlpaca sample (see ``make_code_alpaca_sample.py``).
- ``datasets/instruct_pairwise/``: our synthetic preference pairs (see ``make_preference_sample.py``).
- ``models/opt-tiny/``: an OPT-style causal LM with a byte-level BPE tokenizer that, like OPT's, starts every text
  with ``</s>``. It is pretrained briefly on *plain* text from the training split (instructions and answers as
  separate documents, never in the prompt template, never a held-out row), so it writes code-like text but has not
  learned to follow instructions: that is Lab 1's job.
- ``datasets/imdb/``: our synthetic movie reviews (see ``make_review_sample.py``).
- ``models/gpt2-tiny/``: a GPT-2-style causal LM with GPT-2's kind of tokenizer, pretrained on plain questions and
  answers of every quality from the preference world, with no preference labels: Labs 2 and 4 teach preferences.
- ``models/gpt2-imdb-tiny/``: the same architecture pretrained on the training reviews, positive and negative alike
  (Lab 3's policy, as lvwerra/gpt2-imdb is gpt2 tuned on IMDB).
- ``models/distilbert-imdb-tiny/``: a DistilBERT-style sentiment classifier trained on the training reviews, prefixes
  of them and their opinion sentences (Lab 3's reward, as lvwerra/distilbert-imdb).
- ``datasets/gsm8k/``: our arithmetic word problems in GSM8K's schema (see ``make_arithmetic_sample.py``).
- ``models/gpt2-arith-tiny/``: the same architecture, digits as tokens of their own, pretrained on arithmetic stories
  and worksheets: it knows its tables but not the answer format (the verifiable-rewards lab's policy).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import torch
from make_arithmetic_sample import main as write_arithmetic_sample
from make_arithmetic_sample import pretraining_documents as arithmetic_documents
from make_code_alpaca_sample import main as write_code_alpaca_sample
from make_preference_sample import main as write_preference_sample
from make_preference_sample import pretraining_documents as preference_documents
from make_review_sample import main as write_review_sample
from make_review_sample import opinion_sentences
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    DistilBertConfig,
    DistilBertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    OPTConfig,
    OPTForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

ASSETS = Path(__file__).resolve().parents[1] / "course_utils" / "assets"
SEED = 0
VOCAB_SIZE = 2048
CONTEXT_LENGTH = 256
ENDOFTEXT = "<|endoftext|>"


def train_bpe(
    texts: Sequence[str], special_tokens: list[str], vocab_size: int = VOCAB_SIZE, digits_apart: bool = False
) -> Tokenizer:
    """A byte-level BPE tokenizer (the GPT-2 / OPT kind) with ``special_tokens`` first in the vocabulary; with
    ``digits_apart``, every digit is a token of its own, as in Qwen2.5's and Llama 3's tokenizers (arithmetic
    is then done digit by digit, never on arbitrary chunks such as "12" + "34")."""
    bpe = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
        if digits_apart
        else byte_level
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    return bpe


def opt_tokenizer(texts: Sequence[str]) -> PreTrainedTokenizerFast:
    """OPT's kind of tokenizer: ``<s> <pad> </s> <unk>`` as ids 0-3, and ``</s>`` prepended to every text."""
    bpe = train_bpe(texts, ["<s>", "<pad>", "</s>", "<unk>"])
    bos = bpe.token_to_id("</s>")
    bpe.post_processor = processors.TemplateProcessing(
        single="</s> $A", pair="</s> $A </s> $B", special_tokens=[("</s>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="</s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


def gpt2_tokenizer(texts: Sequence[str], **bpe_options) -> PreTrainedTokenizerFast:
    """GPT-2's kind of tokenizer: one special token, ``<|endoftext|>``, and no padding token."""
    bpe = train_bpe(texts, [ENDOFTEXT], **bpe_options)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=ENDOFTEXT, eos_token=ENDOFTEXT, unk_token=ENDOFTEXT)


def bert_tokenizer(texts: Sequence[str]) -> PreTrainedTokenizerFast:
    """BERT's kind of tokenizer (DistilBERT's too): lower-cased WordPiece, ``[CLS] text [SEP]``.

    The vocabulary is every word of ``texts`` (our reviews use a few hundred) plus single characters as a fallback,
    in sorted order. (``tokenizers``' WordPiece trainer breaks ties differently from run to run; this does not.)
    """
    normalizer, pre_tokenizer = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    words = sorted(
        {word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))}
    )
    characters = sorted({character for word in words for character in word})
    special_tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = special_tokens + characters + [f"##{c}" for c in characters] + [w for w in words if len(w) > 1]
    wordpiece = Tokenizer(models.WordPiece(vocab={token: i for i, token in enumerate(vocab)}, unk_token="[UNK]"))
    wordpiece.normalizer = normalizer
    wordpiece.pre_tokenizer = pre_tokenizer
    wordpiece.decoder = decoders.WordPiece()
    cls, sep = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "attention_mask"],  # DistilBERT takes no token type ids
    )


def token_stream(tokenizer: PreTrainedTokenizerFast, documents: Sequence[str]) -> torch.Tensor:
    """All documents as one stream of token ids, each followed by the end-of-sequence token."""
    ids: list[int] = []
    for document in documents:
        ids.extend(tokenizer(document)["input_ids"] + [tokenizer.eos_token_id])
    return torch.tensor(ids)


def pretrain(
    model: PreTrainedModel, stream: torch.Tensor, steps: int, batch_size: int = 16, window: int = 128, lr: float = 3e-3
) -> list[float]:
    """Next-token prediction on random windows of the stream; returns the loss of every step."""
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    losses = []
    for _ in range(steps):
        starts = torch.randint(0, len(stream) - window, (batch_size,), generator=generator)
        batch = torch.stack([stream[start : start + window] for start in starts])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


def plain_documents(rows: Sequence[dict[str, str]]) -> list[str]:
    """Instructions, inputs and answers as separate plain documents: language, not instruction following."""
    documents = []
    for row in rows:
        documents.append(row["instruction"])
        documents.extend(text for text in (row["input"], row["output"]) if text)
    return documents


def training_rows() -> list[dict[str, str]]:
    """The rows of the fixed training split, made as `course_utils.runtime.loaders.load_code_alpaca` makes it."""
    from course_utils.runtime.loaders import load_code_alpaca
    from course_utils.runtime.profiles import Profile

    return list(load_code_alpaca(Profile("tiny", "cpu"))["train"])


def pretrain_and_save(
    name: str,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    documents: Sequence[str],
    steps: int,
    **pretrain_options,
) -> None:
    """Pretrain ``model`` on ``documents`` and save it with its tokenizer as ``models/<name>``."""
    losses = pretrain(model, token_stream(tokenizer, documents), steps=steps, **pretrain_options)
    print(f"{name}: {model.num_parameters():,} parameters, pretraining loss {losses[0]:.2f} -> {losses[-1]:.2f}")
    save_model(name, model, tokenizer)


def save_model(name: str, model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast) -> None:
    """Save ``model`` and its tokenizer as the packaged asset ``models/<name>``."""
    target = ASSETS / "models" / name
    model.save_pretrained(target)
    tokenizer.model_max_length = CONTEXT_LENGTH
    tokenizer.save_pretrained(target)
    # transformers stamps its own version into the configs: without it, a rebuild is byte for byte the same files
    # whichever transformers wrote them.
    for config in ("config.json", "generation_config.json"):
        path = target / config
        if path.exists():
            values = json.loads(path.read_text())
            values.pop("transformers_version", None)
            path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")


def build_opt_tiny(tokenizer: PreTrainedTokenizerFast, documents: Sequence[str], steps: int = 600) -> None:
    """The OPT-style tiny model (Lab 1's base model)."""
    torch.manual_seed(SEED)
    config = OPTConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        num_hidden_layers=2,
        ffn_dim=512,
        num_attention_heads=4,
        max_position_embeddings=CONTEXT_LENGTH,
        word_embed_proj_dim=128,
        do_layer_norm_before=True,
        dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    pretrain_and_save("opt-tiny", OPTForCausalLM(config), tokenizer, documents, steps)


def build_gpt2_tiny(
    name: str,
    documents: Sequence[str],
    steps: int = 500,
    tokenizer: PreTrainedTokenizerFast | None = None,
    batch_size: int = 16,
    window: int = 128,
    width: int = 128,
) -> None:
    """A GPT-2-style tiny causal LM (``width`` its embedding size) with GPT-2's kind of tokenizer (trained on
    ``documents`` unless given), the model pretrained on ``documents``.

    Like gpt2 on the Hub it is a plain causal LM: Lab 2 loads it as a sequence classifier, which adds a freshly
    initialised scalar head, exactly as it does with gpt2.
    """
    torch.manual_seed(SEED)
    tokenizer = tokenizer or gpt2_tokenizer(documents)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=width,
        n_layer=2,
        n_head=4,
        n_positions=CONTEXT_LENGTH,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    pretrain_and_save(name, GPT2LMHeadModel(config), tokenizer, documents, steps, batch_size=batch_size, window=window)


def build_arithmetic_tiny() -> None:
    """``models/gpt2-arith-tiny``: the verifiable-rewards lab's policy, pretrained on arithmetic stories and
    worksheets (``make_arithmetic_sample.py``), with digits as tokens of their own. Its tokenizer also reads the
    lab's question-and-answer layout, so that the words of the format are whole tokens."""
    documents = arithmetic_documents()
    train = ASSETS / "datasets" / "gsm8k" / "main" / "train.jsonl"
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    # the layout of `course_utils.labs.verifiable_rewards.question_prompt`
    layout = [f"Question: {row['question']}\nAnswer: {row['answer']}" for row in rows]
    tokenizer = gpt2_tokenizer([*documents, *layout], vocab_size=512, digits_apart=True)
    build_gpt2_tiny("gpt2-arith-tiny", documents, steps=3000, tokenizer=tokenizer, batch_size=32, window=64, width=64)


def review_fragments(rows: Sequence[dict], seed: int = SEED) -> list[tuple[str, int]]:
    """A random word prefix (5 to 25 words) of each review, with the review's label.

    PPO scores short texts (a query and a response of a few tokens); these teach the classifier to score such
    fragments, and to stay near 0 when a fragment says nothing about sentiment yet.
    """
    rng = random.Random(seed)
    fragments = []
    for row in rows:
        words = row["text"].split()
        fragments.append((" ".join(words[: rng.randint(5, min(25, len(words)))]), row["label"]))
    return fragments


def build_sentiment_classifier(rows: Sequence[dict], steps: int = 800, batch_size: int = 32) -> None:
    """A DistilBERT-style tiny sentiment classifier (labels NEGATIVE / POSITIVE, as lvwerra/distilbert-imdb)."""
    torch.manual_seed(SEED)
    examples = [(row["text"], row["label"]) for row in rows] + review_fragments(rows) + opinion_sentences()
    tokenizer = bert_tokenizer([text for text, _ in examples])
    config = DistilBertConfig(
        vocab_size=len(tokenizer),
        dim=64,
        n_layers=2,
        n_heads=2,
        hidden_dim=256,
        max_position_embeddings=CONTEXT_LENGTH,
        dropout=0.0,
        attention_dropout=0.0,
        seq_classif_dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    model = DistilBertForSequenceClassification(config)
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    model.train()
    losses = []
    for _ in range(steps):
        picked = [examples[i] for i in torch.randint(0, len(examples), (batch_size,), generator=generator).tolist()]
        batch = tokenizer([text for text, _ in picked], padding=True, return_tensors="pt")
        loss = model(**batch, labels=torch.tensor([label for _, label in picked])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    print(f"distilbert-imdb-tiny: {model.num_parameters():,} parameters, loss {losses[0]:.2f} -> {losses[-1]:.2f}")
    save_model("distilbert-imdb-tiny", model, tokenizer)


def main() -> None:
    torch.set_num_threads(1)  # one thread: the same floating-point sums, hence the same weights, on every run
    write_code_alpaca_sample()
    rows = training_rows()
    documents = plain_documents(rows)
    build_opt_tiny(opt_tokenizer(documents), documents)
    write_preference_sample()
    build_gpt2_tiny("gpt2-tiny", preference_documents())
    write_review_sample()
    reviews = [json.loads(line) for line in (ASSETS / "datasets" / "imdb" / "train.jsonl").read_text().splitlines()]
    build_gpt2_tiny("gpt2-imdb-tiny", [row["text"] for row in reviews])
    build_sentiment_classifier(reviews)
    write_arithmetic_sample()
    build_arithmetic_tiny()
    sizes = {str(p.relative_to(ASSETS)): p.stat().st_size for p in sorted(ASSETS.rglob("*")) if p.is_file()}
    print(json.dumps(sizes, indent=1))
    print(f"total {sum(sizes.values()) / 1e6:.2f} MB in {ASSETS}")


if __name__ == "__main__":
    main()
