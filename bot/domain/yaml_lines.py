"""Where a field sits in a YAML document: the line to name in an error message; and the YAML
loader for the config and playbooks, which refuses duplicate keys (PyYAML keeps the last one
silently, so a second `services:` would drop the first list)."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.error import Mark


def line_of(raw: str, path: tuple[Any, ...]) -> int | None:
    """Best-effort 1-based line of a field path (mapping keys, sequence indexes) inside the
    YAML text: the line of the deepest key (or item) found; None when the text does not
    parse or the path's first step is missing."""
    try:
        node = yaml.compose(raw)
    except yaml.YAMLError:
        return None
    line = None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == key), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice; problem_mark is the second one, `line` its 1-based
    line."""

    def __init__(self, problem: str, mark: Mark) -> None:
        super().__init__(None, None, problem, mark)
        self.line = mark.line + 1


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that raises DuplicateKeyError on a key repeated in one mapping. Keys a
    merge (``<<: *base``) brings in may still be overridden: only the mapping's own keys count."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader reports it itself
                    continue
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise DuplicateKeyError(
                        f"duplicate key {key!r} (first at line {first})", key_node.start_mark
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def safe_load(text: str) -> Any:
    """yaml.safe_load, refusing duplicate keys (DuplicateKeyError, a yaml.MarkedYAMLError)."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
