"""A small evaluator for the HCL expressions python-hcl2 hands back as strings.

python-hcl2 parses the block structure but leaves every expression as text ("${var.a ? 1 : 0}"). The diagrams
and the cost table need a few of them *evaluated* against a tfvars file: how many NAT gateways a `count` yields,
which keys a `for_each` iterates, a log group's retention. Running `terraform console` would need an initialised
working directory and provider credentials for anything touching resources, so this evaluates the subset of the
language our code uses (literals, templates, var/local/each/count references, operators, conditionals, `for`
expressions, splats and the common functions). Anything that depends on real infrastructure (resource attributes,
data sources) evaluates to UNKNOWN instead of failing, the same way `terraform plan` shows "(known after apply)".
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class _Unknown:
    """A value only known after apply (resource attribute, data source)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


class HclEvalError(ValueError):
    """An expression uses syntax or a function this evaluator does not implement."""


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<op>\[\*\]|\.\*|=>|==|!=|<=|>=|&&|\|\||\.\.\.|[-+*/%<>!?:()\[\]{},.=])
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Tok:
    kind: str  # num, str, name, op, end
    value: Any


def _scan_string(src: str, start: int) -> tuple[str, int]:
    """Return the raw template text of the string literal opening at src[start] == '"', and the index after it.

    Interpolations may contain nested strings ("${join(",", x)}"), so braces are tracked, not just quotes.
    """
    i = start + 1
    out: list[str] = []
    while i < len(src):
        ch = src[i]
        if ch == "\\" and i + 1 < len(src):
            out.append(src[i : i + 2])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        if src.startswith("${", i) or src.startswith("%{", i):
            end = _skip_interpolation(src, i)
            out.append(src[i:end])
            i = end
            continue
        out.append(ch)
        i += 1
    raise HclEvalError(f"unterminated string in {src!r}")


def _skip_interpolation(src: str, i: int) -> int:
    """Index just after the '}' that closes the interpolation starting at src[i:i+2] == '${'."""
    depth = 0
    j = i + 1
    while j < len(src):
        ch = src[j]
        if ch == '"':
            _, j = _scan_string(src, j)
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise HclEvalError(f"unterminated interpolation in {src!r}")


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i = 0
    while i < len(src):
        if src[i] == '"':
            text, i = _scan_string(src, i)
            toks.append(Tok("str", text))
            continue
        m = _TOKEN_RE.match(src, i)
        if not m:
            raise HclEvalError(f"cannot tokenize {src[i:]!r}")
        i = m.end()
        kind = m.lastgroup or ""
        if kind == "ws":
            continue
        value: Any = m.group()
        if kind == "num":
            value = float(value) if any(c in value for c in ".eE") else int(value)
        toks.append(Tok(kind, value))
    toks.append(Tok("end", None))
    return toks


# ---------------------------------------------------------------------------------------------------------------
# AST: plain tuples keep the parser short; ("kind", ...children)
# ---------------------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = tokenize(src)
        self.pos = 0

    def peek(self, offset: int = 0) -> Tok:
        return self.toks[min(self.pos + offset, len(self.toks) - 1)]

    def next(self) -> Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def accept(self, value: str) -> bool:
        tok = self.peek()
        if tok.kind in ("op", "name") and tok.value == value:
            self.pos += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            raise HclEvalError(f"expected {value!r} at {self.peek().value!r} in {self.src!r}")

    def parse(self) -> tuple:
        node = self.expr()
        if self.peek().kind != "end":
            raise HclEvalError(f"unexpected {self.peek().value!r} in {self.src!r}")
        return node

    def expr(self) -> tuple:
        cond = self.binary(0)
        if self.accept("?"):
            yes = self.expr()
            self.expect(":")
            no = self.expr()
            return ("cond", cond, yes, no)
        return cond

    _PRECEDENCE: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("==", "!="),
        ("<", ">", "<=", ">="),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> tuple:
        if level == len(self._PRECEDENCE):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek().kind == "op" and self.peek().value in self._PRECEDENCE[level]:
            op = self.next().value
            right = self.binary(level + 1)
            left = ("bin", op, left, right)
        return left

    def unary(self) -> tuple:
        if self.accept("!"):
            return ("not", self.unary())
        if self.accept("-"):
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: tuple) -> tuple:
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.value == "." and self.peek(1).kind in ("name", "num"):
                self.next()
                node = ("attr", node, str(self.next().value))
            elif tok.kind == "op" and tok.value in ("[*]", ".*"):
                self.next()
                # A splat applies the rest of the traversal to every element.
                rest: list[str] = []
                while self.peek().value == "." and self.peek(1).kind == "name":
                    self.next()
                    rest.append(self.next().value)
                node = ("splat", node, tuple(rest))
            elif tok.kind == "op" and tok.value == "[":
                self.next()
                index = self.expr()
                self.expect("]")
                node = ("index", node, index)
            else:
                return node

    def primary(self) -> tuple:  # noqa: PLR0911, PLR0912 - one branch per token kind
        tok = self.next()
        if tok.kind == "num":
            return ("lit", tok.value)
        if tok.kind == "str":
            return ("tmpl", tok.value)
        if tok.kind == "name":
            if tok.value in ("true", "false"):
                return ("lit", tok.value == "true")
            if tok.value == "null":
                return ("lit", None)
            if self.peek().value == "(" and self.peek().kind == "op":
                self.next()
                args: list[tuple] = []
                while not self.accept(")"):
                    args.append(self.expr())
                    if self.accept("..."):
                        args[-1] = ("expand", args[-1])
                    if not self.accept(","):
                        self.expect(")")
                        break
                return ("call", tok.value, tuple(args))
            return ("name", tok.value)
        if tok.kind == "op" and tok.value == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        if tok.kind == "op" and tok.value == "[":
            if self.peek().value == "for":
                return self.for_expr("]")
            items: list[tuple] = []
            while not self.accept("]"):
                items.append(self.expr())
                if not self.accept(","):
                    self.expect("]")
                    break
            return ("list", tuple(items))
        if tok.kind == "op" and tok.value == "{":
            if self.peek().value == "for":
                return self.for_expr("}")
            pairs: list[tuple[tuple, tuple]] = []
            while not self.accept("}"):
                key_tok = self.peek()
                key = ("lit", self.next().value) if key_tok.kind == "name" else self.expr()
                if not (self.accept("=") or self.accept(":")):
                    raise HclEvalError(f"expected '=' in object in {self.src!r}")
                pairs.append((key, self.expr()))
                self.accept(",")
            return ("obj", tuple(pairs))
        raise HclEvalError(f"unexpected {tok.value!r} in {self.src!r}")

    def for_expr(self, closer: str) -> tuple:
        self.expect("for")
        names = [self.next().value]
        if self.accept(","):
            names.append(self.next().value)
        self.expect("in")
        coll = self.expr()
        self.expect(":")
        first = self.expr()
        second = None
        if closer == "}":
            self.expect("=>")
            second = self.expr()
            self.accept("...")
        cond = self.expr() if self.accept("if") else None
        self.expect(closer)
        return ("for", closer, tuple(names), coll, first, second, cond)


def split_template(text: str) -> list[tuple[str, str]]:
    """Split template text into ("lit", text) and ("expr", source) parts ("$${" is a literal "${")."""
    parts: list[tuple[str, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            if literal:
                parts.append(("lit", "".join(literal)))
                literal = []
            end = _skip_interpolation(text, i)
            parts.append(("expr", text[i + 2 : end - 1].strip().strip("~").strip()))
            i = end
        else:
            literal.append(text[i])
            i += 1
    if literal or not parts:
        parts.append(("lit", "".join(literal)))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


@dataclass
class Scope:
    """What names resolve to: variables, locals (evaluated lazily, they may refer to each other), iterators."""

    variables: Mapping[str, Any] = field(default_factory=dict)
    locals_src: Mapping[str, Any] = field(default_factory=dict)
    bindings: dict[str, Any] = field(default_factory=dict)
    # Stand-in attributes of data sources by type ({"aws_partition": {"partition": "aws"}}): plan-time facts the
    # pictures and the cost table need (how many AZs), never real account data.
    data: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    _local_cache: dict[str, Any] = field(default_factory=dict)
    _resolving: set[str] = field(default_factory=set)

    def child(self, **bindings: Any) -> Scope:
        scope = Scope(self.variables, self.locals_src, {**self.bindings, **bindings}, self.data)
        scope._local_cache = self._local_cache  # locals do not depend on iterators: share the cache
        scope._resolving = self._resolving
        return scope

    def local(self, name: str) -> Any:
        if name not in self._local_cache:
            if name not in self.locals_src:
                raise HclEvalError(f"local.{name} is not defined")
            if name in self._resolving:
                raise HclEvalError(f"local.{name} refers to itself")
            self._resolving.add(name)
            try:
                self._local_cache[name] = evaluate(
                    self.locals_src[name], Scope(self.variables, self.locals_src, data=self.data)
                )
            finally:
                self._resolving.discard(name)
        return self._local_cache[name]


class _Object(dict):
    """A namespace value (var, local, each, count) resolved attribute by attribute."""


def evaluate(value: Any, scope: Scope) -> Any:
    """Evaluate a python-hcl2 value: a template string, or a list/dict of them."""
    if isinstance(value, str):
        parts = split_template(value)
        if len(parts) == 1 and parts[0][0] == "expr":
            return eval_expr(parts[0][1], scope)
        out: list[str] = []
        for kind, text in parts:
            if kind == "lit":
                out.append(text)
                continue
            result = eval_expr(text, scope)
            if result is UNKNOWN:
                return UNKNOWN
            out.append(_to_string(result))
        return "".join(out)
    if isinstance(value, list):
        return [evaluate(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: evaluate(v, scope) for k, v in value.items()}
    return value


def eval_expr(src: str, scope: Scope) -> Any:
    return _Eval(scope).run(_Parser(src).parse())


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    return False


def _jsonencode(value: Any) -> Any:
    return UNKNOWN if _has_unknown(value) else json.dumps(value, separators=(",", ":"), sort_keys=True)


def _merge(*maps: Any) -> Any:
    out: dict[str, Any] = {}
    for m in maps:
        out.update(m)
    return out


def _lookup(m: Any, key: Any, *default: Any) -> Any:
    return m.get(key, default[0]) if default else m[key]


def _cidrsubnet(prefix: str, newbits: int, netnum: int) -> str:
    net = ipaddress.ip_network(prefix)
    return str(list(net.subnets(prefixlen_diff=int(newbits)))[int(netnum)])


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "length": len,
    "toset": lambda xs: sorted(set(xs), key=str),
    "tolist": list,
    "tomap": dict,
    "tostring": _to_string,
    "tonumber": float,
    "keys": sorted,
    "values": lambda m: [m[k] for k in sorted(m)],
    "concat": lambda *xs: [v for x in xs for v in x],
    "merge": _merge,
    "lookup": _lookup,
    "contains": lambda xs, v: v in xs,
    "coalesce": lambda *xs: next((x for x in xs if x not in (None, "")), None),
    "min": min,
    "max": max,
    "slice": lambda xs, a, b: xs[a:b],
    "join": lambda sep, xs: sep.join(_to_string(x) for x in xs),
    "split": lambda sep, s: s.split(sep),
    "format": lambda fmt, *args: re.sub(r"%[sd]", "{}", fmt).format(*args),
    "upper": str.upper,
    "lower": str.lower,
    "replace": lambda s, a, b: s.replace(a, b),
    "jsonencode": _jsonencode,
    "range": lambda *a: list(range(*(int(x) for x in a))),
    "element": lambda xs, i: xs[int(i) % len(xs)],
    "flatten": lambda xs: [v for x in xs for v in (x if isinstance(x, list) else [x])],
    "distinct": lambda xs: list(dict.fromkeys(xs)),
    "cidrsubnet": _cidrsubnet,
    "substr": lambda s, a, n: s[a : a + n],
    "trimprefix": lambda s, p: s.removeprefix(p),
    "trimsuffix": lambda s, p: s.removesuffix(p),
    "startswith": lambda s, p: s.startswith(p),
    "endswith": lambda s, p: s.endswith(p),
    "abs": abs,
    "ceil": lambda x: int(-(-x // 1)),
    "floor": lambda x: int(x // 1),
    "zipmap": lambda ks, vs: dict(zip(ks, vs, strict=True)),
    "compact": lambda xs: [x for x in xs if x not in (None, "")],
    "sort": sorted,
    "formatlist": lambda fmt, xs: [re.sub(r"%[sd]", "{}", fmt).format(x) for x in xs],
}


class _Eval:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def run(self, node: tuple) -> Any:  # noqa: PLR0911, PLR0912 - one dispatch table reads better than 20 methods
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "tmpl":
            return evaluate(_unescape_template(node[1]), self.scope)
        if kind == "name":
            return self.name(node[1])
        if kind == "attr":
            base = self.run(node[1])
            return self.get(base, node[2])
        if kind == "index":
            base, index = self.run(node[1]), self.run(node[2])
            if base is UNKNOWN or index is UNKNOWN:
                return UNKNOWN
            if isinstance(base, list):
                return base[int(index)]
            return self.get(base, index)
        if kind == "splat":
            base = self.run(node[1])
            if base is UNKNOWN:
                return UNKNOWN
            items = base if isinstance(base, list) else list(base.values()) if isinstance(base, dict) else [base]
            out = []
            for item in items:
                value = item
                for name in node[2]:
                    value = self.get(value, name)
                out.append(value)
            return out
        if kind == "list":
            return [self.run(n) for n in node[1]]
        if kind == "obj":
            return {_to_string(self.run(k)): self.run(v) for k, v in node[1]}
        if kind == "cond":
            cond = self.run(node[1])
            if cond is UNKNOWN:
                return UNKNOWN
            return self.run(node[2] if cond else node[3])
        if kind == "not":
            v = self.run(node[1])
            return UNKNOWN if v is UNKNOWN else not v
        if kind == "neg":
            v = self.run(node[1])
            return UNKNOWN if v is UNKNOWN else -v
        if kind == "bin":
            return self.binary(node[1], node[2], node[3])
        if kind == "call":
            return self.call(node[1], node[2])
        if kind == "for":
            return self.for_expr(*node[1:])
        raise HclEvalError(f"unsupported node {kind}")

    def name(self, name: str) -> Any:
        if name in self.scope.bindings:
            return self.scope.bindings[name]
        if name == "var":
            return _Object(self.scope.variables)
        if name == "local":
            return _LocalNamespace(self.scope)
        if name == "data":
            return {t: _AnyName(attrs) for t, attrs in self.scope.data.items()}
        # Resources, data sources, modules, path/terraform: only known to Terraform itself.
        return UNKNOWN

    def get(self, base: Any, key: Any) -> Any:
        if base is UNKNOWN:
            return UNKNOWN
        if isinstance(base, _LocalNamespace):
            return base.scope.local(key)
        if isinstance(base, dict):
            if key not in base:
                if isinstance(base, _Object):
                    raise HclEvalError(f"{key} is not defined")
                return UNKNOWN
            return base[key]
        if isinstance(base, list) and isinstance(key, int):
            return base[key]
        return UNKNOWN

    def binary(self, op: str, left_node: tuple, right_node: tuple) -> Any:
        left = self.run(left_node)
        # && and || short-circuit like Terraform's (a known false/true decides even if the other side is unknown).
        if op == "&&" and left is False:
            return False
        if op == "||" and left is True:
            return True
        right = self.run(right_node)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        ops: dict[str, Callable[[Any, Any], Any]] = {
            "||": lambda a, b: bool(a or b),
            "&&": lambda a, b: bool(a and b),
            "==": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
            "+": lambda a, b: a + b,
            "-": lambda a, b: a - b,
            "*": lambda a, b: a * b,
            "/": lambda a, b: a / b,
            "%": lambda a, b: a % b,
        }
        return ops[op](left, right)

    def call(self, name: str, arg_nodes: tuple) -> Any:
        args: list[Any] = []
        for node in arg_nodes:
            if node[0] == "expand":
                args.extend(self.run(node[1]))
            else:
                args.append(self.run(node))
        if name == "try":
            return next((a for a in args if a is not UNKNOWN), UNKNOWN)
        if name == "can":
            return UNKNOWN if args[0] is UNKNOWN else True
        fn = _FUNCTIONS.get(name)
        if fn is None:
            # Functions we do not model (cidrsubnet, file, templatefile...) give values only Terraform knows.
            return UNKNOWN
        if name != "jsonencode" and any(_has_unknown(a) for a in args):
            return UNKNOWN
        return fn(*args)

    def for_expr(  # noqa: PLR0917 - mirrors the AST tuple
        self, closer: str, names: tuple[str, ...], coll_node: tuple, first: tuple, second: tuple | None, cond: Any
    ) -> Any:
        coll = self.run(coll_node)
        if coll is UNKNOWN:
            return UNKNOWN
        pairs = list(coll.items()) if isinstance(coll, dict) else list(enumerate(coll))
        out_list: list[Any] = []
        out_map: dict[str, Any] = {}
        for key, value in pairs:
            bound = {names[0]: value} if len(names) == 1 else {names[0]: key, names[1]: value}
            inner = _Eval(self.scope.child(**bound))
            if cond is not None:
                keep = inner.run(cond)
                if keep is UNKNOWN:
                    return UNKNOWN
                if not keep:
                    continue
            if closer == "]":
                out_list.append(inner.run(first))
            else:
                assert second is not None
                out_map[_to_string(inner.run(first))] = inner.run(second)
        return out_list if closer == "]" else out_map


class _AnyName(dict):
    """data.<type>.<any name>: every data source of a stubbed type has the same stand-in attributes."""

    def __init__(self, attrs: Mapping[str, Any]) -> None:
        super().__init__()
        self.attrs = dict(attrs)

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: Any) -> Any:
        return self.attrs


class _LocalNamespace:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope


def _unescape_template(text: str) -> str:
    """A quoted string inside an expression still carries its escapes (\\"); templates see the real characters."""
    parts = split_template(text)
    return "".join(_unescape(t) if k == "lit" else "${" + t + "}" for k, t in parts)
