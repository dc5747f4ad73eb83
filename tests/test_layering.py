"""The layers of docs/architecture.md hold (issue 24 item 4): no module of src/breadcrumbs imports a higher layer.

Every `breadcrumbs` import counts, absolute or relative, at module level or inside a function; one under
`if TYPE_CHECKING:` is a type hint, not a dependency, and does not. Each module belongs to the first (longest)
prefix of `LAYERS` that its path starts with; a module no prefix names fails the test, so a new file is placed in a
layer on purpose.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "src" / "breadcrumbs"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# Bottom to top: a module may import its own layer and any below it.
LAYER_NAMES = ("base", "tasks", "beacon", "policies", "generation", "training", "evaluation", "recipes")
RECIPES = LAYER_NAMES.index("recipes")

# Path prefix (relative to src/breadcrumbs) -> layer index; docs/architecture.md's table names every one.
LAYERS = {
    "recipes/": 7, "cli/": 7, "console.py": 7, "__main__.py": 7,
    "evaluation/": 6,
    "training/": 5, "trained.py": 5, "integrations/": 5,
    "generation.py": 4, "generators.py": 4, "hf/": 4,
    "policies/": 3,
    "beacon/": 2,
    "tasks/": 1,
    "__init__.py": 0, "errors.py": 0, "validation.py": 0, "files.py": 0, "interrupts.py": 0, "provenance.py": 0,
    "models.py": 0, "chat.py": 0, "gguf.py": 0, "shapes.py": 0,
}

# (importer, imported) module paths allowed to point up, each with its reason; kept as small as possible.
# Empty since issue 24 item 4: `models.py` holds `check_model_dir` itself, `trained.py` imports policies at the top
# (downward: trained.py is training), and policies annotate their hooks with `SessionView`, defined beside them.
ALLOWED: frozenset[tuple[str, str]] = frozenset()


def layer_of(module: str) -> int | None:
    """The layer of a module path relative to src/breadcrumbs (`policies/h2o.py`), or None if no prefix names it."""
    matches = [prefix for prefix in LAYERS if module == prefix or (prefix.endswith("/") and module.startswith(prefix))]
    return LAYERS[max(matches, key=len)] if matches else None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node of `tree` except those in the body of an `if TYPE_CHECKING:` (its `else` still runs)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _module_file(root: Path, dotted: str) -> str | None:
    """`breadcrumbs.a.b` -> `a/b.py` or `a/b/__init__.py` (relative to `root`), or None when neither exists."""
    parts = dotted.split(".")[1:]
    for candidate in ("/".join(parts) + ".py", "/".join([*parts, "__init__.py"])):
        if (root / candidate).is_file():
            return candidate
    return None


def imports_of(root: Path, module: str) -> set[str]:
    """The module paths (relative to `root`, the package folder) that `module` imports at run time."""
    tree = ast.parse((root / module).read_text(encoding="utf-8"))
    package = ["breadcrumbs", *module.split("/")[:-1]]
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names if alias.name.split(".")[0] == "breadcrumbs"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "breadcrumbs":
                continue
            # `from PKG import NAME` imports the submodule PKG.NAME when there is one, else a name of PKG itself.
            dotted = [f"{base}.{alias.name}" if _module_file(root, f"{base}.{alias.name}") else base
                      for alias in node.names]
        else:
            continue
        for name in dotted:
            path = _module_file(root, name)
            assert path is not None, f"{module} imports {name}, which is no module under {root}"
            found.add(path)
    return found


def modules(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*.py"))


def upward_imports(root: Path) -> set[tuple[str, str]]:
    """(importer, imported) pairs where the imported module is in a higher layer than its importer."""
    placed = [module for module in modules(root) if layer_of(module) is not None]  # the others fail the test above
    return {(module, imported) for module in placed for imported in imports_of(root, module)
            if layer_of(imported) is not None and layer_of(imported) > layer_of(module)}


def test_every_module_has_a_layer():
    unmapped = [module for module in modules(SOURCES) if layer_of(module) is None]
    assert not unmapped, f"add these modules to LAYERS here and to docs/architecture.md's table: {unmapped}"
    unused = [prefix for prefix in LAYERS
              if not any(m == prefix or (prefix.endswith("/") and m.startswith(prefix)) for m in modules(SOURCES))]
    assert not unused, f"LAYERS names paths that no longer exist: {unused}"


def test_no_module_imports_a_higher_layer():
    found = upward_imports(SOURCES)
    unexpected = sorted(found - ALLOWED)
    assert not unexpected, "upward imports (importer -> imported): " + "; ".join(
        f"{a} ({LAYER_NAMES[layer_of(a)]}) -> {b} ({LAYER_NAMES[layer_of(b)]})" for a, b in unexpected)
    assert not ALLOWED - found, f"these known exceptions are gone; drop them from ALLOWED: {sorted(ALLOWED - found)}"


def test_recipes_are_imported_by_recipes_only():
    for module in modules(SOURCES):
        if layer_of(module) is not None and layer_of(module) < RECIPES:
            recipes = [m for m in imports_of(SOURCES, module) if layer_of(m) == RECIPES]
            assert not recipes, f"{module} imports the recipes {recipes}"


def test_architecture_table_matches():
    """docs/architecture.md lists the layers top to bottom, each row (an indented line continues it) naming its
    paths here."""
    block = ARCHITECTURE.read_text(encoding="utf-8").split("```")[1]
    rows: list[str] = []
    for line in block.splitlines():
        if line[:1].isspace() and rows:
            rows[-1] += " " + line.strip()
        elif line.strip():
            rows.append(line)
    assert [row.split()[0] for row in rows] == list(reversed(LAYER_NAMES))
    for row in rows:
        layer = LAYER_NAMES.index(row.split()[0])
        named = [prefix for prefix, index in LAYERS.items() if index == layer]
        missing = [prefix for prefix in named if not re.search(rf"(?<![\w/]){re.escape(prefix)}", row)]
        assert not missing, f"docs/architecture.md's {row.split()[0]!r} row does not name {missing}"


def test_a_planted_upward_import_is_found(tmp_path):
    """The checker itself: an upward import in a function, a relative one, and a type hint (not counted)."""
    root = tmp_path / "breadcrumbs"
    for module, text in {
        "__init__.py": "",
        "errors.py": "",
        "tasks/__init__.py": "",
        "tasks/base.py": "def f():\n    from breadcrumbs.training import trainer\n",
        "tasks/io.py": "from ..recipes.demo import run_demo\n",
        "policies/__init__.py": "",
        "policies/base.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import breadcrumbs.generation\n",
        "generation.py": "from breadcrumbs import errors\nfrom . import policies\n",
        "training/__init__.py": "",
        "training/trainer.py": "from breadcrumbs.tasks import base\n",
        "recipes/__init__.py": "",
        "recipes/demo.py": "from breadcrumbs import tasks\n",
    }.items():
        (root / module).parent.mkdir(parents=True, exist_ok=True)
        (root / module).write_text(text)
    assert upward_imports(root) == {("tasks/base.py", "training/trainer.py"), ("tasks/io.py", "recipes/demo.py")}
