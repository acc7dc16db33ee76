"""The package layout holds: imports point one way, as each package's docstring declares.

Every ``import`` in ``src/cola`` is read with ``ast`` (function-level imports included,
``if TYPE_CHECKING:`` blocks excluded, since they never run). Each package's
``__init__`` docstring has a ``May import:`` line; an import of another part of cola
not listed there fails, as does any import cycle between modules or packages. Module
and function sizes are bounded so that a reader sees a function on one screen. The layout
table in ``docs/architecture.md`` matches the tree: every part of cola has a row, and each
package's row names every one of its modules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "cola"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
ALWAYS_ALLOWED = {"cola._lazy"}  # the lazy-export helper every package __init__ uses


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _resolve(name: str) -> str | None:
    """The cola module an imported dotted name refers to (its longest existing prefix)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def imports_of(module: str) -> set[str]:
    """The cola modules ``module`` imports at run time (``from pkg import submodule`` counts the submodule)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def unit_of(module: str) -> str:
    """The part of cola a module belongs to: its package (``cola.engine``) or itself (``cola.outputs``)."""
    parts = module.split(".")
    return ".".join(parts[:2])


def declared_allowed(unit: str) -> list[str] | None:
    path = MODULES[unit]
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    for line in doc.splitlines():
        if line.startswith("May import:"):
            rest = line.removeprefix("May import:").strip()
            if rest.startswith("everything in cola"):
                return ["cola"]
            if rest.startswith("nothing in cola"):
                return []
            return [item.strip() for item in rest.split(",") if item.strip()]
    return None


UNITS = sorted({unit_of(m) for m in MODULES if m != "cola" and m not in ALWAYS_ALLOWED})


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for succ in sorted(graph.get(node, ())):
            if state.get(succ) == 1:
                return stack[stack.index(succ) :] + [succ]
            if succ not in state:
                cycle = visit(succ)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


@pytest.mark.parametrize("unit", UNITS)
def test_each_part_declares_and_keeps_its_allowed_imports(unit: str):
    allowed = declared_allowed(unit)
    assert allowed is not None, f"{unit}: its docstring needs a 'May import:' line"
    for module in (m for m in MODULES if unit_of(m) == unit):
        for target in GRAPH[module]:
            if unit_of(target) == unit or target in ALWAYS_ALLOWED:
                continue
            ok = any(target == a or target.startswith(a + ".") for a in allowed)
            assert ok, f"{module} imports {target}, which {unit} does not declare (May import: {allowed})"


def test_no_import_cycle_between_modules():
    assert _find_cycle(GRAPH) is None, f"import cycle: {' -> '.join(_find_cycle(GRAPH) or [])}"


def test_no_import_cycle_between_packages():
    units: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        if module == "cola":
            continue
        units.setdefault(unit_of(module), set()).update(
            unit_of(t) for t in targets if unit_of(t) != unit_of(module) and t != "cola"
        )
    assert _find_cycle(units) is None, f"package import cycle: {' -> '.join(_find_cycle(units) or [])}"


def test_the_checker_sees_a_cycle():
    """The cycle finder is not vacuous: it reports a planted cycle."""
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_modules_and_functions_fit_on_screen():
    too_long = []
    for module, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{module}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{module}.{node.name}: {length} lines")
    assert not too_long, "too long: " + "; ".join(too_long)


LAYOUT_DOC = SRC.parent / "docs" / "architecture.md"


def layout_rows() -> list[tuple[str, str]]:
    """``(first column, description)`` of each row of the layout table in docs/architecture.md."""
    text = LAYOUT_DOC.read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return [
        (cells[1].strip(), cells[2].strip())
        for line in section.splitlines()
        if line.startswith("| `") and len(cells := line.split("|")) >= 4
    ]


def test_layout_table_matches_the_tree():
    """Every package and top-level module appears in the layout table, and nothing else."""
    listed = set()
    for first, _description in layout_rows():
        for cell in first.split(","):
            listed.add(cell.strip().strip("`").rstrip("/"))
    actual = {m.split(".", 1)[1] for m in MODULES if m.count(".") == 1 and not m.startswith("cola._")}
    assert listed == actual, (
        f"{LAYOUT_DOC.name} lists {sorted(listed - actual)} not in the tree; misses {sorted(actual - listed)}"
    )


def test_layout_table_names_every_module_of_each_package():
    """A package's description names each of its modules in backticks, and nothing that is not one."""
    packages = 0
    for first, description in layout_rows():
        if not first.endswith("/`"):
            continue
        package = "cola." + first.strip("`").rstrip("/")
        named = set(re.findall(r"`([^`]+)`", description))
        actual = {m.rsplit(".", 1)[1] for m in MODULES if m.rpartition(".")[0] == package and m != package}
        assert named == actual, (
            f"{package}: the table names {sorted(named - actual)} that are not its modules "
            f"and misses {sorted(actual - named)}"
        )
        packages += 1
    assert packages >= 5, "the layout table's package rows were not found"


def _imports_with_type_checking(module: str) -> set[str]:
    """The cola modules ``module`` imports anywhere, ``if TYPE_CHECKING:`` blocks included."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + [base]).strip(".")
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in map(_resolve, names) if t is not None and t != module)
    return found


def test_small_modules_and_no_cycle_inside_a_package_even_for_type_hints():
    """No module over 400 lines; inside each package, no cycle even through TYPE_CHECKING imports.

    A cycle that exists only for type hints still means two modules that cannot be read
    (or moved) apart; a small ``Protocol`` or a shared base module breaks it.
    """
    too_long = [
        f"{m}: {n} lines"
        for m, p in MODULES.items()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not too_long, "over 400 lines: " + "; ".join(too_long)
    cycles = []
    for unit in sorted({unit_of(m) for m in MODULES}):
        inside = {m for m in MODULES if unit_of(m) == unit}
        graph = {m: _imports_with_type_checking(m) & inside for m in inside}
        cycle = _find_cycle(graph)
        if cycle:
            cycles.append(" -> ".join(cycle))
    assert not cycles, "import cycles inside a package: " + "; ".join(cycles)
