"""Lab 1 logic: supervised instruction tuning with the loss on the response tokens only.

A training text is a prompt followed by the response we want the model to learn to write::

    ### Instruction:
    Reverse the given string.

    ### Input:
    hello

    ### Response:
    olleh</s>

The model should learn to *write responses*, not to *write instructions*, so every token up to and including the
response template ``### Response:\\n`` gets the label -100, which PyTorch's cross-entropy ignores.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from ..library_output import quiet_loading
from ..notebook.checks import load_weights
from ..runtime.loaders import first_rows, load_code_alpaca, load_sft_model
from ..runtime.profiles import Profile

IGNORE_INDEX = -100
RESPONSE_TEMPLATE = "### Response:\n"

# The lab's template as a chat template: a Jinja program that writes the prompt text from a list of messages, kept in
# the tokenizer (`tokenizer.chat_template`) as today's chat models keep theirs. A row's optional input is a message
# of its own, with the role "input".
ALPACA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '### Instruction:\n' + message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'input' %}{{ '### Input:\n' + message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '### Response:\n' + message['content'] + eos_token }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Response:\n' }}{% endif %}"
)

LabelsFn = Callable[[torch.Tensor, torch.Tensor, Sequence[int]], torch.Tensor]


def response_template_ids(
    tokenizer: PreTrainedTokenizerBase, template: str = RESPONSE_TEMPLATE, context: str = "\n"
) -> list[int]:
    """The token ids the template has *inside a training text*, which is not always what it has alone.

    Alone, a tokenizer may add a beginning-of-sequence token (OPT adds ``</s>``), and a SentencePiece tokenizer
    adds a word-start marker; in a text the template follows a newline. So we tokenize ``context + template``
    without special tokens and drop the tokens of the context.
    """
    context_ids = tokenizer(context, add_special_tokens=False)["input_ids"]
    ids = tokenizer(context + template, add_special_tokens=False)["input_ids"]
    if ids[: len(context_ids)] != context_ids:
        raise ValueError(
            f"The template {template!r} merges with the {context!r} before it when tokenized, so it has no token "
            "ids of its own; start the template on a token boundary (for example with '###')."
        )
    return ids[len(context_ids) :]


def find_subsequence(sequence: Sequence[int], pattern: Sequence[int]) -> int:
    """Index where ``pattern`` first starts in ``sequence``, or -1 when it does not occur."""
    width = len(pattern)
    for start in range(len(sequence) - width + 1):
        if list(sequence[start : start + width]) == list(pattern):
            return start
    return -1


def completion_only_labels(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, template_ids: Sequence[int]
) -> torch.Tensor:
    """Labels for a padded batch: the input ids, with -100 up to and including the template, and on padding.

    A row without the template (often: truncated before the response) gets -100 everywhere, with a warning,
    because training on it would teach the model to write instructions.
    """
    labels = input_ids.clone()
    labels[attention_mask == 0] = IGNORE_INDEX
    for row, ids in enumerate(input_ids.tolist()):
        start = find_subsequence(ids, template_ids)
        if start == -1:
            message = f"Row {row} has no response template {list(template_ids)}; it is left out of the loss."
            warnings.warn(message, stacklevel=2)
            labels[row] = IGNORE_INDEX
        else:
            labels[row, : start + len(template_ids)] = IGNORE_INDEX
    return labels


@dataclass
class CompletionOnlyCollator:
    """Turns rows with a formatted ``text`` into a padded batch whose labels cover the response only.

    ``labels_fn`` does the masking; it defaults to ours, and Lab 1 passes the learner's own.
    """

    tokenizer: PreTrainedTokenizerBase
    labels_fn: LabelsFn = completion_only_labels
    response_template: str = RESPONSE_TEMPLATE
    max_length: int = 512
    text_field: str = "text"
    template_ids: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.template_ids = response_template_ids(self.tokenizer, self.response_template)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        # The end-of-sequence token is part of the response: it is how the model learns to stop.
        texts = [row[self.text_field] + self.tokenizer.eos_token for row in rows]
        batch = self.tokenizer(
            texts,
            padding=True,
            padding_side="right",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        labels = self.labels_fn(batch["input_ids"], batch["attention_mask"], self.template_ids)
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "labels": labels}


def to_messages(row: dict[str, str], with_response: bool = False) -> list[dict[str, str]]:
    """A CodeAlpaca row as chat messages for `ALPACA_CHAT_TEMPLATE` (the input only when it is not empty)."""
    messages = [{"role": "user", "content": row["instruction"]}]
    if row["input"]:
        messages.append({"role": "input", "content": row["input"]})
    if with_response:
        messages.append({"role": "assistant", "content": row["output"]})
    return messages


def unpadded_labels(batch: dict[str, torch.Tensor]) -> list[list[int]]:
    """The labels of each row without its padding, to compare with labels made one row at a time."""
    return [labels[mask.bool()].tolist() for labels, mask in zip(batch["labels"], batch["attention_mask"], strict=True)]


@torch.no_grad()
def completion_loss(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    completions: Sequence[str],
    batch_size: int = 16,
) -> float:
    """The mean cross-entropy, in nats per token, of each completion (and its end-of-sequence token) after its prompt.

    What the completion-only loss measures, computed here from the texts alone (the prompt tokenized on its own marks
    where the completion starts, as TRL marks it), so that a held-out loss does not depend on any collator.
    """
    total, tokens = 0.0, 0
    for start in range(0, len(prompts), batch_size):
        chunk = list(zip(prompts[start : start + batch_size], completions[start : start + batch_size], strict=True))
        rows = []
        for prompt, completion in chunk:
            prompt_length = len(tokenizer(prompt)["input_ids"])
            ids = tokenizer(prompt + completion)["input_ids"] + [tokenizer.eos_token_id]
            rows.append((ids, [IGNORE_INDEX] * prompt_length + ids[prompt_length:]))
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids, _ in rows])
        labels = torch.tensor([labels + [IGNORE_INDEX] * (width - len(labels)) for _, labels in rows])
        lengths = torch.tensor([len(ids) for ids, _ in rows])
        attention_mask = (torch.arange(width)[None, :] < lengths[:, None]).long()  # (rows, width): 0 on padding
        device = next(model.parameters()).device
        logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        # the logits at position t predict token t + 1
        total += torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten().to(device), reduction="sum"
        ).item()
        tokens += int((labels[:, 1:] != IGNORE_INDEX).sum())
    return total / tokens


def held_out_loss(profile: Profile, weights: Mapping[str, torch.Tensor] | None = None, rows: int = 40) -> float:
    """Lab 1's measure of tuning: `completion_loss` on the answers to the first ``rows`` held-out instructions, of the
    base model, or of the base model with ``weights`` in place (``checks.model_weights`` of a tuned one)."""
    with quiet_loading():  # the lab showed the model's load report once
        model, tokenizer = load_sft_model(profile)
    if weights is not None:
        load_weights(model, weights)
    held_out = first_rows(load_code_alpaca(profile)["test"], rows)
    prompts = [
        tokenizer.apply_chat_template(
            to_messages(row), chat_template=ALPACA_CHAT_TEMPLATE, tokenize=False, add_generation_prompt=True
        )
        for row in held_out
    ]
    return completion_loss(model, tokenizer, prompts, held_out["output"])


def trl_completion_labels(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], completions: Sequence[str]
) -> list[list[int]]:
    """The labels TRL's own ``completion_only_loss`` builds for the same prompt / completion split.

    ``SFTTrainer`` tokenizes a prompt-completion dataset, appends the end-of-sequence token to each completion
    and masks the prompt; we read the ``labels`` column it prepares (nothing is trained).
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from ..runtime.training import reference_trainer

    rows = Dataset.from_dict({"prompt": list(prompts), "completion": list(completions)})
    options = {"completion_only_loss": True}
    with reference_trainer(
        SFTTrainer, SFTConfig, options, model=model, train_dataset=rows, processing_class=tokenizer
    ) as trainer:
        return [list(labels) for labels in trainer.train_dataset["labels"]]
