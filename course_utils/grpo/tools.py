"""A calculator the policy can call while it writes, as GSM8K's own solutions call one: ``<<48/2=24>>``.

The policy writes ``<<``, an arithmetic expression and ``=``; generation pauses, the environment computes the value
with a safe evaluator (never Python's ``eval``: the expression is the model's text, and a policy under RL writes
whatever earns reward), appends it and ``>>``, and generation goes on. The tokens the tool wrote are not the policy's
choices, so the loss must not read them: `CalculatorSampler` returns a loss mask with a 0 on each of them (TRL's
``tool_mask``).

This is what TRL's ``TextEnvironments`` did before TRL 1.x replaced them with ``GRPOTrainer(tools=...)``, where a chat
model calls a Python function through its chat template; `calculator` is that function.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, StoppingCriteria, StoppingCriteriaList

CALL_OPEN, CALL_RESULT, CALL_CLOSE = "<<", "=", ">>"
# A call waiting for its result: "<<", an expression with no bracket of the call syntax in it, then "=" at the end.
PENDING_CALL = re.compile(r"<<([^<>=]*)=$")
MAX_EXPRESSION_CHARS = 64
MAX_MAGNITUDE = 10**12  # larger operands or results are refused: no computation can blow up

_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def calculate(expression: str) -> str:
    """The value of an arithmetic expression of numbers, ``+ - * /``, unary signs and parentheses, as text: rounded
    to 6 decimals, a whole value written as an integer (``"24"``, ``"2.5"``). Raises ``ValueError`` on anything else
    (names, calls, powers, attributes, too long, too large, division by zero).

    >>> calculate("48 / 2")
    '24'
    >>> calculate("(3 + 4) * -2")
    '-14'
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"An expression of at most {MAX_EXPRESSION_CHARS} characters, not {len(expression)}.")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"Not an arithmetic expression: {expression!r}.") from error
    value = _evaluate(tree.body)
    if isinstance(value, float):
        value = round(value, 6)  # first: 38.3 * 730 = 27958.999999999996 is the whole number 27959
        value = int(value) if value.is_integer() else value
    return str(value)


def _evaluate(node: ast.AST) -> int | float:
    """The value of one node of the parsed expression: only numbers and the four operations are walked."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _evaluate(node.operand)
        value = -operand if isinstance(node.op, ast.USub) else operand
    elif isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ValueError("Division by zero.")
        value = _OPERATORS[type(node.op)](left, right)
    else:
        raise ValueError(f"Only numbers, + - * / and parentheses are allowed, not {type(node).__name__}.")
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"Numbers beyond {MAX_MAGNITUDE:.0e} are refused.")
    return value


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression and return its value.

    Args:
        expression: numbers combined with +, -, *, / and parentheses, for example "48 / 2".

    Returns:
        The value, or a line saying why the expression could not be computed.
    """
    try:
        return calculate(expression)
    except ValueError as error:
        return f"error: {error}"


def tool_output(text: str, tool: Callable[[str], str] = calculator) -> str | None:
    """What the calculator appends when ``text`` ends with a call waiting for its result (``"... <<3*4="`` ->
    ``"12>>"``); ``None`` when it does not. ``tool`` computes the expression's value as text."""
    call = PENDING_CALL.search(text)
    if call is None:
        return None
    return tool(call.group(1)) + CALL_CLOSE


class _StopAtCall(StoppingCriteria):
    """Stops a row of ``generate`` as soon as its answer (what it held before, then the new tokens) ends with a
    pending call."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, before: list[str], prompt_width: int) -> None:
        self.tokenizer, self.before, self.prompt_width = tokenizer, before, prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        new = self.tokenizer.batch_decode(input_ids[:, self.prompt_width :])
        pending = [PENDING_CALL.search(old + text) is not None for old, text in zip(self.before, new, strict=True)]
        return torch.tensor(pending, device=input_ids.device)


@dataclass
class CalculatorSampler:
    """A `course_utils.grpo.trainer.Sampler` whose answers may call the calculator: sample, pause each answer at
    a call, append the tool's output, and go on, until each answer ends or reaches ``max_new_tokens`` (its own
    tokens and the tool's together). Returns each answer's token ids and its loss mask (0 on the tool's tokens).

    ``use_tool=False`` samples the same way but never answers a call: the policy must write the value itself.
    ``tool`` is the calculator: an expression in, its value (or a line saying why there is none) out.
    """

    max_new_tokens: int
    temperature: float = 1.0
    use_tool: bool = True
    do_sample: bool = True
    tool: Callable[[str], str] = calculator

    @torch.no_grad()
    def __call__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, queries: Sequence[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        responses = [torch.empty(0, dtype=torch.long) for _ in queries]
        masks = [torch.empty(0) for _ in queries]

        def answer_pending_call(i: int) -> None:
            """Append the tool's output, masked out, when query and answer so far end with a call."""
            text = tokenizer.decode(torch.cat([queries[i], responses[i]]))
            output = tool_output(text, self.tool) if self.use_tool else None
            if output is not None:
                tool_tokens = torch.tensor(tokenizer.encode(output, add_special_tokens=False), dtype=torch.long)
                tool_tokens = tool_tokens[: self.max_new_tokens - len(responses[i])]
                responses[i] = torch.cat([responses[i], tool_tokens])
                masks[i] = torch.cat([masks[i], torch.zeros(len(tool_tokens))])

        for i in range(len(queries)):  # a prompt may end with a call of its own (an answer begun for the policy)
            answer_pending_call(i)
        active = [i for i in range(len(queries)) if len(responses[i]) < self.max_new_tokens]
        while active:
            budget = min(self.max_new_tokens - len(responses[i]) for i in active)  # rows with more room go on later
            new = self._generate(model, tokenizer, [queries[i] for i in active], [responses[i] for i in active], budget)
            still = []
            for i, tokens in zip(active, new, strict=True):
                responses[i] = torch.cat([responses[i], tokens])
                masks[i] = torch.cat([masks[i], torch.ones(len(tokens))])
                if tokenizer.eos_token_id in tokens.tolist() or len(responses[i]) >= self.max_new_tokens:
                    continue
                answer_pending_call(i)
                if len(responses[i]) < self.max_new_tokens:
                    still.append(i)
            active = still
        return responses, masks

    def _generate(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        queries: list[torch.Tensor],
        answers: list[torch.Tensor],
        budget: int,
    ) -> list[torch.Tensor]:
        """At most ``budget`` new tokens after each query and its answer so far: up to the end-of-sequence token
        (kept) or, with the tool on, up to the ``=`` of a call."""
        rows = [
            {"input_ids": torch.cat([query, answer]).tolist()} for query, answer in zip(queries, answers, strict=True)
        ]
        batch = tokenizer.pad(rows, padding_side="left", return_tensors="pt").to(model.device)
        width = batch["input_ids"].shape[1]
        before = tokenizer.batch_decode(answers)
        stop = StoppingCriteriaList([_StopAtCall(tokenizer, before, width)]) if self.use_tool else None
        sampling = {"do_sample": True, "top_k": 0, "temperature": self.temperature} if self.do_sample else {}
        output = model.generate(
            **batch,
            max_new_tokens=budget,
            pad_token_id=tokenizer.pad_token_id,
            stopping_criteria=stop,
            **({"do_sample": False} | sampling),
        )[:, width:].cpu()
        kept = []
        for old, row in zip(before, output, strict=True):
            text, end = old, len(row)
            for position, token in enumerate(row.tolist()):
                text += tokenizer.decode([token])
                if token == tokenizer.eos_token_id or (self.use_tool and PENDING_CALL.search(text)):
                    end = position + 1
                    break
            kept.append(row[:end])
        return kept
