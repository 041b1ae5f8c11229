"""Read a pipeline file into plain data while remembering where every value came from.

Validation must name the line of every problem (`stages[1].steps[0].runScriptConfig.image:
required (line 12)`), and Rancher's Go decoder turned any scalar into a string where the
model wanted one (`PLUGIN_DEBUG: true` is the string "true", `version: 1.10` is "1.10").
So the file is composed into nodes, which keep both facts, and the nodes are turned into data
here with a side table: path -> (line, column, raw text).

YAML as Rancher read it: Rancher parsed with go-yaml v2, a line-for-line port of libyaml
(`scannerc.go` is libyaml's `scanner.c`, down to `yaml_parser_scan_to_next_token`'s rule
that a tab may follow `:`). PyYAML's pure-Python scanner refuses tabs libyaml accepts
(`image:<TAB>alpine`, a tab inside a plain scalar), so events come from libyaml through
PyYAML's C binding (`CSafeLoader`) when it is there, and from the Python scanner otherwise.

Hostile input: the composer below is ours, iterative, and counts as it goes — nodes, nesting,
alias uses and the nodes aliases expand to, and the wall-clock budget when a clock is given —
so an alias bomb, 500,000 nested brackets or a parse that never ends is one `InputRefused`
with its line, not a RecursionError or gigabytes. Like go-yaml's Unmarshal only the first
document is read; the others are counted.

Paths are tuples of keys and list indices: ``("stages", 1, "steps", 0, "env")``.
Duplicate keys are kept Go-style (the later one wins) and reported, since Rancher's
decoder accepted them silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from translator.api.bounded import PIPELINE_FILE, Clock, InputRefused, ReadLimits, too_large

Path = tuple[str | int, ...]
_STR = "tag:yaml.org,2002:str"

_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LIBYAML = _LOADER is not yaml.SafeLoader


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


class YamlSyntaxError(InputRefused):
    """The file is not YAML, or is past a limit; carries the line and column of the problem."""

    def __init__(self, message: str, line: int | None, column: int | None, *, limit: bool = False) -> None:
        super().__init__(message, line=line, column=column)
        self.limit = limit  # past a ReadLimits bound, rather than not YAML


def _limit(message: str, line: int | None, column: int | None = None) -> YamlSyntaxError:
    return YamlSyntaxError(message, line, column, limit=True)


def format_path(path: Path) -> str:
    """``("stages", 1, "steps", 0, "env")`` -> ``stages[1].steps[0].env``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def parse(text: str, *, limits: ReadLimits = PIPELINE_FILE, clock: Clock | None = None) -> SourceDocument:
    """Parse the first YAML document of `text` within `limits`; YamlSyntaxError says what is wrong."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise YamlSyntaxError("not UTF-8 text (a lone surrogate)", _line_at(text, exc.start), None) from None
    if size > limits.max_bytes:
        raise _limit(too_large("", limits.max_bytes, size=size).message, None)
    loader = _LOADER(text)
    try:
        composer = _Composer(loader, limits, clock)
        root = composer.compose()
        doc = SourceDocument(data=None, documents=composer.documents)
        if root is None:
            doc.documents = 0
            return doc
        doc.data = _Builder(loader, doc, limits).build(root, (), 1)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        if "maximum nesting depth" in problem:  # libyaml's own bound (1,000) met before ours
            raise _limit(f"nested deeper than {limits.max_depth} levels", mark.line + 1 if mark else None) from None
        if mark is None:
            raise YamlSyntaxError(problem, None, None) from None
        raise YamlSyntaxError(problem, mark.line + 1, mark.column + 1) from None
    except yaml.reader.ReaderError as exc:  # control characters
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise YamlSyntaxError(f"character U+{int(exc.character):04X} is not allowed in YAML",
                              _line_at(text, exc.position), column) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc).splitlines()[0], None, None) from None
    except RecursionError:  # merge keys chained past Python's stack: a limit like the others
        raise _limit(f"merge keys (`<<`) nested deeper than {limits.max_depth} levels", None, None) from None
    finally:
        loader.dispose()


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


class _Composer:
    """libyaml's events -> PyYAML nodes, with an explicit stack and the limits counted."""

    CLOCK_EVERY = 512  # events between looks at the clock

    def __init__(self, loader: Any, limits: ReadLimits, clock: Clock | None) -> None:
        self.loader, self.limits, self.clock = loader, limits, clock
        self.deadline = clock() + limits.max_seconds if clock else None
        self.documents = 0
        self.events = self.nodes = self.aliases = self.alias_nodes = 0
        self.anchors: dict[str, yaml.Node] = {}
        self.sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded height)
        self.open: set[int] = set()  # collections still being composed

    def _event(self) -> Any:
        self.events += 1
        if self.deadline is not None and self.clock and self.events % self.CLOCK_EVERY == 0 \
                and self.clock() > self.deadline:
            raise _limit(f"not parsed within {self.limits.max_seconds:g} s", None, None)
        return self.loader.get_event()

    def compose(self) -> yaml.Node | None:
        self._event()  # StreamStart
        root = None
        while not self.loader.check_event(yaml.StreamEndEvent):
            self._event()  # DocumentStart
            self.documents += 1
            if self.documents == 1:
                root = self._document()
            else:
                try:
                    self._skip_document()
                except yaml.YAMLError:  # go-yaml's Unmarshal never read past the first document
                    break
            self._event()  # DocumentEnd
        return root

    def _skip_document(self) -> None:
        depth = 0
        while True:
            event = self._event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if depth == 0 and self.loader.check_event(yaml.DocumentEndEvent):
                return

    def _count(self, mark: Any) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise _limit(f"more than {self.limits.max_nodes:,} values", mark.line + 1, None)

    def _document(self) -> yaml.Node:
        # each frame: [node, its value list] and, in a mapping, the key waiting for its value
        stack: list[list[Any]] = []
        resolve = self.loader.resolve
        while True:
            event = self._event()
            start: Any = event.start_mark  # libyaml's marks have line and column, as PyYAML's do
            node: yaml.Node | None = None
            if isinstance(event, yaml.AliasEvent):
                node = self._alias(event, len(stack))
            elif isinstance(event, yaml.ScalarEvent):
                self._count(start)
                tag = event.tag if event.tag not in (None, "!") else resolve(yaml.ScalarNode, event.value,
                                                                               event.implicit)
                node = yaml.ScalarNode(tag, event.value, start, event.end_mark, style=event.style)  # type: ignore[arg-type]
                self._anchor(event, node)
                self.sizes[id(node)] = (1, 0)
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                self._count(start)
                if len(stack) + 1 > self.limits.max_depth:
                    raise _limit(f"nested deeper than {self.limits.max_depth} levels", start.line + 1, start.column + 1)
                is_seq = isinstance(event, yaml.SequenceStartEvent)
                kind = yaml.SequenceNode if is_seq else yaml.MappingNode
                tag = event.tag if event.tag not in (None, "!") else resolve(kind, None, event.implicit)
                new: yaml.Node = kind(tag, [], start, None, flow_style=event.flow_style)
                self._anchor(event, new)
                self.open.add(id(new))
                stack.append([new, new.value])
                continue
            elif isinstance(event, yaml.CollectionEndEvent):
                done = stack.pop()[0]
                done.end_mark = event.end_mark
                self.open.discard(id(done))
                node = done
                children = done.value if isinstance(done, yaml.SequenceNode) else \
                    [n for pair in done.value for n in pair]
                measured = [self.sizes[id(c)] for c in children]
                self.sizes[id(done)] = (1 + sum(m[0] for m in measured), 1 + max((m[1] for m in measured), default=0))
            if node is None:
                continue
            if not stack:
                return node
            frame = stack[-1]
            if isinstance(frame[0], yaml.MappingNode):
                if len(frame) == 2:
                    frame.append(node)  # a key, waiting for its value
                else:
                    frame[1].append((frame.pop(), node))
            else:
                frame[1].append(node)

    def _anchor(self, event: Any, node: yaml.Node) -> None:
        if event.anchor is not None:
            self.anchors[event.anchor] = node

    def _alias(self, event: Any, depth: int) -> yaml.Node:
        line = event.start_mark.line + 1
        target = self.anchors.get(event.anchor)
        if target is None:
            raise YamlSyntaxError(f"alias *{event.anchor} refers to no anchor", line, event.start_mark.column + 1)
        if id(target) in self.open:
            raise YamlSyntaxError(f"alias *{event.anchor} refers to the value that contains it", line,
                                  event.start_mark.column + 1)
        self.aliases += 1
        if self.aliases > self.limits.max_aliases:
            raise _limit(f"more than {self.limits.max_aliases:,} aliases", line, None)
        size, height = self.sizes[id(target)]
        self.alias_nodes += size
        if self.alias_nodes > self.limits.max_alias_nodes:
            raise _limit(f"aliases expand past {self.limits.max_alias_nodes:,} nodes", line, None)
        if depth + height > self.limits.max_depth:
            raise _limit(f"nested deeper than {self.limits.max_depth} levels once aliases are expanded",
                                  line, None)
        return target


class _Builder:
    """Nodes -> plain data and the position table; aliases were bounded by the composer."""

    def __init__(self, loader: Any, doc: SourceDocument, limits: ReadLimits) -> None:
        self.loader, self.doc, self.limits = loader, doc, limits

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        doc, loader = self.doc, self.loader
        raw = node.value if isinstance(node, yaml.ScalarNode) else None
        doc.positions[path] = Position(node.start_mark.line + 1, node.start_mark.column + 1, raw)
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)  # resolves `<<:` merge keys the way PyYAML does
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlSyntaxError("a mapping key must be a plain value", key_node.start_mark.line + 1,
                                          key_node.start_mark.column + 1)
                key = self._scalar(key_node)
                key = key if isinstance(key, str) else str(key_node.value)
                child: Path = (*path, key)
                if key in out:
                    doc.duplicates.append(
                        (child, Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                    )
                out[key] = self.build(value_node, child, depth + 1)
                # the key's own line is the better pointer for "this key is unknown"
                value_pos = doc.positions[child]
                doc.positions[child] = Position(
                    key_node.start_mark.line + 1, key_node.start_mark.column + 1, value_pos.raw
                )
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR:
            return node.value  # what construct_yaml_str returns, without its machinery
        if isinstance(node, yaml.ScalarNode) and node.tag not in self.loader.yaml_constructors:
            return node.value  # `!local` tags, YAML 1.1's `=`: go-yaml kept the text
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark or node.start_mark
            raise YamlSyntaxError(exc.problem or "cannot read value", mark.line + 1, mark.column + 1) from None
        except (ValueError, OverflowError):  # e.g. a timestamp PyYAML resolves but cannot build
            mark = node.start_mark
            shown = repr(node.value[:40]) + ("..." if len(node.value) > 40 else "")
            raise YamlSyntaxError(f"cannot read {shown} ({len(node.value):,} characters)" if len(node.value) > 40
                                  else f"cannot read {shown}", mark.line + 1, mark.column + 1) from None
