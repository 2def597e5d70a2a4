"""The shape of a workflow: its steps' keys and `after` edges, checked before anything is
stored (unique keys, known references, no cycle), and the steps below a step.

Pure functions of the submitted steps; the problems are named as the API names fields,
`jobs.N.key` and `jobs.N.after`."""

from __future__ import annotations

from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter
from typing import Any

MAX_KEY_LENGTH = 64


def graph_problems(steps: list[dict[str, Any]]) -> dict[str, list[str]]:
    """What is wrong with the steps' keys and edges, by field; empty if nothing is."""
    problems: dict[str, list[str]] = {}
    index_of: dict[str, int] = {}
    for index, step in enumerate(steps):
        key = step.get("key")
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            problems[f"jobs.{index}.key"] = [f"must be text of 1 to {MAX_KEY_LENGTH} characters"]
        elif key in index_of:
            problems[f"jobs.{index}.key"] = [
                f"'{key}' is already the key of jobs.{index_of[key]}; keys must be unique"
            ]
        else:
            index_of[key] = index
    for index, step in enumerate(steps):
        after = step.get("after") or []
        if not isinstance(after, list) or not all(isinstance(k, str) for k in after):
            problems[f"jobs.{index}.after"] = ["must be a list of step keys"]
            continue
        unknown = [k for k in after if k not in index_of]
        if unknown:
            problems[f"jobs.{index}.after"] = [
                f"no step has the key {', '.join(map(repr, unknown))}"
            ]
        elif step.get("key") in after:
            problems[f"jobs.{index}.after"] = ["a step cannot be after itself"]
    if not problems:
        cycle = find_cycle({s["key"]: s.get("after") or [] for s in steps})
        if cycle:
            problems[f"jobs.{index_of[cycle[-1]]}.after"] = [
                f"makes a cycle: {' after '.join(map(repr, reversed(cycle)))}; "
                "a workflow must be acyclic"
            ]
    return problems


def find_cycle(parents: dict[str, list[str]]) -> list[str] | None:
    """A cycle among the steps (each key with the keys it is after), or None."""
    try:
        TopologicalSorter(parents).prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return None


def children_of(edges: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Each key's children, from (parent, child) edges."""
    children: dict[str, list[str]] = {}
    for parent, child in edges:
        children.setdefault(parent, []).append(child)
    return children


def descendants(edges: Iterable[tuple[str, str]], key: str) -> set[str]:
    """Every step below `key`, directly or not."""
    children = children_of(edges)
    seen: set[str] = set()
    todo = list(children.get(key, []))
    while todo:
        step = todo.pop()
        if step not in seen:
            seen.add(step)
            todo.extend(children.get(step, []))
    return seen
