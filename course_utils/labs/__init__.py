"""Each lab's own logic, one module per subject: Lab 1 `instruction.py` (instruction tuning), Lab 2 `reward.py`
(reward modeling), Lab 3 `policy_gradient.py` (Part A) and `sentiment_control.py` (Part C; PPO itself is the engine
in `course_utils.ppo`), Lab 4 `dpo.py`, Lab 5 `verifiable_rewards.py` (GRPO itself is the engine in
`course_utils.grpo`). The capstone, Lab 6, is a room of its own: `course_utils.capstone`."""
