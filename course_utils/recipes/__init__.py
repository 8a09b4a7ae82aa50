"""The labs' methods on your own data: `course train sft|reward|ppo|dpo|grpo` (EasyRLHF's `rm_train`, for every
method).

The same code the labs run, as a command: TRL's `SFTTrainer` with the completion-only loss (Lab 1), `RewardTrainer`
(Lab 2), our PPO engine against a reward model (Labs 3 and 5: `run_ppo_recipe`), `DPOTrainer` (Lab 4), our GRPO
engine with your verifier as the reward (the verifiable-rewards lab: `run_grpo_recipe`), on local
JSON-lines, JSON or Parquet files (hh-rlhf's ``.jsonl.gz`` included) or a Hub dataset, with LoRA adapters or full
fine-tuning. Data flows one way: a `RecipeConfig` (from a YAML or JSON file, then flags) -> `read_rows` (every file
checked before a model is loaded: one line naming the file and the problem) -> `method_rows` (the trainer's schema)
-> `run_recipe` (the model, the trainer, the saved model, the logged metrics and a loss plot).
"""

from .config import METHODS, RecipeConfig
from .data import DataError, method_rows, read_rows
from .grpo import run_grpo_recipe
from .ppo import run_ppo_recipe
from .run import build_trainer, run_recipe

__all__ = [
    "METHODS",
    "DataError",
    "RecipeConfig",
    "build_trainer",
    "method_rows",
    "read_rows",
    "run_grpo_recipe",
    "run_ppo_recipe",
    "run_recipe",
]
