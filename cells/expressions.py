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


class ExpressionError(ValueError):
    """An expression uses something outside the allowed subset."""


def normalise(text: str) -> str:
    """Accept BluePyOpt's ``{distance}``/``{value}`` placeholders and ``math.`` prefixes."""
    return text.replace("{", "").replace("}", "")


def compile_expression(text: str, names: tuple[str, ...] = ("distance", "value")):
    """Return ``f(**arrays)`` computing the expression; raise ExpressionError if not allowed."""
    try:
        tree = ast.parse(normalise(text).strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"not a valid expression: {exc.msg}") from None
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
            raise ExpressionError(f"unknown name {node.id!r}; allowed names: "
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
                raise ExpressionError(f"unknown function {name!r}; allowed: "
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


def _function_name(func) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
            and func.value.id in ("math", "np", "numpy"):
        return func.attr
    raise ExpressionError("only plain function calls such as exp(x) are allowed")
