"""A :class:`~plurel_core.schema.Schema` from SQL DDL (SQLite, PostgreSQL, MySQL dumps).

The text is parsed with sqlglot and never executed. Real dump files hold much more than table
definitions, so the text is first cut into statements here (respecting quotes, comments, ``$$``
bodies, psql meta-commands, ``COPY ... FROM stdin`` data and MySQL ``DELIMITER`` lines); only
``CREATE TABLE``, ``ALTER TABLE``, ``CREATE TYPE ... AS ENUM`` and ``CREATE DOMAIN`` are parsed,
each on its own, so one odd statement never spoils the file. Everything else is counted in
:attr:`Schema.notes`.

Mapping (``ColumnSpec.kind``): integer / decimal / float / money -> numerical; BOOLEAN, BIT,
TINYINT(1) -> boolean; CHAR(1) -> categorical with single-character labels; ENUM types, MySQL
ENUM / SET and ``CHECK (col IN (...))`` -> categorical with those labels; VARCHAR / TEXT / UUID /
CITEXT / ... -> text (labels generated, count from the prior); DATE / TIME / TIMESTAMP / DATETIME /
YEAR -> time, the first of a table being its ``time_col``; binary, JSON, XML, arrays and spatial
types are skipped. Keys: a single-column primary key becomes ``TableSpec.pkey``; a primary key
made of foreign-key columns becomes ``composite_key``; reference cycles are broken at one
foreign key marked ``deferred``.
"""

from __future__ import annotations

import bisect
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

import networkx as nx
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from plurel_core.schema import ColumnSpec, ForeignKeySpec, Schema, TableSpec

__all__ = ["DDLError", "MAX_DDL_BYTES", "SplitResult", "Statement", "detect_dialect", "schema_from_ddl",
           "split_statements"]

MAX_DDL_BYTES = 1_048_576
DIALECTS = ("postgres", "mysql", "sqlite")
_DIALECT_ALIASES = {
    "postgres": "postgres", "postgresql": "postgres", "pg": "postgres", "psql": "postgres",
    "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite", "sqlite3": "sqlite",
}
_DEFAULT_SCHEMAS = {"public", "main", "dbo"}
BOOLEAN_LABELS = ("false", "true")
CHAR1_LABELS = ("N", "Y")


class DDLError(ValueError):
    """The DDL text cannot be turned into a schema; the message says what and where."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


# --------------------------------------------------------------------------------------------
# dialect detection and statement splitting
# --------------------------------------------------------------------------------------------

_CUES = {
    "mysql": [
        (r"`", 1), (r"\bAUTO_INCREMENT\b", 3), (r"\bENGINE\s*=", 3), (r"/\*!\d{5}", 3),
        (r"\bLOCK\s+TABLES\b", 2), (r"\bUNSIGNED\b", 2), (r"\bDEFAULT\s+CHARSET\b", 3),
        (r"\b(?:ENUM|SET)\s*\(\s*'", 2), (r"^\s*#", 1), (r"\bTINYINT\s*\(\s*1\s*\)", 1),
        (r"^\s*DELIMITER\s", 3),
    ],
    "postgres": [
        (r"\b(?:BIG|SMALL)?SERIAL\b", 3), (r"::", 2), (r"\bCREATE\s+TYPE\b", 3), (r"^\s*\\", 3),
        (r"\$[A-Za-z_]*\$", 2), (r"\bOWNER\s+TO\b", 3), (r"\bpg_catalog\b", 3),
        (r"\bFROM\s+stdin\b", 3), (r"\bINHERITS\b", 3), (r"\bPARTITION\s+OF\b", 3),
        (r"\bBYTEA\b", 2), (r"\bTIMESTAMPTZ\b", 2), (r"\bJSONB\b", 2), (r"\bCREATE\s+EXTENSION\b", 3),
        (r"\bsearch_path\b", 2), (r"\bCREATE\s+DOMAIN\b", 2), (r"\bCITEXT\b", 1),
    ],
    "sqlite": [
        (r"\bAUTOINCREMENT\b", 3), (r"(?<![\w\]])\[[^\]\d\s][^\]\n]*\]", 2), (r"\bWITHOUT\s+ROWID\b", 3),
        (r"\bPRAGMA\b", 3), (r"\bsqlite_\w+", 2), (r"\bSTRICT\s*;", 2),
    ],
}


def detect_dialect(text: str) -> tuple[str, str]:
    """Guess the dialect from syntax cues; returns (dialect, reason)."""
    scores = {}
    found = {}
    for dialect, cues in _CUES.items():
        score = 0
        hits = []
        for pattern, weight in cues:
            n = len(re.findall(pattern, text, flags=re.IGNORECASE | re.MULTILINE))
            if n:
                score += weight * min(n, 5)
                hits.append(pattern)
        scores[dialect] = score
        found[dialect] = hits
    best = max(DIALECTS, key=lambda d: (scores[d], d == "postgres"))
    if scores[best] == 0:
        return "postgres", "no dialect-specific syntax found; parsed as PostgreSQL (standard SQL)"
    others = ", ".join(f"{d} {scores[d]}" for d in DIALECTS if d != best)
    return best, f"detected from syntax cues (score {scores[best]}; {others})"


@dataclass
class Statement:
    text: str  # comments blanked out, newlines kept
    line: int  # line of the first character of ``text`` in the input
    offset: int


@dataclass
class SplitResult:
    """The statements of a DDL text and counts of what was dropped while cutting it."""

    statements: list[Statement]
    meta_commands: int = 0
    copy_blocks: int = 0
    comments: int = 0


class _LineIndex:
    def __init__(self, text: str):
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.newlines, offset - 1) + 1


def split_statements(text: str, dialect: str) -> SplitResult:
    """Cut ``text`` into statements; comments, meta-commands and COPY data are dropped."""
    out = list(text)  # the cleaned text (same length: dropped parts become spaces)
    n = len(text)
    lines = _LineIndex(text)
    result = SplitResult([])
    delim = ";"
    mysql = dialect == "mysql"
    dollar_ok = not mysql
    i = 0
    start = 0

    def blank(a: int, b: int) -> None:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    def line_end(k: int) -> int:
        e = text.find("\n", k)
        return n if e < 0 else e

    def handle_line_start(k: int) -> int:
        """At the start of a line: drop psql meta-commands and MySQL DELIMITER lines."""
        nonlocal delim
        while True:
            e = line_end(k)
            stripped = text[k:e].strip()
            if stripped.startswith("\\"):
                result.meta_commands += 1
                blank(k, e)
            elif re.match(r"DELIMITER\s+\S+", stripped, flags=re.IGNORECASE):
                delim = stripped.split()[1]
                blank(k, e)
            else:
                return k
            if e >= n:
                return n
            k = e + 1

    def end_statement(k: int) -> None:
        body = "".join(out[start:k])
        lead = len(body) - len(body.lstrip())
        body = body.strip()
        if body:
            result.statements.append(Statement(body, lines.line(start + lead), start + lead))

    i = handle_line_start(0)
    while i < n:
        c = text[i]
        if text.startswith(delim, i):
            end_statement(i)
            stmt = result.statements[-1].text if result.statements else ""
            blank(i, i + len(delim))
            i += len(delim)
            if result.statements and result.statements[-1].offset >= start and re.match(
                r"COPY\b[^;]*\bFROM\s+STDIN\b", stmt, flags=re.IGNORECASE | re.DOTALL
            ):
                # data lines follow up to a line holding only "\."
                e = line_end(i)
                k = e + 1
                while k < n:
                    e = line_end(k)
                    done = text[k:e].strip() == "\\."
                    blank(k, e)
                    k = e + 1
                    if done:
                        break
                blank(i, min(k, n))
                result.copy_blocks += 1
                i = min(k, n)
                start = i
                i = handle_line_start(i)
                continue
            start = i
            continue
        if c == "\n":
            i = handle_line_start(i + 1)
            continue
        if c == "-" and text.startswith("--", i):
            e = line_end(i)
            blank(i, e)
            result.comments += 1
            i = e
            continue
        if c == "#" and (mysql or not text[text.rfind("\n", 0, i) + 1:i].strip()):
            e = line_end(i)
            blank(i, e)
            result.comments += 1
            i = e
            continue
        if c == "/" and text.startswith("/*", i):
            e = text.find("*/", i + 2)
            if e < 0:
                raise DDLError("unterminated /* comment", lines.line(i))
            blank(i, e + 2)
            result.comments += 1
            i = e + 2
            continue
        if c in "'\"`" or (c == "[" and dialect == "sqlite"):
            e = _quote_end(text, i, mysql)
            if e < 0:
                what = "string" if c == "'" else "quoted identifier"
                raise DDLError(f"unterminated {what} starting with {c}", lines.line(i))
            i = e + 1
            continue
        if c == "$" and dollar_ok and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", text[i:i + 64])
            if m:
                tag = m.group(0)
                e = text.find(tag, i + len(tag))
                if e < 0:
                    raise DDLError(f"unterminated {tag} body", lines.line(i))
                i = e + len(tag)
                continue
        i += 1
    end_statement(n)
    return result


def _quote_end(text: str, start: int, mysql: bool) -> int:
    """Index of the character closing the quote opened at ``start`` ('x', "x", `x`, [x]); -1 if none.

    Doubled quotes are escapes in every dialect; MySQL strings also take backslash escapes.
    """
    c = text[start]
    close = "]" if c == "[" else c
    k = start + 1
    while True:
        e = text.find(close, k)
        if e < 0:
            return -1
        if mysql and c == "'" and _escaped(text, e, start + 1):
            k = e + 1
            continue
        if close != "]" and text.startswith(close * 2, e):
            k = e + 2
            continue
        return e


def _escaped(text: str, pos: int, lo: int) -> bool:
    """Is the character at ``pos`` escaped by an odd number of backslashes (MySQL strings)?"""
    k = pos - 1
    count = 0
    while k >= lo and text[k] == "\\":
        count += 1
        k -= 1
    return count % 2 == 1


def _top_level(text: str, dialect: str):
    """Yield (index, char) of characters outside quotes, with the paren depth before each."""
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "'\"`" or (c == "[" and dialect == "sqlite"):
            e = _quote_end(text, i, dialect == "mysql")
            if e < 0:
                return
            i = e + 1
            continue
        if c == "$" and dialect != "mysql":
            m = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", text[i:i + 64])
            if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
                e = text.find(m.group(0), i + len(m.group(0)))
                i = n if e < 0 else e + len(m.group(0))
                continue
        yield i, c, depth
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        i += 1


def _split_body(text: str, dialect: str) -> tuple[int, int, list[tuple[int, str]]] | None:
    """Find the column list of a CREATE TABLE: (open, close, [(offset, element)])."""
    open_at = None
    elements = []
    last = None
    for i, c, depth in _top_level(text, dialect):
        if open_at is None:
            if c == "(" and depth == 0:
                open_at = i
                last = i + 1
            continue
        if c == "," and depth == 1:
            elements.append((last, text[last:i]))
            last = i + 1
        elif c == ")" and depth == 1:
            elements.append((last, text[last:i]))
            return open_at, i, elements
    return None


# --------------------------------------------------------------------------------------------
# parsing single statements with sqlglot
# --------------------------------------------------------------------------------------------

@contextmanager
def _quiet_sqlglot():
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _parse(sql: str, dialects: list[str]) -> tuple[exp.Expression | None, str | None, ParseError | None]:
    """Parse one statement trying each dialect in turn: (expression, dialect, first error)."""
    first_error = None
    with _quiet_sqlglot():
        for d in dialects:
            try:
                trees = [t for t in sqlglot.parse(sql, read=d) if t is not None]
            except (ParseError, TokenError) as e:
                first_error = first_error or e
                continue
            if len(trees) == 1 and not isinstance(trees[0], exp.Command):
                return trees[0], d, None
    return None, None, first_error


def _error_position(err: ParseError | TokenError | None) -> tuple[int, str]:
    """(line within the statement, short description) of a sqlglot error."""
    if isinstance(err, ParseError) and err.errors:
        e = err.errors[0]
        near = (e.get("highlight") or "").strip()
        desc = _clean_tokens(e.get("description") or "syntax error")
        return int(e.get("line") or 1), f"{desc}" + (f" near {near!r}" if near else "")
    if err is not None:
        m = re.search(r"[Ll]ine:? (\d+)", str(err))
        return (int(m.group(1)) if m else 1), _clean_tokens(str(err).splitlines()[0])
    return 1, "statement not understood"


def _clean_tokens(message: str) -> str:
    """sqlglot prints tokens as reprs; show just their text."""
    return re.sub(r"<Token token_type: TokenType\.\w+, text: (.*?), line: \d+.*?>",
                  lambda m: repr(m.group(1)) if m.group(1) != "SENTINEL" else "the end of the statement", message)


def _ident_name(node) -> str | None:
    if node is None:
        return None
    if isinstance(node, str):
        return node
    if isinstance(node, exp.Identifier):
        return node.this
    ident = node.find(exp.Identifier)
    return ident.this if ident is not None else (node.name or None)


def _table_key(table: exp.Table) -> tuple[str | None, str]:
    schema = table.args.get("db")
    schema_name = _ident_name(schema)
    if schema_name is not None and schema_name.lower() in _DEFAULT_SCHEMAS:
        schema_name = None
    return schema_name, _ident_name(table.this)


def _names(nodes) -> list[str]:
    return [_ident_name(n) for n in nodes or []]


# --------------------------------------------------------------------------------------------
# the intermediate model of tables
# --------------------------------------------------------------------------------------------

@dataclass
class _Col:
    name: str
    dtype: exp.DataType | None
    sql_type: str | None
    line: int
    not_null: bool = False
    labels: tuple[str, ...] | None = None
    skip: str | None = None  # reason for not generating this column


@dataclass
class _FK:
    cols: list[str]
    parent: tuple[str | None, str]
    parent_cols: list[str] | None
    line: int
    name: str | None = None


@dataclass
class _Table:
    key: tuple[str | None, str]
    line: int
    cols: dict[str, _Col] = field(default_factory=dict)
    pk: list[str] | None = None
    uniques: list[tuple[str, ...]] = field(default_factory=list)
    fks: list[_FK] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inherited: set[str] = field(default_factory=set)


class _Builder:
    def __init__(self, dialect: str):
        self.dialect = dialect
        self.chain = [dialect] + [d for d in DIALECTS if d != dialect]
        self.tables: dict[tuple[str | None, str], _Table] = {}
        self.enums: dict[tuple[str | None, str], tuple[str, ...]] = {}
        self.domains: dict[tuple[str | None, str], _Col] = {}
        self.ignored: dict[str, int] = {}
        self.notes: list[str] = []

    # ---- statements ----------------------------------------------------------------------
    def statement(self, st: Statement) -> None:
        head = re.sub(r"\s+", " ", st.text[:300]).upper()
        head = re.sub(r"^\(+", "", head)
        if re.match(r"CREATE (OR REPLACE )?((GLOBAL|LOCAL) )?(TEMP |TEMPORARY |UNLOGGED )?TABLE ", head):
            self.create_table(st)
        elif re.match(r"CREATE VIRTUAL TABLE ", head):
            self.ignore("virtual table (SQLite module)")
            self.notes.append(f"line {st.line}: skipped a virtual table (no column types)")
        elif head.startswith("ALTER TABLE "):
            self.alter_table(st)
        elif re.match(r"CREATE (OR REPLACE )?TYPE ", head):
            self.create_type(st)
        elif re.match(r"CREATE (OR REPLACE )?DOMAIN ", head):
            self.create_domain(st)
        else:
            self.ignore(_category(head))

    def ignore(self, what: str) -> None:
        self.ignored[what] = self.ignored.get(what, 0) + 1

    def create_type(self, st: Statement) -> None:
        tree, _, err = _parse(st.text, self.chain)
        if isinstance(tree, exp.Create) and isinstance(tree.args.get("expression"), exp.DataType):
            dt = tree.args["expression"]
            if dt.this == exp.DataType.Type.ENUM:
                labels = tuple(str(e.this) for e in dt.expressions)
                key = _table_key(tree.this) if isinstance(tree.this, exp.Table) else (None, tree.this.name)
                self.enums[key] = labels
                self.notes.append(f"enum type {_qual(key)}: {len(labels)} labels {list(labels)}")
                return
        m = re.match(r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?TYPE\s+(.+?)\s+AS\s+ENUM\s*\((.*)\)\s*$",
                     st.text, flags=re.IGNORECASE | re.DOTALL)
        if m:
            labels = tuple(s.replace("''", "'") for s in re.findall(r"'((?:[^']|'')*)'", m.group(2)))
            key = _key_from_text(m.group(1))
            self.enums[key] = labels
            self.notes.append(f"enum type {_qual(key)}: {len(labels)} labels {list(labels)}")
            return
        self.ignore("CREATE TYPE (not an enum)")

    def create_domain(self, st: Statement) -> None:
        m = re.match(r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?DOMAIN\s+((?:\"(?:[^\"]|\"\")*\"|[\w.$])+)\s+(?:AS\s+)?(.*)$",
                     st.text, flags=re.IGNORECASE | re.DOTALL)
        if not m:
            self.ignore("CREATE DOMAIN (not understood)")
            return
        key = _key_from_text(m.group(1))
        rest = re.sub(r"\bVALUE\b", "_v", m.group(2), flags=re.IGNORECASE)
        tree, d, _ = _parse(f"CREATE TABLE _d (_v {rest})", self.chain)
        cds = list(tree.find_all(exp.ColumnDef)) if tree is not None else []
        if not cds:
            self.ignore("CREATE DOMAIN (not understood)")
            return
        col = self.column(cds[0], st.line, d)
        self.domains[key] = col
        self.notes.append(f"domain {_qual(key)} AS {col.sql_type}")

    def create_table(self, st: Statement) -> None:
        text = st.text
        lines = _LineIndex(text)
        body = _split_body(text, self.dialect)
        if body is not None:
            for off, element in body[2]:
                if not element.strip() and len(body[2]) > 1:
                    raise DDLError(f"empty column definition in CREATE TABLE (a stray comma?): "
                                   f"{_snippet(text)}", st.line + lines.line(off) - 1)
        # the chosen dialect first; the statement as a whole in another dialect only when it has
        # no column list to parse element by element (lenient dialects would misread types)
        tree, d, err = _parse(text, self.chain[:1] if body is not None else self.chain)
        if isinstance(tree, exp.Create) and (tree.args.get("kind") or "").upper() == "TABLE":
            self.table_from_tree(tree, st, d)
            return
        if body is None:
            line, desc = _error_position(err)
            raise DDLError(f"syntax error in CREATE TABLE: {desc}: {_snippet(text)}", st.line + line - 1)
        self.table_elementwise(st, body)

    def table_from_tree(self, tree: exp.Create, st: Statement, d: str) -> None:
        target = tree.this
        table = target.this if isinstance(target, exp.Schema) else target
        key = _table_key(table)
        props = tree.args.get("properties")
        prop_list = props.expressions if props is not None else []
        for p in prop_list:
            if isinstance(p, exp.PartitionedOfProperty):
                parent = _table_key(p.this)
                self.ignore("partition (PARTITION OF)")
                self.notes.append(f"line {st.line}: {_qual(key)} is a partition of {_qual(parent)}; "
                                  f"its rows belong to {_qual(parent)}, so it is not a separate table")
                return
        if not isinstance(target, exp.Schema):
            what = "CREATE TABLE ... AS SELECT" if tree.args.get("expression") is not None else "CREATE TABLE without a column list"
            self.ignore(what)
            self.notes.append(f"line {st.line}: skipped {_qual(key)}: {what} (no column definitions)")
            return
        t = self.new_table(key, st, exists=bool(tree.args.get("exists")))
        if t is None:
            return
        for p in prop_list:
            if isinstance(p, exp.InheritsProperty):
                for parent in p.expressions:
                    self.inherit(t, _table_key(parent), st.line)
            elif isinstance(p, exp.PartitionedByProperty):
                t.notes.append("partitioned (PARTITION BY): generated as one table")
        body = _split_body(st.text, self.dialect)
        element_lines = []
        if body is not None and len(body[2]) == len(target.expressions):
            li = _LineIndex(st.text)
            element_lines = [st.line + li.line(off + len(e) - len(e.lstrip())) - 1 for off, e in body[2]]
        for k, element in enumerate(target.expressions):
            self.element(t, element, element_lines[k] if element_lines else st.line, d)
        self.finish_table(t)

    def table_elementwise(self, st: Statement, body) -> None:
        """sqlglot rejected the statement as a whole: parse its header and elements one by one."""
        text = st.text
        li = _LineIndex(text)
        open_at, close_at, elements = body
        header = text[:open_at]
        tree, d, err = _parse(f"{header} (_x INT)", self.chain)
        if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema):
            line, desc = _error_position(err)
            raise DDLError(f"syntax error in CREATE TABLE: {desc}: {_snippet(text)}", st.line + line - 1)
        key = _table_key(tree.this.this)
        t = self.new_table(key, st, exists=bool(tree.args.get("exists")))
        if t is None:
            return
        tail = text[close_at + 1:]
        m = re.search(r"\bINHERITS\s*\((.*?)\)", tail, flags=re.IGNORECASE | re.DOTALL)
        if m:
            for part in m.group(1).split(","):
                self.inherit(t, _key_from_text(part), st.line)
        if tail.strip():
            tail_tree, _, _ = _parse(f"CREATE TABLE _t (_x INT) {tail}", self.chain)
            if tail_tree is None:
                t.notes.append(f"table options not understood and ignored: {_snippet(tail)}")
        for off, element in elements:
            lead = len(element) - len(element.lstrip())
            line = st.line + li.line(off + lead) - 1
            src = element.strip()
            if not src:
                continue
            etree, ed, eerr = _parse(f"CREATE TABLE _t ({src})", self.chain)
            if etree is None and re.search(r"\bBIT\s+VARYING\b", src, re.IGNORECASE):
                etree, ed, _ = _parse(f"CREATE TABLE _t ({_BIT_VARYING.sub('VARBIT', src)})", self.chain)
            if etree is None and re.match(r"(CONSTRAINT\s+\S+\s+)?(PRIMARY\s+KEY|UNIQUE)\b", src, re.IGNORECASE):
                bare = re.sub(r"(?i)\b(ASC|DESC)\b", "", src)
                etree, ed, _ = _parse(f"CREATE TABLE _t ({bare})", self.chain)
            if etree is not None and isinstance(etree.this, exp.Schema) and etree.this.expressions:
                for sub in etree.this.expressions:
                    self.element(t, sub, line, ed)
                continue
            col = _unparsed_column(src, self.dialect)
            if col is not None:
                name, type_text = col
                reason = _skip_type_name(type_text)
                if reason is not None:
                    t.cols[name] = _Col(name, None, type_text, line, skip=f"{type_text}: {reason}")
                    continue
            eline, desc = _error_position(eerr)
            raise DDLError(f"syntax error in CREATE TABLE {_qual(key)}: {desc}: {_snippet(src)}", line + eline - 1)
        self.finish_table(t)

    def new_table(self, key, st: Statement, exists: bool) -> _Table | None:
        if key in self.tables:
            if exists:
                self.notes.append(f"line {st.line}: CREATE TABLE IF NOT EXISTS {_qual(key)} repeats "
                                  f"a table defined at line {self.tables[key].line}; ignored")
                self.ignore("repeated CREATE TABLE IF NOT EXISTS")
                return None
            raise DDLError(f"duplicate table {_qual(key)} (first defined at line {self.tables[key].line})", st.line)
        t = _Table(key, st.line)
        self.tables[key] = t
        return t

    def inherit(self, t: _Table, parent_key, line: int) -> None:
        parent = self.find_table(parent_key)
        if parent is None:
            raise DDLError(f"{_qual(t.key)} INHERITS from unknown table {_qual(parent_key)}", line)
        for name, col in parent.cols.items():
            if name not in t.cols:
                t.cols[name] = _Col(col.name, col.dtype, col.sql_type, line, col.not_null, col.labels, col.skip)
                t.inherited.add(name)
        t.notes.append(f"inherits the columns of {_qual(parent.key)} (INHERITS); keys are not inherited")

    def finish_table(self, t: _Table) -> None:
        if not t.cols:
            raise DDLError(f"table {_qual(t.key)} has no columns", t.line)

    # ---- table elements --------------------------------------------------------------------
    def element(self, t: _Table, e, line: int, d: str) -> None:
        if isinstance(e, exp.ColumnDef):
            col = self.column(e, line, d)
            if col.name in t.cols and col.name not in t.inherited:
                raise DDLError(f"duplicate column {col.name!r} in table {_qual(t.key)}", line)
            t.cols[col.name] = col
            for c in e.args.get("constraints") or []:
                kind = c.args.get("kind")
                if isinstance(kind, exp.PrimaryKeyColumnConstraint):
                    self.set_pk(t, [col.name], line)
                elif isinstance(kind, exp.UniqueColumnConstraint):
                    t.uniques.append((col.name,))
                elif isinstance(kind, exp.Reference):
                    parent, pcols = _reference(kind)
                    t.fks.append(_FK([col.name], parent, pcols, line, _ident_name(c.this)))
                elif isinstance(kind, exp.CheckColumnConstraint):
                    self.check(t, kind.this, line, default_col=col.name)
            return
        if isinstance(e, exp.Identifier):  # SQLite: a column without a type
            t.cols[e.this] = _Col(e.this, None, None, line)
            return
        if isinstance(e, exp.Constraint):
            for sub in e.expressions:
                self.table_constraint(t, sub, line, _ident_name(e.this))
            return
        self.table_constraint(t, e, line, None)

    def table_constraint(self, t: _Table, e, line: int, name: str | None) -> None:
        if isinstance(e, exp.PrimaryKey):
            self.set_pk(t, _names(e.expressions), line)
        elif isinstance(e, exp.ForeignKey):
            ref = e.args.get("reference")
            parent, pcols = _reference(ref)
            t.fks.append(_FK(_names(e.expressions), parent, pcols, line, name))
        elif isinstance(e, exp.UniqueColumnConstraint):
            target = e.this
            cols = _names(target.expressions) if isinstance(target, exp.Schema) else _names([target]) if target else []
            if cols:
                t.uniques.append(tuple(cols))
        elif isinstance(e, exp.CheckColumnConstraint):
            self.check(t, e.this, line, default_col=None)
        elif isinstance(e, exp.LikeProperty):
            source = self.find_table(_table_key(e.this))
            if source is None:
                raise DDLError(f"{_qual(t.key)} is LIKE unknown table {_qual(_table_key(e.this))}", line)
            for cname, col in source.cols.items():
                t.cols.setdefault(cname, _Col(col.name, col.dtype, col.sql_type, line, col.not_null, col.labels, col.skip))
            t.notes.append(f"copies the columns of {_qual(source.key)} (LIKE); keys are not copied")
        elif isinstance(e, exp.IndexColumnConstraint):
            self.ignore("index (in CREATE TABLE)")
        elif isinstance(e, exp.ColumnConstraint):
            self.table_constraint(t, e.args.get("kind"), line, name or _ident_name(e.this))
        else:
            t.notes.append(f"ignored table element at line {line}: {_snippet(e.sql(dialect=self.dialect))}")

    def set_pk(self, t: _Table, cols: list[str], line: int) -> None:
        if t.pk is not None and t.pk != cols:
            raise DDLError(f"table {_qual(t.key)} has two primary keys ({', '.join(t.pk)}) and ({', '.join(cols)})", line)
        t.pk = cols

    def check(self, t: _Table, expr, line: int, default_col: str | None) -> None:
        found = _check_labels(expr)
        if found is None:
            return
        col, labels = found
        col = col or default_col
        if col in t.cols:
            t.cols[col].labels = labels
        else:
            t.notes.append(f"CHECK at line {line} names unknown column {col!r}; ignored")

    def column(self, cd: exp.ColumnDef, line: int, d: str) -> _Col:
        dtype = cd.args.get("kind")
        if dtype is not None and not isinstance(dtype, exp.DataType):
            sql_type = dtype.sql(dialect=d)
            dtype = exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=exp.to_identifier(sql_type))
        col = _Col(cd.name, dtype, dtype.sql(dialect=d) if dtype is not None else None, line)
        for c in cd.args.get("constraints") or []:
            kind = c.args.get("kind")
            if isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null"):
                col.not_null = True
            elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
                col.not_null = True
        return col

    # ---- ALTER TABLE -----------------------------------------------------------------------
    def alter_table(self, st: Statement) -> None:
        tree, d, err = _parse(st.text, self.chain)
        adds_key = re.search(r"\bADD\b.*\b(PRIMARY\s+KEY|FOREIGN\s+KEY|REFERENCES)\b", st.text,
                             flags=re.IGNORECASE | re.DOTALL)
        if not isinstance(tree, exp.Alter):
            if adds_key:
                line, desc = _error_position(err)
                raise DDLError(f"syntax error in ALTER TABLE: {desc}: {_snippet(st.text)}", st.line + line - 1)
            self.ignore(_alter_category(st.text))
            return
        key = _table_key(tree.this)
        t = self.find_table(key)
        if t is None:
            if adds_key:
                raise DDLError(f"ALTER TABLE names unknown table {_qual(key)}", st.line)
            self.ignore("ALTER TABLE of an unknown table")
            return
        used = False
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.AddConstraint):
                for sub in action.expressions:
                    if isinstance(sub, exp.Constraint):
                        for s in sub.expressions:
                            self.table_constraint(t, s, st.line, _ident_name(sub.this))
                    else:
                        self.table_constraint(t, sub, st.line, None)
                used = True
            elif isinstance(action, exp.ColumnDef):
                self.element(t, action, st.line, d)
                used = True
            elif isinstance(action, (exp.PrimaryKey, exp.ForeignKey)):
                self.table_constraint(t, action, st.line, None)
                used = True
        if not used:
            self.ignore(_alter_category(st.text))

    def find_table(self, key) -> _Table | None:
        if key in self.tables:
            return self.tables[key]
        if key[0] is None:
            matches = [t for k, t in self.tables.items() if k[1] == key[1]]
            if len(matches) == 1:
                return matches[0]
        return None


def _qual(key) -> str:
    return key[1] if key[0] is None else f"{key[0]}.{key[1]}"


def _snippet(text: str, limit: int = 80) -> str:
    s = re.sub(r"\s+", " ", text).strip()
    return s if len(s) <= limit else s[:limit - 3] + "..."


def _key_from_text(text: str) -> tuple[str | None, str]:
    parts = re.findall(r'"((?:[^"]|"")*)"|`([^`]*)`|\[([^\]]*)\]|([^."`\[\s]+)', text.strip())
    names = [next(p for p in g if p).replace('""', '"') for g in parts if any(g)]
    if not names:
        return None, text.strip()
    schema = names[-2] if len(names) > 1 else None
    if schema is not None and schema.lower() in _DEFAULT_SCHEMAS:
        schema = None
    return schema, names[-1]


def _reference(ref) -> tuple[tuple[str | None, str], list[str] | None]:
    target = ref.this
    if isinstance(target, exp.Schema):
        return _table_key(target.this), _names(target.expressions) or None
    return _table_key(target), None


def _unparsed_column(src: str, dialect: str) -> tuple[str, str] | None:
    """(name, type word) of a column definition sqlglot could not read, if it looks like one."""
    if re.match(r"(CONSTRAINT|PRIMARY|FOREIGN|UNIQUE|CHECK|KEY|INDEX)\b", src, re.IGNORECASE):
        return None
    m = re.match(r'\s*("(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|[^\s(]+)\s+([A-Za-z_][\w ]*?)(?=[\s(]|$)', src)
    if not m:
        return None
    name = m.group(1)
    if name[0] in "\"`[":
        name = name[1:-1].replace(name[0] * 2, name[0]) if name[0] != "[" else name[1:-1]
    return name, m.group(2).split()[0]


_BIT_VARYING = re.compile(r"\bBIT\s+VARYING\b", re.IGNORECASE)
_SPATIAL = {"GEOMETRY", "GEOGRAPHY", "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING",
            "MULTIPOLYGON", "GEOMETRYCOLLECTION", "GEOMCOLLECTION", "LINE", "LSEG", "BOX", "PATH", "CIRCLE"}


def _skip_type_name(type_name: str) -> str | None:
    u = type_name.upper()
    if u in _SPATIAL:
        return "spatial type"
    if "BLOB" in u or u in {"BYTEA", "BINARY", "VARBINARY", "IMAGE", "RAW"}:
        return "binary type"
    if u in {"JSON", "JSONB", "XML", "HSTORE"}:
        return "document type"
    if u in {"BIT", "VARBIT"}:
        return "bit string"
    return None


def _literal_text(node) -> str | None:
    while isinstance(node, (exp.Cast, exp.Paren)):
        node = node.this
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return "-" + str(node.this.this)
    if isinstance(node, exp.Boolean):
        return "true" if node.this else "false"
    return None


def _column_of(node) -> str | None:
    while isinstance(node, (exp.Cast, exp.Paren)):
        node = node.this
    if isinstance(node, exp.Column):
        return node.name
    return None


def _check_labels(expr) -> tuple[str | None, tuple[str, ...]] | None:
    """(column, labels) when a CHECK restricts one column to a list of literal values."""
    while isinstance(expr, exp.Paren):
        expr = expr.this
    if isinstance(expr, exp.In) and not expr.args.get("query"):
        labels = [_literal_text(v) for v in expr.expressions]
        col = _column_of(expr.this)
        if col is not None and labels and None not in labels:
            return col, tuple(dict.fromkeys(labels))
        return None
    if isinstance(expr, exp.EQ):
        col = _column_of(expr.this)
        rhs = expr.expression
        while isinstance(rhs, (exp.Cast, exp.Paren)):
            rhs = rhs.this
        if isinstance(rhs, exp.Any):
            arr = rhs.this
            while isinstance(arr, (exp.Cast, exp.Paren)):
                arr = arr.this
            if isinstance(arr, exp.Array):
                labels = [_literal_text(v) for v in arr.expressions]
                if col is not None and labels and None not in labels:
                    return col, tuple(dict.fromkeys(labels))
            return None
        value = _literal_text(rhs)
        if col is not None and value is not None:
            return col, (value,)
        return None
    if isinstance(expr, exp.Or):
        left, right = _check_labels(expr.this), _check_labels(expr.expression)
        if left and right and left[0] == right[0]:
            return left[0], tuple(dict.fromkeys(left[1] + right[1]))
    return None


def _category(head: str) -> str:
    """A short name for an ignored statement, from its first words."""
    rules = [
        (r"CREATE (UNIQUE )?(CLUSTERED |NONCLUSTERED )?INDEX", "index"),
        (r"CREATE (OR REPLACE )?(DEFINER=\S+ )?(CONSTRAINT )?TRIGGER", "trigger"),
        (r"CREATE (OR REPLACE )?((ALGORITHM|DEFINER|SQL SECURITY)\S* ?\S* )*(MATERIALIZED |RECURSIVE |TEMP |TEMPORARY )?VIEW", "view"),
        (r"CREATE (OR REPLACE )?(DEFINER=\S+ )?(FUNCTION|PROCEDURE|AGGREGATE)", "function"),
        (r"CREATE (TEMP |TEMPORARY )?SEQUENCE|ALTER SEQUENCE|SELECT (PG_CATALOG\.)?SETVAL", "sequence"),
        (r"CREATE EXTENSION|ALTER EXTENSION", "extension"),
        (r"CREATE SCHEMA|ALTER SCHEMA", "schema"),
        (r"CREATE DATABASE|USE |ALTER DATABASE", "database"),
        (r"COMMENT ON", "COMMENT ON"),
        (r"INSERT |REPLACE INTO|INSERT$", "insert"),
        (r"COPY ", "COPY statement"),
        (r"GRANT |REVOKE |ALTER DEFAULT PRIVILEGES", "grant"),
        (r"SET |SELECT PG_CATALOG\.SET_CONFIG|RESET ", "set"),
        (r"LOCK |UNLOCK ", "lock"),
        (r"DROP ", "drop"),
        (r"BEGIN|COMMIT|START TRANSACTION|END|ROLLBACK|SAVEPOINT", "transaction"),
        (r"PRAGMA ", "pragma"),
        (r"ALTER ", "alter (not a table)"),
        (r"CREATE (OR REPLACE )?RULE|CREATE POLICY|CREATE PUBLICATION|CREATE SUBSCRIPTION|CREATE ROLE|CREATE USER", "rule / role / publication"),
        (r"CREATE EVENT|CREATE SERVER|CREATE FOREIGN|CREATE CAST|CREATE OPERATOR|CREATE COLLATION|CREATE TEXT SEARCH|CREATE LANGUAGE|CREATE STATISTICS|CREATE TABLESPACE", "other CREATE"),
        (r"SELECT |WITH |UPDATE |DELETE |ANALYZE|VACUUM", "query"),
    ]
    for pattern, name in rules:
        if re.match(pattern, head):
            return name
    return "other"


def _alter_category(text: str) -> str:
    head = re.sub(r"\s+", " ", text[:400]).upper()
    if " OWNER TO " in head:
        return "ALTER TABLE ... OWNER TO"
    if "SET DEFAULT" in head:
        return "ALTER TABLE ... SET DEFAULT"
    if "ATTACH PARTITION" in head:
        return "ALTER TABLE ... ATTACH PARTITION"
    if " ADD " in head and re.search(r"\b(KEY|INDEX|UNIQUE)\b", head):
        return "ALTER TABLE ... ADD INDEX / UNIQUE"
    return "ALTER TABLE (other)"


# --------------------------------------------------------------------------------------------
# from the intermediate model to a Schema
# --------------------------------------------------------------------------------------------

_T = exp.DataType.Type
_INTEGER = ({t.name for t in exp.DataType.INTEGER_TYPES} - {"BIT"}) | {"SERIAL", "BIGSERIAL", "SMALLSERIAL"}
_NUMERIC = ({t.name for t in exp.DataType.NUMERIC_TYPES} - {"BIT"}) | _INTEGER | {"INTERVAL"}
_TEXT = {t.name for t in exp.DataType.TEXT_TYPES} | {"UUID", "INET", "CIDR", "MACADDR", "IPADDRESS", "BPCHAR", "CITEXT", "STRING"}
_TIME = {t.name for t in exp.DataType.TEMPORAL_TYPES} | {"YEAR"}
_SKIP_NAMES = (
    {t.name for t in exp.DataType.BINARY_TYPES}
    | {"JSON", "JSONB", "XML", "HSTORE", "VARIANT", "OBJECT", "SUPER", "VECTOR", "IMAGE", "ROWVERSION"}
)


def _type_params(dt: exp.DataType) -> list[int]:
    out = []
    for p in dt.expressions:
        v = p.this if isinstance(p, exp.DataTypeParam) else p
        if isinstance(v, exp.Literal) and not v.is_string:
            try:
                out.append(int(v.this))
            except ValueError:
                pass
    return out


def _classify(col: _Col, enums, domains) -> tuple[str | None, tuple[str, ...] | None, str]:
    """(kind or None to skip, labels, explanation) of a feature column."""
    if col.skip:
        return None, None, col.skip
    dt = col.dtype
    if dt is None:
        if col.labels:
            return "categorical", col.labels, "no declared type; CHECK IN labels"
        return "text", None, "no declared type (SQLite): text"
    name = dt.this.name
    if name == "USERDEFINED":
        udt = dt.args.get("kind")
        udt_text = udt.sql() if isinstance(udt, exp.Expression) else str(udt or "")
        key = _key_from_text(udt_text)
        if key in enums or (key[0] is None and any(k[1] == key[1] for k in enums)):
            labels = enums.get(key) or next(v for k, v in enums.items() if k[1] == key[1])
            return "categorical", labels, f"enum type {_qual(key)}"
        dom_key = key if key in domains else next((k for k in domains if k[1] == key[1]), None)
        if dom_key is not None:
            dom = domains[dom_key]
            inner = _Col(col.name, dom.dtype, dom.sql_type, col.line, labels=col.labels or dom.labels, skip=dom.skip)
            kind, labels, why = _classify(inner, enums, domains)
            return kind, labels, f"domain {_qual(dom_key)}: {why}"
        upper = key[1].upper().strip('"')
        if upper in ("CITEXT", "CHAR"):
            name = "CITEXT" if upper == "CITEXT" else "CHAR1"
        else:
            reason = _skip_type_name(upper)
            if reason:
                return None, None, f"{col.sql_type}: {reason}"
            # SQLite's type-affinity rules, for a type name nobody declared
            if "INT" in upper or any(s in upper for s in ("REAL", "FLOA", "DOUB", "NUM", "DEC")):
                name = "DECIMAL"
            elif any(s in upper for s in ("CHAR", "CLOB", "TEXT", "STR")):
                name = "TEXT"
            elif any(s in upper for s in ("DATE", "TIME", "YEAR")):
                name = "TIMESTAMP"
            else:
                return None, None, f"{col.sql_type}: unknown type"
    if name in ("ENUM", "ENUM8", "ENUM16", "SET"):
        labels = tuple(dict.fromkeys(_literal_text(e) or e.sql() for e in dt.expressions))
        what = "MySQL SET (members as categories)" if name == "SET" else "ENUM"
        return "categorical", labels, what
    if name in ("BOOLEAN", "BIT") and (name == "BOOLEAN" or _type_params(dt) in ([], [1])):
        return "boolean", BOOLEAN_LABELS, col.sql_type or name
    if name == "TINYINT" and _type_params(dt) == [1]:
        return "boolean", BOOLEAN_LABELS, "TINYINT(1) flag"
    if col.labels:
        return "categorical", col.labels, "CHECK IN labels"
    if name == "CHAR1" or (name in ("CHAR", "NCHAR", "BPCHAR") and _type_params(dt) in ([], [1])):
        return "categorical", CHAR1_LABELS, "CHAR(1) flag"
    if name in _NUMERIC:
        return "numerical", None, col.sql_type or name
    if name in _TEXT or name == "CITEXT":
        return "text", None, col.sql_type or name
    if name in _TIME:
        return "time", None, col.sql_type or name
    if name == "ARRAY" or dt.args.get("nested"):
        return None, None, f"{col.sql_type}: array / nested type"
    if name in _SKIP_NAMES:
        return None, None, f"{col.sql_type}: binary or document type"
    reason = _skip_type_name(name)
    if reason:
        return None, None, f"{col.sql_type}: {reason}"
    return None, None, f"{col.sql_type}: type not supported"


def _is_integer(col: _Col) -> bool:
    return col.dtype is not None and col.dtype.this.name in _INTEGER


class _Resolver:
    def __init__(self, b: _Builder):
        self.b = b
        self.notes: list[str] = []
        counts: dict[str, int] = {}
        for k in b.tables:
            counts[k[1]] = counts.get(k[1], 0) + 1
        self.display = {k: (k[1] if counts[k[1]] == 1 else _qual(k)) for k in b.tables}

    def parent_of(self, t: _Table, fk: _FK) -> _Table:
        parent = self.b.find_table(fk.parent)
        if parent is None and fk.parent[0] is not None:
            parent = self.b.find_table((None, fk.parent[1]))
        if parent is None:
            raise DDLError(f"foreign key {self.display[t.key]}({', '.join(fk.cols)}) references "
                           f"unknown table {_qual(fk.parent)}", fk.line)
        return parent

    def resolve(self) -> Schema:
        b = self.b
        if not b.tables:
            raise DDLError("no CREATE TABLE statement found")
        # 1. foreign keys: check tables and columns, fill in implicit parent columns
        for t in b.tables.values():
            for fk in t.fks:
                parent = self.parent_of(t, fk)
                for c in fk.cols:
                    if c not in t.cols:
                        raise DDLError(f"foreign key in {self.display[t.key]} names unknown column {c!r}", fk.line)
                if fk.parent_cols is None:
                    if not parent.pk:
                        raise DDLError(f"foreign key {self.display[t.key]}({', '.join(fk.cols)}) references "
                                       f"{self.display[parent.key]} without a column, and "
                                       f"{self.display[parent.key]} has no primary key", fk.line)
                    fk.parent_cols = list(parent.pk)
                for c in fk.parent_cols:
                    if c not in parent.cols:
                        raise DDLError(f"foreign key {self.display[t.key]}({', '.join(fk.cols)}) references "
                                       f"unknown column {c!r} of {self.display[parent.key]}", fk.line)
                if len(fk.parent_cols) != len(fk.cols):
                    raise DDLError(f"foreign key {self.display[t.key]}({', '.join(fk.cols)}) has "
                                   f"{len(fk.cols)} column(s) but references {len(fk.parent_cols)}", fk.line)
            if t.pk:
                for c in t.pk:
                    if c not in t.cols:
                        raise DDLError(f"primary key of {self.display[t.key]} names unknown column {c!r}", t.line)
        # 2. a parent without a primary key referenced by one unique column: that column is its key
        for t in b.tables.values():
            for fk in t.fks:
                parent = self.parent_of(t, fk)
                if not parent.pk and len(fk.parent_cols) == 1:
                    parent.pk = list(fk.parent_cols)
                    parent.notes.append(f"no primary key; {fk.parent_cols[0]} is referenced by "
                                        f"{self.display[t.key]}.{fk.cols[0]}, so it is generated as the key")
        tables: dict[str, TableSpec] = {}
        for node_id, t in enumerate(b.tables.values()):
            tables[self.display[t.key]] = self.table_spec(t, node_id)
        self.break_cycles(tables)
        referenced = {fk.parent for spec in tables.values() for fk in spec.fkeys if fk.parent != spec.name}
        for spec in tables.values():
            spec.kind = "entity" if spec.name in referenced else "activity"
        return Schema(tables=tables, layout="sql", source="ddl", notes=self.notes)

    def table_spec(self, t: _Table, node_id: int) -> TableSpec:
        b = self.b
        name = self.display[t.key]
        notes = list(t.notes)
        fk_specs: list[ForeignKeySpec] = []
        fk_cols: dict[str, ForeignKeySpec] = {}
        pk = list(t.pk or [])
        for fk in t.fks:
            parent = self.parent_of(t, fk)
            pname = self.display[parent.key]
            col = fk.cols[0]
            if len(fk.cols) > 1:
                rest = fk.cols[1:]
                notes.append(f"composite foreign key ({', '.join(fk.cols)}) -> {pname}: {col} links to the parent "
                             f"row; {', '.join(rest)} generated without the composite reference")
            if col in fk_cols:
                notes.append(f"{col} has a second foreign key (to {pname}); only the first "
                             f"(to {fk_cols[col].parent}) is kept")
                continue
            pcol = fk.parent_cols[0]
            if parent.pk and len(parent.pk) == 1 and pcol != parent.pk[0]:
                unique = any(u == (pcol,) for u in parent.uniques)
                notes.append(f"{col} references {pname}.{pcol}, a {'unique ' if unique else ''}column that is not "
                             f"the primary key: treated as a reference to the parent row")
            nullable = not t.cols[col].not_null and col not in pk
            spec = ForeignKeySpec(column=col, parent=pname, parent_column=pcol, nullable=nullable)
            fk_specs.append(spec)
            fk_cols[col] = spec
        # the primary key
        pkey: str | None = None
        composite: tuple[str, ...] = ()
        if len(pk) == 1:
            if pk[0] in fk_cols:
                composite = (pk[0],)
                notes.append(f"primary key {pk[0]} is also a foreign key (one-to-one): rows are distinct references")
            else:
                pkey = pk[0]
                if not _is_integer(t.cols[pkey]):
                    notes.append(f"primary key {pkey} is {t.cols[pkey].sql_type or 'untyped'}: values generated as integers 0..n-1")
        elif len(pk) > 1:
            fk_part = [c for c in pk if c in fk_cols]
            other = [c for c in pk if c not in fk_cols]
            if not other:
                composite = tuple(pk)
            else:
                ints = [c for c in other if _is_integer(t.cols[c])]
                if ints:
                    pkey = ints[0]
                    notes.append(f"composite primary key ({', '.join(pk)}) has non-FK part(s): {pkey} is "
                                 f"generated as a unique row number 0..n-1, so every combination is distinct")
                elif fk_part:
                    composite = tuple(fk_part)
                    notes.append(f"composite primary key ({', '.join(pk)}) has non-integer non-FK part(s) "
                                 f"{', '.join(other)}: rows are distinct combinations of {', '.join(fk_part)}, "
                                 f"so every key is distinct; {', '.join(other)} generated as features")
                else:
                    pkey = other[0]
                    notes.append(f"composite primary key ({', '.join(pk)}): {pkey} is generated as a unique "
                                 f"integer 0..n-1, so every combination is distinct")
        else:
            for u in t.uniques:
                if len(u) > 1 and all(c in fk_cols for c in u):
                    composite = tuple(u)
                    notes.append(f"no primary key; UNIQUE ({', '.join(u)}) of foreign keys used as the composite key")
                    break
        # features
        keys = set(fk_cols) | set(composite) | ({pkey} if pkey else set())
        features: list[ColumnSpec] = []
        time_col: str | None = None
        kept: list[str] = []
        described: list[str] = []
        skipped: list[str] = []
        for cname, col in t.cols.items():
            if cname in keys:
                kept.append(cname)
                continue
            kind, labels, why = _classify(col, b.enums, b.domains)
            if kind is None:
                skipped.append(f"{cname} ({why})")
                continue
            kept.append(cname)
            if kind == "time" and time_col is None:
                time_col = cname
            n_cat = len(labels) if labels is not None else None
            features.append(ColumnSpec(cname, kind, n_categories=n_cat, labels=labels,
                                       sql_type=col.sql_type, nullable=not col.not_null))
            described.append(f"{cname} {kind}" + (" (time_col)" if cname == time_col else "")
                             + (f" {list(labels)}" if labels and kind != "boolean" else "")
                             + (f" [{why}]" if why != (col.sql_type or "") else ""))
        key_desc = (f"pkey {pkey}" if pkey else f"composite key ({', '.join(composite)})" if composite else "no primary key")
        fk_desc = "; FKs " + ", ".join(f"{f.column} -> {f.parent}{' (nullable)' if f.nullable else ''}"
                                       + (" (self-reference)" if f.parent == name else "") for f in fk_specs) if fk_specs else ""
        self.notes.append(f"table {name}: {key_desc}{fk_desc}; columns: {', '.join(described) or 'none'}")
        if skipped:
            self.notes.append(f"table {name}: skipped columns: {', '.join(skipped)}")
        for n in notes:
            self.notes.append(f"table {name}: {n}")
        return TableSpec(name=name, kind="entity", features=features, fkeys=fk_specs, pkey=pkey,
                         composite_key=composite, time_col=time_col, n_rows=None, node_id=node_id,
                         column_order=tuple(kept))

    def break_cycles(self, tables: dict[str, TableSpec]) -> None:
        g = nx.MultiDiGraph()
        g.add_nodes_from(tables)
        for name, spec in tables.items():
            for fk in spec.fkeys:
                if fk.parent != name:
                    g.add_edge(name, fk.parent, key=fk.column, fk=fk)
        while True:
            try:
                cycle = nx.find_cycle(g)
            except nx.NetworkXNoCycle:
                return
            edges = [(u, v, k) for u, v, k in cycle]
            fks = [g.edges[e]["fk"] for e in edges]
            nullable = [i for i, fk in enumerate(fks) if fk.nullable]
            pool = nullable or list(range(len(fks)))
            i = max(pool, key=lambda j: (edges[j][0], edges[j][2]))
            fk = fks[i]
            fk.deferred = True
            g.remove_edge(*edges[i])
            path = " -> ".join([e[0] for e in edges] + [edges[0][0]])
            why = "a nullable FK" if nullable else "no nullable FK in the cycle; lexicographically last"
            self.notes.append(f"reference cycle {path}: broken at {edges[i][0]}.{fk.column} -> {fk.parent} "
                              f"({why}); it is deferred: filled in a second pass")


def schema_from_ddl(text: str | bytes, dialect: str | None = None) -> Schema:
    """Build a :class:`Schema` from SQL DDL; the text is parsed, never executed.

    ``dialect`` is "sqlite", "postgres" or "mysql" (aliases accepted), or None / "auto" to
    detect it from syntax cues. Raises :class:`DDLError` on bad input.
    """
    if isinstance(text, bytes | bytearray):
        if len(text) > MAX_DDL_BYTES:
            raise DDLError(f"DDL text is {len(text):,} bytes; the limit is {MAX_DDL_BYTES:,} bytes (1 MB)")
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise DDLError(f"DDL text is not valid UTF-8 (byte {e.start})") from None
    if not isinstance(text, str):
        raise DDLError(f"DDL must be text, got {type(text).__name__}")
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_DDL_BYTES:
        raise DDLError(f"DDL text is {size:,} bytes; the limit is {MAX_DDL_BYTES:,} bytes (1 MB)")
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if not text.strip():
        raise DDLError("the DDL text is empty")
    if dialect is None or str(dialect).lower() in ("auto", ""):
        chosen, reason = detect_dialect(text)
    else:
        chosen = _DIALECT_ALIASES.get(str(dialect).lower())
        if chosen is None:
            raise DDLError(f"unknown dialect {dialect!r}; choose one of sqlite, postgres, mysql or auto")
        reason = "chosen"
    split = split_statements(text, chosen)
    b = _Builder(chosen)
    for st in split.statements:
        b.statement(st)
    if not b.tables:
        raise DDLError("no CREATE TABLE statement found"
                       + (f" ({len(split.statements)} other statement(s) ignored)" if split.statements else ""))
    r = _Resolver(b)
    schema = r.resolve()
    head = [f"source: SQL DDL, dialect {chosen} ({reason}); parsed with sqlglot, never executed",
            f"{len(schema.tables)} table(s) in DDL order: {', '.join(schema.tables)}"]
    head += b.notes
    tail = []
    ignored = dict(b.ignored)
    for what, n in (("psql meta-command", split.meta_commands), ("COPY data block", split.copy_blocks),
                    ("SQL comment", split.comments)):
        if n:
            ignored[what] = ignored.get(what, 0) + n
    if ignored:
        tail.append("ignored: " + ", ".join(f"{n} {what}" for what, n in sorted(ignored.items())))
    schema.notes = head + schema.notes + tail
    schema.ddl = text
    return schema
