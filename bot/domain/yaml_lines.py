"""Where a field sits in a YAML document: the line to name in an error message."""

from __future__ import annotations

from typing import Any

import yaml


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
