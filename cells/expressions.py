"""Safe arithmetic expressions for parameter distributions, evaluated on numpy arrays.

Users (and BluePyOpt's JSON files) describe distance-dependent conductances with formulas such as
``(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}``. We never ``eval`` them: the text is
parsed with ``ast`` and only numbers, the allowed names, arithmetic, comparisons, conditional
expressions and a fixed set of math functions are accepted. The result is a function of named
numpy arrays, so a whole cell's segments are computed in one call.
"""

from __future__ import annotations

import ast
import math
import operator

import numpy as np

from cellsweep.cells.schema import quote


def _libm(scalar_fn, array_fn):
    """``scalar_fn`` (Python's math, i.e. the C library) applied element by element.

    BluePyOpt evaluates its distribution formulas with Python floats and ``math``; numpy's SIMD
    exp/log/power/tanh/log10 differ from the C library in the last bit for some inputs (exp:
    about 1 input in 20 here), which moves traces by 1e-11 mV. Domain and range errors give
    numpy's nan/inf instead of raising.
    """
    def scalar(*args):
        try:
            return scalar_fn(*args)
        except (ValueError, OverflowError, ZeroDivisionError):
            with np.errstate(all="ignore"):
                return float(array_fn(*args))
    return np.vectorize(scalar, otypes=[float])


_POW = _libm(math.pow, np.power)
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: _POW, ast.Mod: operator.mod}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
            ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal}
FUNCTIONS = {"exp": _libm(math.exp, np.exp), "log": _libm(math.log, np.log),
             "log10": _libm(math.log10, np.log10), "sqrt": np.sqrt,   # sqrt is exact in both
             "sin": _libm(math.sin, np.sin), "cos": _libm(math.cos, np.cos),
             "tanh": _libm(math.tanh, np.tanh), "abs": np.abs, "fabs": np.abs,
             "min": np.minimum, "max": np.maximum, "pow": _POW}
CONSTANTS = {"pi": np.pi, "e": np.e}


# Bounds on what we parse: a formula is a line or two; these keep a hostile one (thousands of
# terms, operators nested thousands deep) from costing a RecursionError or a slow parse.
MAX_LENGTH = 2000          # characters
MAX_DEPTH = 100            # levels of operators and calls (parentheses alone add none)
MAX_NODES = 1000           # numbers, names, operators and calls


class ExpressionError(ValueError):
    """An expression uses something outside the allowed subset."""


def normalise(text: str) -> str:
    """Accept BluePyOpt's ``{distance}``/``{value}`` placeholders and ``math.`` prefixes."""
    return text.replace("{", "").replace("}", "")


def _parse(text: str):
    """The expression's syntax tree, bounded in length and size; ExpressionError if not."""
    text = text.strip()
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is {len(text)} characters long; expected at most "
                              f"{MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, RecursionError, MemoryError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else "too deeply nested"
        raise ExpressionError(f"not a valid expression: {reason}") from None
    _check_size(tree)
    return tree


def compile_expression(text: str, names: tuple[str, ...] = ("distance", "value")):
    """Return ``f(**arrays)`` computing the expression; raise ExpressionError if not allowed."""
    tree = _parse(normalise(text))
    allowed = set(names)
    used: set[str] = set()

    def build(node):
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            value = float(node.value)
            return lambda env: value
        if isinstance(node, ast.Name):
            if node.id in allowed:
                used.add(node.id)
                return lambda env, n=node.id: env[n]
            if node.id in CONSTANTS:
                value = CONSTANTS[node.id]
                return lambda env: value
            raise ExpressionError(f"unknown name {quote(node.id)}; allowed names: "
                                  f"{', '.join(sorted(allowed | set(CONSTANTS)))}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            fn, left, right = _BINARY[type(node.op)], build(node.left), build(node.right)
            return lambda env: fn(left(env), right(env))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            fn, operand = _UNARY[type(node.op)], build(node.operand)
            return lambda env: fn(operand(env))
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            fn, left, right = _COMPARE[type(node.ops[0])], build(node.left), \
                build(node.comparators[0])
            return lambda env: fn(left(env), right(env))
        if isinstance(node, ast.IfExp):
            test, body, orelse = build(node.test), build(node.body), build(node.orelse)
            return lambda env: np.where(test(env), body(env), orelse(env))
        if isinstance(node, ast.Call) and not node.keywords:
            name = _function_name(node.func)
            if name not in FUNCTIONS:
                raise ExpressionError(f"unknown function {quote(name)}; allowed: "
                                      f"{', '.join(sorted(FUNCTIONS))}")
            fn, args = FUNCTIONS[name], [build(a) for a in node.args]
            return lambda env: fn(*[a(env) for a in args])
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")

    body = build(tree)

    def evaluate(**env):
        with np.errstate(all="ignore"):
            return np.asarray(body(env), dtype=float)

    evaluate.names = frozenset(used)
    return evaluate


def _check_size(tree) -> None:
    """Refuse trees deeper than MAX_DEPTH or larger than MAX_NODES (walked without recursion,
    before ``build`` recurses over them)."""
    stack, count = [(tree.body, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression is nested more than {MAX_DEPTH} levels deep; "
                                  f"expected at most {MAX_DEPTH} levels of operators and calls")
        if count > MAX_NODES:
            raise ExpressionError(f"expression has more than {MAX_NODES} numbers, names and "
                                  f"operators; expected at most {MAX_NODES}")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node)
                     if not isinstance(child, (ast.operator, ast.unaryop, ast.cmpop,
                                               ast.expr_context)))


def _function_name(func) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
            and func.value.id in ("math", "np", "numpy"):
        return func.attr
    raise ExpressionError("only plain function calls such as exp(x) are allowed")


# -- symbolic expressions: the same subset, evaluated on objects (rxd species) ----------------
_SYMBOLIC_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                    ast.Div: operator.truediv, ast.Pow: operator.pow}
SYMBOLIC_FUNCTIONS = ("exp", "log", "log10", "sqrt", "sin", "cos", "tanh", "fabs", "pow")


def compile_symbolic(text: str, names: tuple[str, ...], functions=SYMBOLIC_FUNCTIONS):
    """Return ``f(env, fns)`` that computes the expression with Python's operators on the
    objects of ``env`` (name -> object) and the functions of ``fns`` (name -> callable).

    For rate expressions of rxd, where ``env`` holds species and ``fns`` ``rxdmath``: the
    operators are applied exactly as written (``1e-3 * buf`` builds ``1e-3 * buf``), so a rate
    equals the hand-written one. Comparisons, conditionals and ``%`` are refused (rxd has none).
    """
    tree = _parse(text)
    allowed = set(names)
    used: set[str] = set()

    def build(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            value = float(node.value)
            return lambda env, fns: value
        if isinstance(node, ast.Name):
            if node.id not in allowed:
                raise ExpressionError(f"unknown name {quote(node.id)}; allowed names: "
                                      f"{', '.join(sorted(allowed)) or '(none)'}")
            used.add(node.id)
            return lambda env, fns, n=node.id: env[n]
        if isinstance(node, ast.BinOp) and type(node.op) in _SYMBOLIC_BINARY:
            fn, left, right = _SYMBOLIC_BINARY[type(node.op)], build(node.left), build(node.right)
            return lambda env, fns: fn(left(env, fns), right(env, fns))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            fn, operand = _UNARY[type(node.op)], build(node.operand)
            return lambda env, fns: fn(operand(env, fns))
        if isinstance(node, ast.Call) and not node.keywords:
            name = _function_name(node.func)
            if name not in functions:
                raise ExpressionError(f"unknown function {quote(name)}; allowed: "
                                      f"{', '.join(sorted(functions))}")
            args = [build(a) for a in node.args]
            return lambda env, fns: fns[name](*[a(env, fns) for a in args])
        raise ExpressionError(f"{type(node).__name__} is not allowed in a rate expression")

    body = build(tree.body)
    body.names = frozenset(used)
    return body
