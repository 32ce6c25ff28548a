"""No SQL of the package is built by pasting values into a string (issue 7, least privilege).

Every ``execute``/``copy`` call in ``plugins/cdw`` must take a constant string or a
``psycopg.sql`` composition: an f-string, ``%`` formatting, ``str.format`` or ``+`` on the
query would put a value (or an unquoted identifier) into SQL text.
"""

from __future__ import annotations

import ast

from cdw.settings import REPO_ROOT

PACKAGE = REPO_ROOT / "plugins" / "cdw"
SQL_CALLS = {"execute", "executemany", "copy"}


def _pasted(node: ast.expr) -> bool:
    """A query expression that builds text from values."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        # sql.Composed + sql.Composed composes; text + anything pastes
        return any(isinstance(side, (ast.Constant, ast.JoinedStr)) or _pasted(side) for side in (node.left, node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        # sql.SQL("…").format(…) composes safely; "…".format(…) pastes
        return isinstance(node.func.value, ast.Constant)
    return False


def _offences(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS
                and node.args and _pasted(node.args[0])):
            found.append(f"{name}:{node.lineno}")
    return found


def test_no_query_of_the_package_is_pasted_together():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    offences = [o for f in files for o in _offences(f.read_text(encoding="utf-8"), str(f.relative_to(REPO_ROOT)))]
    assert offences == [], "SQL built from pasted text: " + ", ".join(offences)


def test_the_check_finds_pasting():
    source = ('def f(conn, d, t):\n'
              '    conn.execute(f"select * from raw.calls where business_date = \'{d}\'")\n'
              '    conn.execute("select * from %s" % t)\n'
              '    conn.execute("select {}".format(t))\n'
              '    conn.execute("select * from " + t)\n'
              '    conn.execute(sql.SQL("select {}").format(sql.Identifier(t)))\n'
              '    conn.execute("select 1 where x = %s", (d,))\n')
    assert _offences(source, "example.py") == ["example.py:2", "example.py:3", "example.py:4", "example.py:5"]
