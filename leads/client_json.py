"""JSON bodies from clients (ingest and the API), parsed with the bounds
everything downstream relies on: PostgreSQL stores no NUL character, lone
surrogate, NaN or Infinity, and a document nested hundreds deep overflows
the stack of whatever renders it later (the admin's change pages). Refused
values come with the path of the field they were found in."""

import json
from typing import Any

import orjson

# Containers (objects, arrays) nested in one body; Segment's payloads use
# four or five, properties a few more.
MAX_DEPTH = 32
# Characters of a key shown in a refused field's path.
KEY_SHOWN = 40
# Steps of a refused field's path shown (a deep one is cut short).
PATH_SHOWN = 8


class RefusedJSON(ValueError):
    """A body that is not JSON, or holds what cannot be stored; `path` leads
    to the value (["batch", 0, "properties", "name"], [] for the body itself)
    and `field` spells it (batch[0].properties.name, or "body")."""

    def __init__(self, where: list, message: str):
        self.path, self.field, self.message = where, path(where), message
        super().__init__(f"{self.field}: {message}")


def loads(body: bytes | str, *, max_depth: int | None = MAX_DEPTH) -> Any:
    """The parsed body; raises RefusedJSON. `max_depth` None leaves the
    depth to the caller (ingest checks only the objects it stores, which
    costs a fraction of walking the whole body); orjson itself refuses
    bodies nested beyond 1,024, so nothing recurses out of the stack."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise explained(body, error) from None
    if max_depth is not None and body.count(b"{") + body.count(b"[") > max_depth:
        refuse_deeper_than(max_depth, value)
    # JSON escapes are lowercase u; orjson accepts NUL, PostgreSQL does not.
    if b"\\u0000" in body:
        where = find_string(value, lambda text: "\x00" in text)
        if where is not None:
            raise RefusedJSON(where, "must not contain the NUL character (\\u0000)")
    return value


def refuse_deeper_than(levels: int, value: Any, *, where: list | None = None) -> None:
    """Raises RefusedJSON, naming the path, when objects and arrays nest
    more than `levels` deep in `value` (itself counted); `where` is the
    path to `value`."""
    if too_deep(value, levels):
        raise RefusedJSON([*(where or []), *deep_path(value, levels)], f"nested deeper than {levels} levels")


def too_deep(value: Any, levels: int) -> bool:
    """Whether objects and arrays nest deeper than `levels`, one level at a
    time (ingest runs it on every message's properties: usually one flat
    object, one comprehension)."""
    if type(value) is dict and levels >= 1:
        for item in value.values():
            if type(item) is dict or type(item) is list:
                break
        else:
            return False  # a flat object: the usual properties, at a fraction of the cost
    level = [value] if type(value) is dict or type(value) is list else []
    for _ in range(levels):
        if not level:
            return False
        level = [
            item
            for container in level
            for item in (container.values() if type(container) is dict else container)
            if type(item) is dict or type(item) is list
        ]
    return bool(level)


def deep_path(value: Any, levels: int) -> list:
    """The path to the first container nested deeper than `levels`."""
    stack: list[tuple[Any, list]] = [(value, [])]
    while stack:
        container, where = stack.pop()
        if len(where) >= levels:
            return where
        items = container.items() if type(container) is dict else enumerate(container)
        stack += [(item, [*where, key]) for key, item in items if type(item) is dict or type(item) is list]
    return []


def find_string(value: Any, bad) -> list | None:
    """The path of the first string (key or value) for which `bad` holds."""
    stack: list[tuple[Any, list]] = [(value, [])]
    while stack:
        item, where = stack.pop()
        if type(item) is str:
            if bad(item):
                return where
        elif type(item) is dict:
            for key, child in item.items():
                if bad(key):
                    return [*where, key]
                stack.append((child, [*where, key]))
        elif type(item) is list:
            stack += [(child, [*where, index]) for index, child in enumerate(item)]
    return None


def explained(body: bytes, error: orjson.JSONDecodeError) -> RefusedJSON:
    """Why orjson refused the body, naming the field when a lenient parse
    finds it (a lone surrogate, which orjson reports only by position; the
    standard library's parser accepts them, so it can find them)."""
    if "depth limit" in str(error):
        return RefusedJSON([], f"nested deeper than {MAX_DEPTH} levels")
    try:
        lenient = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        return RefusedJSON([], f"nested deeper than {MAX_DEPTH} levels")
    except (ValueError, UnicodeDecodeError) as invalid:
        return RefusedJSON([], f"not valid JSON ({invalid})")  # its messages say more
    where = find_string(lenient, has_lone_surrogate)
    if where is not None:
        return RefusedJSON(where, "must not contain a lone surrogate (\\ud800 to \\udfff unpaired)")
    return RefusedJSON([], f"not valid JSON ({error})")


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def path(where: list) -> str:
    """["batch", 0, "properties", "name"] -> batch[0].properties.name"""
    text = ""
    for key in where[:PATH_SHOWN]:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            # A key may itself be what is refused: escaped, so the answer can be encoded.
            name = key[:KEY_SHOWN].encode("utf-8", "backslashreplace").decode("utf-8")
            text += f".{name}" if text else name
    if len(where) > PATH_SHOWN:
        text += "..."
    return text or "body"
