"""Tools from Python functions: :func:`function_tool` builds the function schema from type
hints and the docstring, and :class:`FunctionTool` calls the function with the model's arguments.

As openai-agents' ``function_tool`` does: the description is the docstring's text before its
sections, each parameter's description comes from a Google (``Args:``), Sphinx (``:param x:``)
or NumPy (``Parameters`` / ``----------``) section, and a parameter is required when it has no
default. Types: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, ``Literal[...]``,
:class:`enum.Enum` subclasses, ``list[T]`` / ``Sequence[T]`` / ``tuple[T, ...]`` / ``set[T]``,
``dict[str, T]`` / ``Mapping[str, T]``, unions and ``Optional``, and ``Annotated[T, "text"]``
(the text describes the parameter). No pydantic.

    @function_tool
    async def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        \"\"\"Look up the weather.

        Args:
            city: The city to look up.
            unit: The temperature unit.
        \"\"\"

Give tools to a client with ``RealtimeClient(tools=[get_weather])`` or ``@client.tool``.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from ._aio import maybe_await

__all__ = ["FunctionTool", "ToolArgumentsError", "function_tool"]

JSON = dict[str, Any]

_SIMPLE: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_SIMPLE[type(None)] = "null"
_ARRAYS = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set)
_MAPS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class ToolArgumentsError(ValueError):
    """The model's arguments do not fit the function (missing, unknown or of the wrong kind)."""


@dataclass(frozen=True)
class FunctionTool:
    """A function the model may call: ``schema`` goes into ``session.tools``, :meth:`invoke`
    runs it. Calling the tool object calls the function itself."""

    name: str
    description: str
    parameters: JSON
    function: Callable[..., Any] = field(repr=False)

    @property
    def schema(self) -> JSON:
        """The ``session.tools`` entry: ``{"type": "function", "name", "description",
        "parameters"}``."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def bind(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the function from the model's ``arguments``; raises
        :class:`ToolArgumentsError` naming what is missing or unknown."""
        properties: Mapping[str, Any] = self.parameters.get("properties", {})
        unknown = sorted(set(arguments) - set(properties))
        if unknown:
            raise ToolArgumentsError(
                f"{self.name}: unknown argument(s) {', '.join(unknown)}; "
                f"it takes {', '.join(properties) or 'none'}"
            )
        missing = [name for name in self.parameters.get("required", ()) if name not in arguments]
        if missing:
            raise ToolArgumentsError(f"{self.name}: missing argument(s) {', '.join(missing)}")
        hints = _hints(self.function)
        kwargs: dict[str, Any] = {}
        for name, value in arguments.items():
            kwargs[name] = _convert(self.name, name, hints.get(name, Any), value)
        return kwargs

    async def invoke(self, arguments: Mapping[str, Any]) -> Any:
        """Call the function with the model's arguments (awaited when it is async)."""
        return await maybe_await(self.function(**self.bind(arguments)))


@overload
def function_tool(
    func: Callable[..., Any], /, *, name: str | None = None, description: str | None = None
) -> FunctionTool: ...


@overload
def function_tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def function_tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """A :class:`FunctionTool` from a sync or async function; use it bare (``@function_tool``)
    or with ``name=`` / ``description=`` to override what the function says."""

    def build(function: Callable[..., Any]) -> FunctionTool:
        if isinstance(function, FunctionTool):
            return function
        if not callable(function):
            raise TypeError(f"a tool must be a function, got {function!r}")
        tool_name: str = name or str(getattr(function, "__name__", ""))
        if not _NAME.match(tool_name):
            raise ValueError(
                f"tool name {tool_name!r} must be 1-64 letters, digits, '_' or '-' (pass name=...)"
            )
        summary, documented = parse_docstring(inspect.getdoc(function) or "")
        return FunctionTool(
            name=tool_name,
            description=description if description is not None else summary,
            parameters=parameters_schema(function, documented),
            function=function,
        )

    return build(func) if func is not None else build


# ---------------------------------------------------------------------------------------------
# Schema from the signature
# ---------------------------------------------------------------------------------------------


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception as exc:  # an unresolvable forward reference
        raise TypeError(f"cannot read the type hints of {function!r}: {exc}") from exc


def parameters_schema(function: Callable[..., Any], descriptions: Mapping[str, str]) -> JSON:
    """The ``parameters`` JSON schema of ``function``: one property per parameter, required
    when it has no default."""
    hints = _hints(function)
    properties: JSON = {}
    required: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(
                f"tool {function.__name__}: *{parameter.name} cannot be described to the model; "
                "name each parameter"
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise TypeError(
                f"tool {function.__name__}: {parameter.name} is positional-only; the model "
                "passes arguments by name"
            )
        hint = hints.get(parameter.name, Any)
        schema = json_schema(hint, where=f"{function.__name__}({parameter.name})")
        text = descriptions.get(parameter.name)
        if text and "description" not in schema:
            schema = {**schema, "description": text}
        if parameter.default is parameter.empty:
            required.append(parameter.name)
        else:
            default = parameter.default
            schema = {
                **schema,
                "default": default.value if isinstance(default, enum.Enum) else default,
            }
        properties[parameter.name] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def json_schema(hint: Any, *, where: str = "tool") -> JSON:
    """The JSON schema of a type hint (see the module docstring for what is understood)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object or hint is inspect.Parameter.empty:
        return {}
    if origin is typing.Annotated:
        schema = json_schema(args[0], where=where)
        text = next((a for a in args[1:] if isinstance(a, str)), None)
        return {**schema, "description": text} if text else schema
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    if hint is None:
        return {"type": "null"}
    if origin is typing.Literal:
        return _enum_schema(list(args))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema([member.value for member in hint])
    if origin in (typing.Union, types.UnionType):
        options = [json_schema(arg, where=where) for arg in args]
        if all(set(o) == {"type"} and isinstance(o["type"], str) for o in options):
            return {"type": [o["type"] for o in options]}
        return {"anyOf": options}
    if hint in _ARRAYS or origin in _ARRAYS:
        return {"type": "array", "items": json_schema(args[0], where=where) if args else {}}
    if hint in _MAPS or origin in _MAPS:
        if args and args[0] is not str:
            raise TypeError(f"{where}: JSON object keys are strings; use dict[str, ...]")
        mapping: JSON = {"type": "object"}
        if args:
            mapping["additionalProperties"] = json_schema(args[1], where=where)
        return mapping
    raise TypeError(
        f"{where}: cannot describe {hint!r} to the model; use str, int, float, bool, Literal, "
        "an Enum, list, dict or a union of them"
    )


def _enum_schema(values: list[Any]) -> JSON:
    kinds = {_SIMPLE.get(type(value)) for value in values}
    schema: JSON = {"enum": values}
    if len(kinds) == 1 and None not in kinds:
        schema = {"type": kinds.pop(), **schema}
    return schema


def _convert(tool: str, name: str, hint: Any, value: Any) -> Any:
    """Enum parameters get the member; everything else is passed as the JSON value."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    candidates = (
        typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else (hint,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            if value is None and type(None) in candidates:
                return None
            try:
                return candidate(value)
            except ValueError:
                allowed = ", ".join(repr(m.value) for m in candidate)
                raise ToolArgumentsError(
                    f"{tool}: {name} must be one of {allowed}, got {value!r}"
                ) from None
    return value


# ---------------------------------------------------------------------------------------------
# Docstrings
# ---------------------------------------------------------------------------------------------

_GOOGLE_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params)\s*:\s*$")
_OTHER_SECTION = re.compile(
    r"^(Returns?|Yields?|Raises|Examples?|Notes?|Attributes|See Also|Warnings?)\s*:?\s*$"
)
_GOOGLE_ENTRY = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_SPHINX_OTHER = re.compile(r"^:(type|returns?|rtype|raises?)\b")
_NUMPY_ENTRY = re.compile(r"^(\w+)\s*(:.*)?$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """``(description, {parameter: description})`` from a Google, Sphinx or NumPy docstring."""
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    summary: list[str] = []
    params: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if _GOOGLE_SECTION.match(stripped) and not line.startswith(" "):
            index = _google_entries(lines, index + 1, params)
            continue
        if stripped in ("Parameters", "Arguments") and following and set(following) == {"-"}:
            index = _numpy_entries(lines, index + 2, params)
            continue
        if _SPHINX_PARAM.match(stripped):
            index = _sphinx_entry(lines, index, params)
            continue
        if following and set(following) == {"-"}:  # another NumPy section
            index = _skip_numpy_section(lines, index + 2)
            continue
        if _SPHINX_OTHER.match(stripped) or (
            _OTHER_SECTION.match(stripped) and not line.startswith(" ")
        ):
            index = _skip_section(lines, index + 1)
            continue
        summary.append(stripped)
        index += 1
    text = "\n\n".join(
        " ".join(part.split()) for part in "\n".join(summary).split("\n\n") if part.strip()
    )
    return text, params


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _google_entries(lines: list[str], index: int, params: dict[str, str]) -> int:
    base: int | None = None
    current: str | None = None
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        depth = _indent(line)
        if depth == 0:
            break
        if base is None:
            base = depth
        entry = _GOOGLE_ENTRY.match(line.strip()) if depth == base else None
        if entry is not None:
            current = entry[1].lstrip("*")
            params[current] = entry[3].strip()
        elif current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
        index += 1
    return index


def _numpy_entries(lines: list[str], index: int, params: dict[str, str]) -> int:
    current: str | None = None
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if line.strip() and following and set(following) == {"-"}:
            break  # the next section
        if not line.strip():
            index += 1
            continue
        entry = _NUMPY_ENTRY.match(line) if _indent(line) == 0 else None
        if entry is not None:
            current = entry[1]
            params[current] = ""
        elif current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
        index += 1
    return index


def _sphinx_entry(lines: list[str], index: int, params: dict[str, str]) -> int:
    entry = _SPHINX_PARAM.match(lines[index].strip())
    assert entry is not None
    text = entry[2].strip()
    index += 1
    while index < len(lines) and lines[index].startswith((" ", "\t")) and lines[index].strip():
        text = f"{text} {lines[index].strip()}"
        index += 1
    params[entry[1]] = text
    return index


def _skip_section(lines: list[str], index: int) -> int:
    while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
        index += 1
    return index


def _skip_numpy_section(lines: list[str], index: int) -> int:
    while index < len(lines):
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if lines[index].strip() and following and set(following) == {"-"}:
            break
        index += 1
    return index
