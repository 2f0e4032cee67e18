"""RLHF on a CPU: preferences, a reward model, policy optimisation (REINFORCE with a KL penalty) and DPO.

See chapter 16 of the course and ``micrograd-plus gpt pairs | reward | rl | dpo``.
"""
