"""Remediation policies: the state vector, the reward, hand-written policies, and the learned one."""
