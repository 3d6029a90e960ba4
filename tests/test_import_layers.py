"""Dependencies point one way: the imports of bot/ (read with ast; nothing is run) follow the layers drawn in
docs/architecture.md. Every import counts — at the top, inside a function, under TYPE_CHECKING — because each is
a reason one module must change when another does."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from tests.conftest import ROOT

# lowest first; a module may import its own layer and the layers below it, never one above
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("bot", "bot.errors")),
    ("sandbox", ("bot.sandbox",)),
    ("contract", ("bot.contract", "bot.fingerprint", "bot.settings", "bot.logsetup", "bot.packaged")),
    ("config and input", ("bot.topology", "bot.jobs", "bot.escalation", "bot.alerts")),
    ("evidence", ("bot.log_files", "bot.evidence")),
    ("offline engine", ("bot.offline",)),
    ("triage context", ("bot.triage_context",)),
    ("tools", ("bot.toolbox", "bot.investigation_tools")),
    ("providers", ("bot.providers",)),
    ("engine", ("bot.engine",)),
    ("store", ("bot.store",)),
    ("apps", ("bot.render", "bot.demo", "bot.evaluate", "bot.eval_output", "bot.history", "bot.feedback_export",
              "bot.preview", "bot.scaffold", "bot.metrics", "bot.slack", "bot.cli", "bot.__main__")),
]
CONCRETE_PROVIDERS = ("bot.providers.offline", "bot.providers.anthropic", "bot.providers.scripted")
# third-party packages only some modules may import
OWNERS = {"anthropic": ("bot.providers.anthropic",), "slack_sdk": ("bot.slack", "bot.metrics"),
          "slack_bolt": ("bot.slack",), "psycopg": ("bot.store",), "psycopg_pool": ("bot.store",),
          "sqlite3": ("bot.store",)}


def _modules() -> dict[str, Path]:
    out = {}
    for f in (ROOT / "bot").rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(bot modules, other top-level packages) that `path` imports."""
    ours, theirs = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                     for a in node.names]
        else:
            assert not isinstance(node, ast.ImportFrom), f"{path}: relative import"
            continue
        for n in names:
            (ours if n.split(".")[0] == "bot" else theirs).add(n if n.split(".")[0] == "bot" else n.split(".")[0])
    return ours, theirs


GRAPH = {m: _imports(p)[0] - {m} for m, p in MODULES.items()}
EXTERNAL = {m: _imports(p)[1] for m, p in MODULES.items()}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or (prefix != "bot" and module.startswith(prefix + "."))


def layer_of(module: str) -> int:
    found = [i for i, (_, prefixes) in enumerate(LAYERS) for p in prefixes if _under(module, p)]
    assert found, f"{module} is in no layer: add it to LAYERS (and to docs/architecture.md)"
    return found[0]


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for n in GRAPH.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def test_layers_every_import_points_down():
    up = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
          for m, deps in sorted(GRAPH.items()) for d in sorted(deps) if layer_of(d) > layer_of(m)]
    assert not up, "\n".join(up)


def test_layers_no_import_cycles_between_modules_or_packages():
    try:
        TopologicalSorter(GRAPH).prepare()
    except CycleError as e:
        raise AssertionError(f"import cycle: {' -> '.join(e.args[1])}") from None
    unit = {m: ".".join(m.split(".")[:2]) for m in MODULES}       # bot.providers, bot.offline, bot.engine, …
    packages: dict[str, set[str]] = {}
    for m, deps in GRAPH.items():
        packages.setdefault(unit[m], set()).update(unit[d] for d in deps if unit[d] != unit[m])
    try:
        TopologicalSorter(packages).prepare()
    except CycleError as e:
        raise AssertionError(f"import cycle between packages: {' -> '.join(e.args[1])}") from None


def test_layers_sandbox_imports_nothing_above_it():
    for m, deps in GRAPH.items():
        if _under(m, "bot.sandbox"):
            assert all(_under(d, "bot.sandbox") or d == "bot.errors" for d in deps), (m, sorted(deps))


def test_layers_engine_knows_no_slack_store_sdk_or_concrete_provider():
    direct = GRAPH["bot.engine"]
    assert not [d for d in direct if d in CONCRETE_PROVIDERS], "the engine asks the registry for providers"
    assert not EXTERNAL["bot.engine"] & set(OWNERS)
    reach = _reachable("bot.engine")
    assert not [d for d in reach if _under(d, "bot.slack") or _under(d, "bot.store")], sorted(reach)
    assert not [d for d in _reachable("bot.offline.classify") if _under(d, "bot.providers")]


def test_layers_store_and_sdks_are_imported_only_by_their_owners():
    for m, deps in GRAPH.items():
        if any(_under(d, "bot.store") for d in deps):
            assert _under(m, "bot.store") or _under(m, "bot.slack") or m in ("bot.history", "bot.feedback_export"), m
    for m, packages in EXTERNAL.items():
        for pkg in packages & set(OWNERS):
            assert any(_under(m, owner) for owner in OWNERS[pkg]), f"{m} imports {pkg}"


def test_layers_the_architecture_doc_draws_every_layer():
    doc = (ROOT / "docs/architecture.md").read_text()
    for name, prefixes in LAYERS:
        assert f"\n {name} " in doc, f"layer {name!r} is not drawn in docs/architecture.md"
        for p in prefixes:
            if p != "bot":
                path = p.removeprefix("bot.").replace(".", "/")
                shown = f"{path}/" if (ROOT / p.replace(".", "/")).is_dir() else f"{path}.py"
                assert shown in doc, f"{shown} is not in the layer drawing"
