"""A notebook's parameters cell, its presets, and the checking of every value a user passes in.

The parameters cell is one flat block of annotated assignments, ``name: type = value  # comment``, with
types int, float, bool, str or list[...] of those. Presets and ``-p`` overrides may only name declared
parameters, with values of the declared type (an int is accepted where a float is declared).

A comment may end in rules on the value's meaning, in brackets, separated by ``;``::

    seeds: int = 3  # number of seeds [at least 1]
    models: list[str] = ["fnn"]  # networks to run [non-empty; one of: fnn, lstm]
    batch_size: int = 128  # batch size [at least 1; multiple of n_mask_samples]

``at least``, ``above``, ``at most``, ``below`` compare a number (every element of a list); ``non-empty``
refuses an empty list; ``one of:`` names the allowed strings; ``multiple of`` names other parameters whose
product must divide the value; ``empty or a folder`` wants "" or an existing directory (a user's data).
(Words, not ``>=``: papermill allows one ``=`` per line.) ``resolve`` checks every rule before anything runs.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

SCALARS = {"int": int, "float": float, "bool": bool, "str": str}


class _Loader(yaml.SafeLoader):
    """YAML that reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def _yaml(text: str):
    return yaml.load(text, Loader=_Loader)


class ParameterError(ValueError):
    """A bad notebook, preset or parameter; the message is meant for the user as is."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # "int", "float", "bool", "str", "list[int]", ...
    default: object
    comment: str

    @property
    def rules(self) -> list[str]:
        found = RULES.search(self.comment)
        return [r.strip() for r in found.group(1).split(";") if r.strip()] if found else []


RULES = re.compile(r"\[([^\[\]]*)\]\s*$")
COMPARISONS = {"at least": lambda a, b: a >= b, "above": lambda a, b: a > b, "at most": lambda a, b: a <= b,
               "below": lambda a, b: a < b}


def parameters_cell(source: str) -> str:
    """The body of the ``# %% tags=["parameters"]`` cell of a jupytext percent-format source."""
    cells = re.split(r"^# %%", source, flags=re.M)
    tagged = [c for c in cells if re.match(r"[^\n]*tags=\[[^\]]*[\"']parameters[\"']", c)]
    if len(tagged) != 1:
        raise ParameterError(f"a notebook needs exactly one parameters cell, found {len(tagged)}")
    return tagged[0].split("\n", 1)[1] if "\n" in tagged[0] else ""


# A notebook's `preset: str = ""` line is not a parameter but a switch for Jupyter and papermill users: naming a
# preset there takes every parameter from it (the runner takes presets with --preset instead)
PRESET_SWITCH = "preset"


def declared_parameters(source: str) -> dict[str, Parameter]:
    """Parse the parameters cell into ``name → Parameter`` (the ``preset`` switch is not one)."""
    body = parameters_cell(source)
    lines = body.splitlines()
    params = {}
    for node in ast.parse(body).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value):
            raise ParameterError(f"parameters cell line {node.lineno}: expected `name: type = value  # comment`")
        if node.target.id == PRESET_SWITCH:
            continue
        type_name = ast.unparse(node.annotation)
        _check_type_name(node.target.id, type_name)
        default = ast.literal_eval(node.value)
        line = lines[node.lineno - 1]
        if line.count("=") != 1 or node.end_lineno != node.lineno:
            raise ParameterError(f"parameters cell line {node.lineno}: one `=` per line and one line per "
                                 f"parameter (papermill cannot parse more): {line.strip()!r}")
        comment = line.split("#", 1)[1].strip() if "#" in line else ""
        params[node.target.id] = Parameter(node.target.id, type_name, coerce(node.target.id, type_name, default),
                                           comment)
    return params


def _check_type_name(name: str, type_name: str) -> None:
    inner = type_name[5:-1] if type_name.startswith("list[") else type_name
    if inner not in SCALARS:
        raise ParameterError(f"parameter {name!r} has unsupported type {type_name!r}")


def coerce(name: str, type_name: str, value):
    """``value`` as ``type_name``, or a ParameterError that says what was expected."""
    if type_name.startswith("list["):
        if isinstance(value, str):
            value = [_yaml(v) for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"parameter {name!r} expects {type_name}, got {value!r}")
        return [coerce(name, type_name[5:-1], v) for v in value]
    expected = SCALARS[type_name]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ParameterError(f"parameter {name!r} expects {type_name}, got {value!r} ({type(value).__name__})")
    return value


def parse_override(text: str):
    """A ``-p name value`` string as YAML (``5`` → int, ``1e-3`` → float, ``[1, 2]`` → list)."""
    try:
        return _yaml(text)
    except yaml.YAMLError:
        return text


def load_presets(path: Path) -> dict[str, dict[str, dict]]:
    try:
        presets = _yaml(path.read_text()) or {}
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" line {where.line + 1}" if where else ""
        raise ParameterError(f"{path}{line} is not valid YAML ({getattr(error, 'problem', None) or error}); "
                             "fix the file (git diff shows what changed)") from None
    except OSError as error:
        raise ParameterError(f"cannot read the presets file {path}: {error.strerror}") from None
    if not isinstance(presets, dict) or not all(isinstance(v, dict) for v in presets.values()):
        raise ParameterError(f"{path} must map notebook → preset → parameters")
    return {nb: {p: dict(v or {}) for p, v in (sets or {}).items()} for nb, sets in presets.items()}


def check_rules(declared: dict[str, Parameter], values: dict) -> None:
    """Every declared rule on every value; the first broken one raises a ParameterError."""
    for cross in (False, True):  # a value's own rules first, then those that relate it to others
        for name, parameter in declared.items():
            for rule in parameter.rules:
                if rule.startswith("multiple of") != cross:
                    continue
                problem = _broken(rule, name, values[name], values, declared)
                if problem:
                    raise ParameterError(f"parameter {name!r} {problem} (rule [{rule}] of its declaration)")


def _broken(rule: str, name: str, value, values: dict, declared: dict) -> str | None:
    items = value if isinstance(value, list) else [value]
    if rule == "non-empty":
        return "must not be empty" if isinstance(value, list) and not value else None
    if rule.startswith("one of:"):
        allowed = [a.strip() for a in rule[len("one of:"):].split(",")]
        bad = [v for v in items if v not in allowed]
        return f"must be one of {', '.join(allowed)}; got {', '.join(map(repr, bad))}" if bad else None
    if rule == "empty or a folder":
        bad = [v for v in items if v and not Path(v).expanduser().is_dir()]
        return f"must be empty or an existing folder; {bad[0]!r} is not one" if bad else None
    if rule.startswith("multiple of"):
        factors = [f.strip() for f in rule[len("multiple of"):].split("*")]
        unknown = [f for f in factors if f not in declared]
        if unknown:
            raise ParameterError(f"parameter {name!r}: rule [{rule}] names undeclared parameters {unknown}")
        product = 1
        for factor in factors:
            product *= values[factor]
        bad = [v for v in items if product <= 0 or v % product]
        what = " × ".join(f"{f} ({values[f]})" for f in factors)
        return f"must be a multiple of {what}; got {value!r}" if bad else None
    for words, compare in COMPARISONS.items():
        if rule.startswith(words + " "):
            bound = float(rule[len(words):])
            bad = [v for v in items if not compare(v, bound)]
            return f"must be {rule}; got {value!r}" if bad else None
    raise ParameterError(f"parameter {name!r}: unknown rule [{rule}]; rules are at least, above, at most, below, "
                         "non-empty, one of:, multiple of, empty or a folder")


def resolve(declared: dict[str, Parameter], preset_values: dict, overrides: dict) -> dict:
    """Defaults, then the preset, then overrides; unknown names, wrong types and broken rules are refused."""
    values = {name: p.default for name, p in declared.items()}
    for origin, given in (("preset", preset_values), ("override", overrides)):
        for name, value in given.items():
            if name not in declared:
                raise ParameterError(
                    f"unknown parameter {name!r} ({origin}); declared: {', '.join(sorted(declared))}"
                )
            values[name] = coerce(name, declared[name].type, value)
    check_rules(declared, values)
    return values


def check_notebook_parameters(notebook: str, namespace: dict) -> None:
    """The runner's checks for a notebook run by papermill or opened in Jupyter: its declared parameters in
    ``namespace`` (the notebook's globals) are coerced to their types — a papermill ``-p fnn_hidden '[16, 16]'``
    arrives as a string — and checked against their rules; the coerced values are written back. With
    ``preset = "smoke"`` (any preset of the notebook) in the namespace, that preset's values replace the cell's.
    Raises a ParameterError that names the parameter and what it accepts."""
    from modularity import runner

    declared = declared_parameters(runner.notebook_source(notebook))
    chosen = namespace.get(PRESET_SWITCH) or ""
    preset_values = {}
    if chosen:
        presets = load_presets(runner.PRESETS_FILE).get(notebook, {})
        if chosen not in presets:
            raise ParameterError(f"preset = {chosen!r} is not a preset of {notebook}; its presets: "
                                 f"{', '.join(presets)}")
        preset_values = presets[chosen]
    values = {}
    for name, parameter in declared.items():
        value = preset_values[name] if name in preset_values else namespace.get(name, parameter.default)
        if isinstance(value, str) and parameter.type != "str":
            value = parse_override(value)
        values[name] = coerce(name, parameter.type, value)
    check_rules(declared, values)
    namespace.update(values)
