"""Remediation node: build the state vector, ask the policy, record the decision with its justification.

The policy is asked every day: continuing is a decision too. The state vector comes from
decision.observation.build_observation, the one function the RL environment also uses.
"""
from __future__ import annotations

from decision.actions import ACTION_COSTS, Action
from decision.observation import N_POLICY_FEATURES, policy_observation
from decision.policy import Decision, RulesPolicy
from nodes.base import graph_step


def findings_for_policy(state: dict) -> dict:
    return {"day": state["day"], "incident": state["alerts"].get("incident"), "recent_actions": state["memory"]["actions"],
            "performance": state["performance"], "drift": state["drift"]}


def observe(state: dict, mask: list[int]) -> list[float]:
    return policy_observation(state["day"], state["days"], state["performance"], state["drift"], state["memory"],
                              state["baseline"], state["alerts"].get("incident"), mask)


def _context_line(state: dict) -> str:
    perf, drift, incident = state["performance"], state["drift"], state["alerts"].get("incident")
    acc = perf.get("measured_accuracy")
    parts = [f"accuracy {acc:.3f}" + (" (estimated)" if perf.get("accuracy_estimated") else "") if acc is not None else "accuracy unknown",
             f"drift {drift.get('drift_score', 0):.2f} ({drift.get('severity', 'low')})"]
    if incident:
        parts.append(f"incident since day {incident['opened_day']}: {incident['root_cause']} ({incident['severity']})")
    return "; ".join(parts)


def _result(state: dict, decision: Decision, policy: str, observation: list[float], mask: list[int]) -> dict:
    # What the policy gave each action (a deterministic policy puts everything on its choice), for the decision log.
    probabilities = decision.probabilities or [float(a == decision.action) for a in Action]
    return {"action": decision.action.label, "action_index": int(decision.action), "policy": policy,
            "justification": f"{decision.justification} [{_context_line(state)}]",
            "observation": [round(float(x), 6) for x in observation], "mask": [int(m) for m in mask],
            "probabilities": [round(float(p), 6) for p in probabilities]}


def _record(state: dict, context, result: dict) -> None:
    cost = ACTION_COSTS[Action(result["action_index"])]
    context.stores.incidents.store_remediation_action(
        (state["alerts"].get("incident") or {}).get("id"), result["action"], {"status": "decided"},
        run_id=state["run_id"], model_id=state["model"], day=state["day"], justification=result["justification"],
        policy=result["policy"], cost=cost.dollars, downtime_hours=cost.downtime_hours)


@graph_step("remediation")
def remediation(state: dict, context) -> dict:
    """Ask the configured policy for today's remediation."""
    mask = context.action_mask(state)
    observation = observe(state, mask)
    decision = context.policy.decide(observation, mask, findings_for_policy(state))
    if not mask[decision.action]:
        raise ValueError(f"policy {context.policy.name} chose impossible action {decision.action.label}")
    result = _result(state, decision, context.policy.name, observation, mask)
    _record(state, context, result)
    return {"remediation": result}


@graph_step("remediation_fallback", inject_faults=False)
def remediation_fallback(state: dict, context) -> dict:
    """The policy failed: fall back to the rule-based playbook, and to continuing if even that fails."""
    mask = context.action_mask(state)
    try:
        observation = observe(state, mask)
        decision, policy = RulesPolicy().decide(observation, mask, findings_for_policy(state)), "rules (fallback)"
    except Exception as exc:  # the playbook itself could not run: the safe default is to change nothing
        observation = [0.0] * N_POLICY_FEATURES
        decision, policy = Decision(Action.CONTINUE, f"no policy could decide ({type(exc).__name__}): continue"), "continue (fallback)"
    if not mask[decision.action]:
        decision = Decision(Action.CONTINUE, f"fallback choice {decision.action.label} impossible today: continue")
    result = _result(state, decision, policy, observation, mask)
    _record(state, context, result)
    return {"remediation": result}
