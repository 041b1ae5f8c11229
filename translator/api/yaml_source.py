"""Read a pipeline file into plain data while remembering where every value came from.

Validation must name the line of every problem (`stages[1].steps[0].runScriptConfig.image:
required (line 12)`), and Rancher's Go decoder turned any scalar into a string where the
model wanted one (`PLUGIN_DEBUG: true` is the string "true", `version: 1.10` is "1.10").
PyYAML's composer keeps both facts on its nodes, so the file is composed, not loaded, and
the node tree is turned into data here with a side table: path -> (line, column, raw text).

Paths are tuples of keys and list indices: ``("stages", 1, "steps", 0, "env")``.
Duplicate keys are kept Go-style (the later one wins) and reported, since Rancher's
decoder accepted them silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """Where a value stands in its file, 1-based as editors count."""

    line: int
    column: int
    raw: str | None = None  # the scalar's text as written, for string coercion


@dataclass
class SourceDocument:
    """A parsed YAML document and the positions of everything in it."""

    data: Any
    positions: dict[Path, Position] = field(default_factory=dict)
    duplicates: list[tuple[Path, Position]] = field(default_factory=list)
    documents: int = 1

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for cut in range(len(path), -1, -1):
            pos = self.positions.get(path[:cut])
            if pos is not None:
                return pos.line
        return None

    def raw_text(self, path: Path) -> str | None:
        pos = self.positions.get(path)
        return pos.raw if pos else None


class YamlSyntaxError(Exception):
    """The file is not YAML; carries the line and column of the first problem."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def format_path(path: Path) -> str:
    """``("stages", 1, "steps", 0, "env")`` -> ``stages[1].steps[0].env``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def parse(text: str) -> SourceDocument:
    """Parse the first YAML document of `text`; raise YamlSyntaxError with line and column."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        raise YamlSyntaxError(f"character U+{int(exc.character):04X} is not allowed in YAML", None, None) from None
    try:
        nodes: list[yaml.Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        if mark is None:
            raise YamlSyntaxError(problem, None, None) from None
        raise YamlSyntaxError(problem, mark.line + 1, mark.column + 1) from None
    except yaml.reader.ReaderError as exc:  # control characters further in
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise YamlSyntaxError(f"character U+{int(exc.character):04X} is not allowed in YAML", line, column) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc).splitlines()[0], None, None) from None
    finally:
        loader.dispose()
    if not nodes:
        return SourceDocument(data=None, documents=0)
    doc = SourceDocument(data=None, documents=len(nodes))
    try:
        doc.data = _build(nodes[0], (), doc, loader)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise YamlSyntaxError(
            exc.problem or "cannot read value", mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
        ) from None
    except RecursionError:
        raise YamlSyntaxError("nesting too deep (aliases that refer to themselves?)", None, None) from None
    return doc


def _build(node: yaml.Node, path: Path, doc: SourceDocument, loader: yaml.SafeLoader) -> Any:
    raw = node.value if isinstance(node, yaml.ScalarNode) else None
    doc.positions[path] = Position(node.start_mark.line + 1, node.start_mark.column + 1, raw)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<:` merge keys the way PyYAML does
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                )
            key = key if isinstance(key, str) else _scalar_text(key_node, key)
            child: Path = (*path, key)
            if key in out:
                doc.duplicates.append(
                    (child, Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                )
            out[key] = _build(value_node, child, doc, loader)
            # the key's own line is the better pointer for "this key is unknown"
            value_pos = doc.positions[child]
            doc.positions[child] = Position(
                key_node.start_mark.line + 1, key_node.start_mark.column + 1, value_pos.raw
            )
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _scalar_text(node: yaml.Node, value: Any) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return str(value)
