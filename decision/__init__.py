"""The remediation decision itself: the seven actions and what each costs (actions), what a policy sees
(observation), how a decision is scored (reward), and who decides (policy: the interface and the
hand-written policies).

It sits below every room that makes, learns or applies a decision and imports none of them (numpy only):
the remediation node, the simulated world and the RL trainers all build on the same definitions, so a
policy is trained on exactly what it is served. Learning the policy is rl/'s job, on top.
"""
