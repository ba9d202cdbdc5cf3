"""The type stubs (xmr/__init__.pyi) describe the module as it is: every public name, class,
method and keyword argument of the extension is in the stubs and nothing else is."""

from __future__ import annotations

import ast
import inspect
import pathlib
import re

import xmr

STUB = pathlib.Path(xmr.__file__).with_name("__init__.pyi")
# Type aliases the stubs define for annotations only.
ALIASES = {"ArrayLike", "IdsLike", "PathLike", "MetricLike", "DeviceLike", "DTypeLike", "ReduceLike",
           "DirectionLike", "MultiVectors", "Scorer", "MapVariant", "TiePolicy"}


def stub_tree():
    return ast.parse(STUB.read_text())


def stub_members():
    """{name: None for functions, or {member: [keyword names]} for classes}."""
    members = {}
    for node in stub_tree().body:
        if isinstance(node, ast.ClassDef):
            methods = {}
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    args = item.args
                    methods[item.name] = [a.arg for a in args.args + args.kwonlyargs if a.arg not in ("self",)]
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    methods[item.target.id] = []
                elif isinstance(item, ast.Assign):
                    for t in item.targets:
                        if isinstance(t, ast.Name):
                            methods[t.id] = []
            members[node.name] = methods
        elif isinstance(node, ast.FunctionDef):
            args = node.args
            members[node.name] = [a.arg for a in args.args + args.kwonlyargs]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            members[node.target.id] = None
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    members[t.id] = None
    return members


def public_names(obj):
    return {n for n in dir(obj) if not n.startswith("_")}


# Functions taking **kwargs check their keywords against these sets (python/src/pipeline.cpp).
KWARGS = {
    "retrieve": xmr._xmr._PIPELINE_KEYWORDS,
    "search": tuple(k for k in xmr._xmr._PIPELINE_KEYWORDS if k != "query_ids"),
    "add": xmr._xmr._COLLECTION_ADD_KEYWORDS,
}


def signature_keywords(func):
    """Parameter names from a pybind11 docstring signature line (or inspect for Python code)."""
    doc = getattr(func, "__doc__", "") or ""
    names = []
    for line in doc.splitlines():
        m = re.match(r"^\s*(?:\d+\.\s*)?(\w+)\((.*)\)\s*->", line)
        if m:
            if "**kwargs" in m.group(2):
                names.extend(KWARGS[m.group(1)])
            for part in m.group(2).split(","):
                part = part.strip()
                if part and part not in ("*", "self", "/") and not part.startswith("*") and not part.startswith("self:"):
                    names.append(part.split(":")[0].strip())
    if not names:
        try:
            names = [p for p in inspect.signature(func).parameters if p != "self"]
        except (TypeError, ValueError):
            pass
    return names


def test_every_public_name_is_stubbed_and_nothing_else():
    stubbed = set(stub_members()) - ALIASES
    exported = public_names(xmr) | {"__version__"}
    assert exported - stubbed == set(), "names exported but not in the stubs"
    assert stubbed - exported == set(), "names in the stubs but not exported"


def test_class_members_match():
    for name, members in stub_members().items():
        if not isinstance(members, dict):
            continue
        cls = getattr(xmr, name)
        if issubclass(cls, BaseException):
            continue
        real = public_names(cls)
        if hasattr(cls, "__members__"):  # pybind11 enums: values plus enum machinery
            assert set(cls.__members__) <= set(members), name
            continue
        assert real - set(members) == set(), f"{name}: members not in the stubs"
        assert {m for m in members if not m.startswith("_")} - real == set(), f"{name}: stubbed members missing"


def test_keywords_match():
    members = stub_members()
    for name, entry in members.items():
        if name in ALIASES or entry is None:
            continue
        if isinstance(entry, list):  # a module function
            real = signature_keywords(getattr(xmr, name))
            if real:
                assert set(real) == set(entry), f"{name}: {real} vs stub {entry}"
            continue
        cls = getattr(xmr, name)
        for method, stub_args in entry.items():
            func = getattr(cls, method, None)
            if func is None or not callable(func) or method.startswith("__") and method != "__init__":
                continue
            real = signature_keywords(func)
            if real and not any(a.startswith("arg") for a in real):
                assert set(real) == set(stub_args), f"{name}.{method}: {real} vs stub {stub_args}"
