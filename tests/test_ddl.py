"""schema_from_ddl: SQL DDL (SQLite, PostgreSQL, MySQL dumps) -> Schema, parsed and never executed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plurel_core as pc
from plurel_core.ddl import (
    MAX_DDL_BYTES,
    DDLError,
    detect_dialect,
    schema_from_ddl,
    split_statements,
)

FIXTURES = Path(__file__).parent / "fixtures" / "ddl"


def load(name: str, dialect: str | None = None) -> pc.Schema:
    return schema_from_ddl((FIXTURES / name).read_text(encoding="utf-8"), dialect)


def cols(t: pc.TableSpec) -> dict[str, pc.ColumnSpec]:
    return {c.name: c for c in t.features}


def fk(t: pc.TableSpec, column: str) -> pc.ForeignKeySpec:
    return next(f for f in t.fkeys if f.column == column)


def notes(s: pc.Schema) -> str:
    return "\n".join(s.notes)


def small_config() -> pc.Config:
    return pc.Config.preset("demo").replace(**{
        "schema.entity_rows": (30, 60), "schema.activity_rows": (40, 80), "schema.text_categories": (3, 6),
        # binarization drops constant columns, which would change the table shape the DDL fixed
        "postprocess.binarize": False,
    })


# --------------------------------------------------------------------------------------------
# PostgreSQL (pg_dump)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg() -> pc.Schema:
    return load("postgres_dump.sql")


def test_pg_tables_and_source(pg):
    assert pg.source == "ddl" and pg.layout == "sql"
    # the partition is not a table of its own; audit.log keeps its bare name
    assert list(pg.tables) == ["customers", "products", "orders", "order_items", "events", "page_views", "log"]
    assert [t.node_id for t in pg.tables.values()] == list(range(7))
    assert "dialect postgres" in pg.notes[0]
    assert "events_2024 is a partition of events" in notes(pg)


def test_pg_column_kinds(pg):
    c = cols(pg.tables["customers"])
    assert {n: s.kind for n, s in c.items()} == {
        "email": "text", "full_name": "text", "country": "text", "vip": "boolean", "tier": "categorical",
        "created_at": "time", "birthday": "time",
    }
    assert c["email"].n_categories is None and c["email"].labels is None and not c["email"].nullable
    assert c["full_name"].nullable and c["full_name"].sql_type == "VARCHAR(120)"
    assert c["vip"].labels == ("false", "true")
    assert c["tier"].labels is not None and all(len(x) == 1 for x in c["tier"].labels)
    p = cols(pg.tables["products"])
    assert {n: s.kind for n, s in p.items()} == {
        "sku": "text", "name": "text", "price": "numerical", "weight_kg": "numerical",
        "stock_level": "numerical", "list_price": "numerical", "size": "categorical", "rating": "numerical",
    }
    assert p["size"].labels == ("S", "M", "L", "XL")  # CHECK (size = ANY (ARRAY[...]))
    o = cols(pg.tables["orders"])
    assert o["status"].kind == "categorical" and o["status"].labels == ("pending", "paid", "shipped", "cancelled")
    assert o["status"].n_categories == 4
    assert o["discount"].kind == "numerical" and o["shipped_at"].kind == "time"


def test_pg_skipped_columns_are_noted(pg):
    text = notes(pg)
    order = pg.tables["customers"].column_order
    for name in ("tags", "avatar", "preferences"):
        assert name not in order
        assert name in text
    assert "array" in text and "binary" in text
    assert "payload" not in pg.tables["events"].column_order


def test_pg_keys_and_fks(pg):
    cust = pg.tables["customers"]
    assert cust.pkey == "id" and cust.time_col == "created_at"
    self_ref = fk(cust, "referred_by")
    assert self_ref.parent == "customers" and self_ref.nullable and not self_ref.deferred
    assert cust.column_order == ("id", "email", "full_name", "country", "vip", "tier", "created_at",
                                 "birthday", "referred_by")
    orders = pg.tables["orders"]
    assert fk(orders, "customer_id").parent == "customers" and not fk(orders, "customer_id").nullable
    assert orders.time_col == "placed_at"
    items = pg.tables["order_items"]
    assert items.pkey is None and items.composite_key == ("order_id", "product_id")
    assert {f.column: f.parent for f in items.fkeys} == {"order_id": "orders", "product_id": "products"}
    events = pg.tables["events"]
    assert events.pkey == "id" and fk(events, "customer_id").nullable
    assert "composite primary key (id, happened_at)" in notes(pg)


def test_pg_inherits_copies_parent_columns(pg):
    pv = pg.tables["page_views"]
    assert pv.column_order == ("id", "customer_id", "kind", "happened_at", "url", "referrer")
    assert pv.pkey is None and pv.fkeys == []  # keys are not inherited in PostgreSQL
    assert "INHERITS" in notes(pg)


def test_pg_kinds(pg):
    kinds = {n: t.kind for n, t in pg.tables.items()}
    assert kinds == {"customers": "entity", "products": "entity", "orders": "entity", "order_items": "activity",
                     "events": "activity", "page_views": "activity", "log": "activity"}


def test_pg_ignored_statements_counted(pg):
    tail = pg.notes[-1]
    assert tail.startswith("ignored:")
    for item in ("2 index", "1 trigger", "1 view", "2 function", "3 sequence", "2 grant", "1 psql meta-command",
                 "2 COPY data block", "2 COMMENT ON", "1 extension"):
        assert item in tail, item
    assert "enum type order_status" in notes(pg)


# --------------------------------------------------------------------------------------------
# MySQL (mysqldump)
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def my() -> pc.Schema:
    return load("mysql_dump.sql")


def test_mysql_tables_and_kinds(my):
    assert "dialect mysql" in my.notes[0]
    assert list(my.tables) == ["departments", "teachers", "students", "courses", "enrollments"]
    t = cols(my.tables["teachers"])
    assert t["gender"].kind == "categorical" and t["gender"].labels == ("f", "m", "x")
    assert t["languages"].kind == "categorical" and t["languages"].labels == ("en", "de", "fr", "es")
    assert t["is_active"].kind == "boolean"  # TINYINT(1)
    assert t["name"].kind == "text"  # NVARCHAR
    assert t["salary"].kind == "numerical"
    assert my.tables["teachers"].time_col == "hired_on"
    s = cols(my.tables["students"])
    assert s["grade"].kind == "categorical" and all(len(x) == 1 for x in s["grade"].labels)  # CHAR(1)
    assert s["active"].kind == "boolean"  # BIT(1)
    assert s["gpa"].kind == "numerical"
    d = cols(my.tables["departments"])
    assert d["founded"].kind == "time" and my.tables["departments"].time_col == "founded"  # YEAR
    assert cols(my.tables["courses"])["credits"].kind == "numerical"  # TINYINT (not a flag)


def test_mysql_skipped_columns(my):
    assert "campus" not in my.tables["departments"].column_order  # POINT
    for name in ("cv", "office", "meta"):  # MEDIUMBLOB, GEOMETRY, JSON
        assert name not in my.tables["teachers"].column_order
    text = notes(my)
    assert "campus (point: spatial type)" in text
    assert "office (GEOMETRY: spatial type)" in text and "cv (MEDIUMBLOB" in text and "meta (JSON" in text


def test_mysql_keys_cycle_and_composite(my):
    dept = my.tables["departments"]
    head = fk(dept, "head_teacher_id")
    assert head.parent == "teachers" and head.nullable and head.deferred  # closes departments <-> teachers
    assert not fk(my.tables["teachers"], "dept_id").deferred
    assert "broken at departments.head_teacher_id -> teachers" in notes(my)
    assert "second pass" in notes(my)
    assert fk(my.tables["students"], "mentor_id").nullable
    enr = my.tables["enrollments"]
    assert enr.composite_key == ("student_id", "course_id") and enr.pkey is None
    assert enr.kind == "activity" and dept.kind == "entity"
    assert my.generation_order()[0] == ["departments"]


def test_mysql_ignored(my):
    tail = my.notes[-1]
    for item in ("2 insert", "4 lock", "1 trigger", "5 drop", "3 index (in CREATE TABLE)"):
        assert item in tail, item


# --------------------------------------------------------------------------------------------
# SQLite
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lite() -> pc.Schema:
    return load("sqlite_schema.sql")


def test_sqlite_schema(lite):
    assert "dialect sqlite" in lite.notes[0]
    assert list(lite.tables) == ["authors", "books", "loans", "book_tags"]
    a = lite.tables["authors"]
    assert a.pkey == "author_id" and cols(a)["country"].labels == ("UK", "US", "FR", "DE")  # column CHECK IN
    assert cols(a)["name"].kind == "text" and a.time_col == "born"
    b = lite.tables["books"]
    bc = cols(b)
    assert bc["format"].kind == "categorical" and bc["format"].labels == ("paper", "hardcover", "ebook")  # table CHECK
    assert bc["in_print"].kind == "boolean" and bc["pages"].kind == "numerical" and bc["price"].kind == "numerical"
    assert bc["extra"].kind == "text"  # no declared type
    assert "cover" not in b.column_order and "cover (BLOB" in notes(lite)
    # several FKs to one parent; REFERENCES [authors] without a column -> its primary key
    assert {(f.column, f.parent, f.parent_column, f.nullable) for f in b.fkeys} == {
        ("author_id", "authors", "author_id", False), ("co_author_id", "authors", "author_id", True)}
    loans = lite.tables["loans"]
    assert cols(loans)["status"].labels == ("O", "R", "L") and loans.time_col == "loaned_at"
    assert cols(loans)["returned_at"].kind == "time"
    tags = lite.tables["book_tags"]  # WITHOUT ROWID, PRIMARY KEY (book_id, tag): a non-FK part
    assert tags.composite_key == ("book_id",) and tags.pkey is None and "tag" in cols(tags)
    assert "composite primary key (book_id, tag) has non-integer non-FK part" in notes(lite)
    tail = lite.notes[-1]
    for item in ("2 index", "1 view", "1 trigger", "2 insert", "1 pragma"):
        assert item in tail, item


# --------------------------------------------------------------------------------------------
# relational features
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def feat() -> pc.Schema:
    return load("features.sql")


def test_features_schema(feat):
    users, teams, tickets, watchers = (feat.tables[n] for n in ("users", "teams", "tickets", "ticket_watchers"))
    assert fk(users, "manager_id").parent == "users" and fk(users, "manager_id").nullable
    # the cycle teams <-> users is closed at the nullable FK
    assert fk(teams, "owner_id").deferred and not fk(users, "team_id").deferred
    assert "reference cycle" in notes(feat) and "teams.owner_id -> users" in notes(feat)
    assert [f.parent for f in tickets.fkeys] == ["users"] * 3
    assert [f.nullable for f in tickets.fkeys] == [False, True, True]
    assert fk(tickets, "reviewer_id").parent_column == "user_id"
    assert cols(tickets)["prio"].labels == ("low", "medium", "high", "urgent")
    assert watchers.composite_key == ("ticket_id", "user_id") and watchers.kind == "activity"
    assert tickets.kind == "entity" and users.kind == "entity"
    assert feat.generation_order() == [["teams"], ["users"], ["tickets"], ["ticket_watchers"]]


def test_cycle_without_nullable_fk_is_broken_deterministically():
    ddl = """
    CREATE TABLE a (id INT PRIMARY KEY, c_id INT NOT NULL);
    CREATE TABLE b (id INT PRIMARY KEY, a_id INT NOT NULL REFERENCES a(id));
    CREATE TABLE c (id INT PRIMARY KEY, b_id INT NOT NULL REFERENCES b(id));
    ALTER TABLE a ADD FOREIGN KEY (c_id) REFERENCES c(id);
    """
    s = schema_from_ddl(ddl, "postgres")
    deferred = [(n, f.column) for n, t in s.tables.items() for f in t.fkeys if f.deferred]
    assert deferred == [("c", "b_id")]  # lexicographically last of the cycle
    assert schema_from_ddl(ddl, "postgres").tables == s.tables
    assert s.generation_order() == [["c"], ["a"], ["b"]]
    assert "lexicographically last" in notes(s)
    assert all(t.kind == "entity" for t in s.tables.values())


def test_self_reference_only_is_activity_when_nobody_else_refers():
    s = schema_from_ddl("CREATE TABLE node (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES node(id), w REAL);")
    t = s.tables["node"]
    assert t.kind == "activity" and fk(t, "parent").parent == "node" and not fk(t, "parent").deferred


def test_fk_to_unique_non_pk_column_and_parent_without_pk():
    s = schema_from_ddl("""
    CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(99) UNIQUE NOT NULL);
    CREATE TABLE codes (code VARCHAR(8) UNIQUE, label TEXT);
    CREATE TABLE logins (at TIMESTAMP, email VARCHAR(99) REFERENCES users(email), code VARCHAR(8) REFERENCES codes(code));
    """)
    logins = s.tables["logins"]
    assert fk(logins, "email").parent == "users" and fk(logins, "email").parent_column == "email"
    assert "users.email, a unique column that is not the primary key" in notes(s)
    assert s.tables["codes"].pkey == "code"  # no PK: the referenced unique column becomes the key
    assert "generated as the key" in notes(s)
    assert logins.pkey is None and logins.composite_key == ()


def test_primary_key_variants():
    s = schema_from_ddl("""
    CREATE TABLE orders (id UUID PRIMARY KEY, total DECIMAL(9,2));
    CREATE TABLE lines (order_id UUID NOT NULL REFERENCES orders, line_no INT NOT NULL, qty INT,
                        PRIMARY KEY (order_id, line_no));
    CREATE TABLE profile (order_id UUID PRIMARY KEY REFERENCES orders(id), memo TEXT);
    CREATE TABLE pairs (a UUID NOT NULL REFERENCES orders, b UUID NOT NULL REFERENCES orders, UNIQUE (a, b));
    CREATE TABLE loose (x INT, y TEXT);
    CREATE TABLE later (k BIGINT NOT NULL, v TEXT);
    ALTER TABLE later ADD PRIMARY KEY (k);
    ALTER TABLE later ADD COLUMN extra DOUBLE PRECISION;
    """, "postgres")
    assert s.tables["orders"].pkey == "id" and "values generated as integers" in notes(s)
    lines = s.tables["lines"]
    assert lines.pkey == "line_no" and lines.composite_key == () and fk(lines, "order_id").parent == "orders"
    assert not fk(lines, "order_id").nullable
    assert "line_no is generated as a unique row number" in notes(s)
    prof = s.tables["profile"]
    assert prof.pkey is None and prof.composite_key == ("order_id",) and "one-to-one" in notes(s)
    pairs = s.tables["pairs"]
    assert pairs.pkey is None and pairs.composite_key == ("a", "b")
    loose = s.tables["loose"]
    assert loose.pkey is None and loose.composite_key == () and {c.name for c in loose.features} == {"x", "y"}
    later = s.tables["later"]
    assert later.pkey == "k" and later.column_order == ("k", "v", "extra")
    assert cols(later)["extra"].kind == "numerical"


def test_schema_qualified_and_same_name_in_two_schemas():
    s = schema_from_ddl("""
    CREATE TABLE IF NOT EXISTS public.users (id SERIAL PRIMARY KEY);
    CREATE TABLE IF NOT EXISTS users (id SERIAL PRIMARY KEY);
    CREATE TABLE sales.items (id INT PRIMARY KEY, user_id INT REFERENCES users(id));
    CREATE TABLE stock.items (id INT PRIMARY KEY, sale_item INT REFERENCES sales.items(id));
    """)
    assert list(s.tables) == ["users", "sales.items", "stock.items"]
    assert fk(s.tables["stock.items"], "sale_item").parent == "sales.items"
    assert fk(s.tables["sales.items"], "user_id").parent == "users"
    assert "repeats a table" in notes(s)


def test_dialect_detection_and_choice():
    assert detect_dialect("CREATE TABLE `a` (id INT AUTO_INCREMENT) ENGINE=InnoDB;")[0] == "mysql"
    assert detect_dialect("CREATE TABLE a (id SERIAL, x TEXT DEFAULT 'a'::text);")[0] == "postgres"
    assert detect_dialect("\\c mydb\nCREATE TABLE a (id INT);")[0] == "postgres"
    assert detect_dialect("CREATE TABLE [a] ([id] INTEGER PRIMARY KEY AUTOINCREMENT);")[0] == "sqlite"
    assert detect_dialect("CREATE TABLE a (id INT, v INT[]);")[0] == "postgres"
    ddl = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
    for d in ("sqlite", "postgres", "postgresql", "mysql", "auto", None):
        assert schema_from_ddl(ddl, d).tables["t"].pkey == "id"
    assert "chosen" in schema_from_ddl(ddl, "mysql").notes[0]
    with pytest.raises(DDLError, match="unknown dialect 'oracle'"):
        schema_from_ddl(ddl, "oracle")


def test_check_or_and_numeric_in_list():
    s = schema_from_ddl("""CREATE TABLE r (id INT PRIMARY KEY, stars INT CHECK (stars IN (1, 2, 3)),
        side VARCHAR(5), CONSTRAINT c1 CHECK (side = 'left' OR side = 'right'), amount INT CHECK (amount > 0));""")
    c = cols(s.tables["r"])
    assert c["stars"].kind == "categorical" and c["stars"].labels == ("1", "2", "3")
    assert c["side"].labels == ("left", "right") and c["amount"].kind == "numerical"


# --------------------------------------------------------------------------------------------
# statement splitting
# --------------------------------------------------------------------------------------------

def test_split_statements_respects_bodies_copy_and_meta_commands():
    text = ("\\connect db\nCREATE FUNCTION f() RETURNS int AS $x$ SELECT 1; $x$;\n"
            "COPY t (a) FROM stdin;\n1;2\n\\.\n"
            "-- c; d\nCREATE TABLE t (a TEXT DEFAULT ';');\n/* x; y */ SELECT 1")
    sp = split_statements(text, "postgres")
    assert [s.text.split()[0] for s in sp.statements] == ["CREATE", "COPY", "CREATE", "SELECT"]
    assert [s.line for s in sp.statements] == [2, 3, 7, 8]
    assert sp.meta_commands == 1 and sp.copy_blocks == 1
    my = split_statements("DELIMITER ;;\nCREATE TRIGGER x BEGIN SET a = 'it\\'s;'; END;;\nDELIMITER ;\nSELECT 2;", "mysql")
    assert len(my.statements) == 2 and my.statements[1].text == "SELECT 2"


# --------------------------------------------------------------------------------------------
# hostile names
# --------------------------------------------------------------------------------------------

APOSTROPHE = "it's"
HOSTILE = ["../x", 'we"ird', "with space", "ünï cødé ☃", "drop table; --", "a.b"]


@pytest.mark.parametrize("dialect", ["postgres", "sqlite", "mysql"])
def test_hostile_names_unchanged(dialect):
    def q(name: str) -> str:
        if dialect == "mysql":
            return "`" + name.replace("`", "``") + "`"
        return '"' + name.replace('"', '""') + '"'
    cols_sql = ", ".join(f"{q(n)} INTEGER" for n in HOSTILE)
    ddl = (f"CREATE TABLE {q('../parent')} ({q('id ü')} INTEGER PRIMARY KEY, {cols_sql});\n"
           f"CREATE TABLE {q('child; table')} ({q('../fk')} INTEGER REFERENCES {q('../parent')} ({q('id ü')}), "
           f"{q(APOSTROPHE)} TEXT);")
    s = schema_from_ddl(ddl, dialect)
    assert list(s.tables) == ["../parent", "child; table"]
    parent = s.tables["../parent"]
    assert parent.pkey == "id ü" and [c.name for c in parent.features] == HOSTILE
    child = s.tables["child; table"]
    assert child.fkeys[0].column == "../fk" and child.fkeys[0].parent == "../parent"
    assert child.fkeys[0].parent_column == "id ü" and cols(child)[APOSTROPHE].kind == "text"


def test_sqlite_bracket_identifiers_with_spaces():
    s = schema_from_ddl("CREATE TABLE [my table] ([my id] INTEGER PRIMARY KEY AUTOINCREMENT, [a;b] TEXT);")
    assert s.tables["my table"].pkey == "my id" and cols(s.tables["my table"])["a;b"].kind == "text"


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------

def test_syntax_error_reports_line():
    ddl = "-- header\n\nCREATE TABLE ok (id INT PRIMARY KEY);\n\nCREATE TABLE bad (\n  id INT,\n  name foo bar baz,\n  x INT\n);\n"
    with pytest.raises(DDLError) as e:
        schema_from_ddl(ddl, "postgres")
    assert e.value.line == 7 and str(e.value).startswith("line 7: syntax error")
    assert "bad" in str(e.value)


@pytest.mark.parametrize("ddl, message", [
    ("", "empty"),
    ("   \n\t\n", "empty"),
    ("-- only a comment\n/* and another */", "no CREATE TABLE"),
    ("CREATE INDEX i ON t (a); INSERT INTO t VALUES (1);", "no CREATE TABLE"),
    ("CREATE TABLE a (id INT PRIMARY KEY, b_id INT REFERENCES b(id));", "unknown table b"),
    ("CREATE TABLE b (id INT PRIMARY KEY);\nCREATE TABLE a (id INT, b_id INT REFERENCES b(nope));",
     "unknown column 'nope' of b"),
    ("CREATE TABLE b (id INT PRIMARY KEY);\nCREATE TABLE a (id INT, FOREIGN KEY (zz) REFERENCES b(id));",
     "unknown column 'zz'"),
    ("CREATE TABLE b (x INT);\nCREATE TABLE a (b_x INT REFERENCES b);", "has no primary key"),
    ("CREATE TABLE a (id INT);\nCREATE TABLE a (id INT);", "line 2: duplicate table a"),
    ("CREATE TABLE a (id INT, id TEXT);", "duplicate column 'id'"),
    ("CREATE TABLE a (id INT,, b INT);", "line 1: empty column definition"),
    ("CREATE TABLE a (id INT, name TEXT DEFAULT 'oops);", "unterminated string"),
    ("CREATE TABLE a (id INT); /* never closed", "unterminated /\\* comment"),
    ("CREATE TABLE a (id INT PRIMARY KEY);\nALTER TABLE zz ADD FOREIGN KEY (id) REFERENCES a(id);",
     "line 2: ALTER TABLE names unknown table zz"),
    ("CREATE TABLE a (id INT PRIMARY KEY, PRIMARY KEY (id, x));", "two primary keys"),
])
def test_bad_input_raises_ddl_error(ddl, message):
    with pytest.raises(DDLError, match=message):
        schema_from_ddl(ddl)


def test_size_limit_refused_up_front():
    big = "CREATE TABLE t (id INT);\n" + "-- " + "x" * MAX_DDL_BYTES + "\n"
    with pytest.raises(DDLError, match="limit is 1,048,576 bytes"):
        schema_from_ddl(big)
    with pytest.raises(DDLError, match="limit"):
        schema_from_ddl(big.encode())
    just = "CREATE TABLE t (id INT);\n"
    assert schema_from_ddl(just + "-" * (MAX_DDL_BYTES - len(just))).tables["t"]


def test_bytes_input_and_bad_encoding():
    assert "t" in schema_from_ddl("\ufeffCREATE TABLE t (id INT);".encode()).tables
    with pytest.raises(DDLError, match="UTF-8"):
        schema_from_ddl(b"CREATE TABLE t (id INT, n TEXT DEFAULT '\xff');")
    assert issubclass(DDLError, ValueError) and pc.DDLError is DDLError


def test_text_is_never_executed(tmp_path):
    target = tmp_path / "attached.db"
    ddl = f"ATTACH DATABASE '{target}' AS x;\nCREATE TABLE x.t (id INT);\nCREATE TABLE t (id INT);"
    s = schema_from_ddl(ddl, "sqlite")
    assert not target.exists() and "t" in s.tables


# --------------------------------------------------------------------------------------------
# end to end: each fixture generates a database that matches its DDL
# --------------------------------------------------------------------------------------------

def check_database(schema: pc.Schema, db) -> None:
    assert list(sorted(db.tables)) == sorted(schema.tables)
    for name, spec in schema.tables.items():
        t = db.tables[name]
        df = t.df
        assert tuple(df.columns) == spec.column_order, name
        assert t.pkey_col == spec.pkey and t.time_col == spec.time_col
        assert tuple(t.composite_key) == spec.composite_key
        assert t.fkey_col_to_pkey_table == {f.column: f.parent for f in spec.fkeys}
        if spec.pkey:
            assert np.array_equal(df[spec.pkey].to_numpy(), np.arange(len(df)))
        for f in spec.fkeys:
            values = df[f.column]
            parent = db.tables[f.parent]
            if not f.nullable:
                assert not values.isna().any(), (name, f.column)
            present = values.dropna().astype(np.int64)
            if parent.pkey_col:
                assert present.isin(parent.df[parent.pkey_col]).all(), (name, f.column)
            else:
                assert ((present >= 0) & (present < len(parent.df))).all()
        if spec.composite_key:
            assert not df.duplicated(list(spec.composite_key)).any(), name
        for c in spec.features:
            col = df[c.name]
            if c.kind == "time":
                assert pd.api.types.is_datetime64_any_dtype(col), (name, c.name)
            elif c.labels is not None and c.kind != "boolean":
                assert set(col.dropna().astype(str)) <= set(c.labels), (name, c.name)
            elif c.kind == "numerical":
                assert pd.api.types.is_float_dtype(col)


@pytest.mark.parametrize("fixture", ["postgres_dump.sql", "mysql_dump.sql", "sqlite_schema.sql", "features.sql"])
def test_fixture_generates_matching_database(fixture):
    schema = load(fixture)
    db = pc.generate(small_config(), 3, schema=schema)
    check_database(schema, db)
    for name, spec in schema.tables.items():
        for f in spec.fkeys:
            assert db.trace.links[f"{name}.{f.column}"].deferred == f.deferred


# --------------------------------------------------------------------------------------------
# property: random small valid DDL schemas parse and generate
# --------------------------------------------------------------------------------------------

TYPES = {
    "postgres": [("INTEGER", "numerical"), ("NUMERIC(8,2)", "numerical"), ("DOUBLE PRECISION", "numerical"),
                 ("BOOLEAN", "boolean"), ("VARCHAR(20)", "text"), ("TEXT", "text"), ("UUID", "text"),
                 ("TIMESTAMP", "time"), ("DATE", "time"), ("CHAR(1)", "categorical"), ("BYTEA", None),
                 ("JSONB", None), ("INT[]", None)],
    "mysql": [("INT", "numerical"), ("DECIMAL(8,2)", "numerical"), ("DOUBLE", "numerical"),
              ("TINYINT(1)", "boolean"), ("VARCHAR(20)", "text"), ("TEXT", "text"), ("DATETIME", "time"),
              ("YEAR", "time"), ("ENUM('a','b','c')", "categorical"), ("BLOB", None), ("POINT", None)],
    "sqlite": [("INTEGER", "numerical"), ("REAL", "numerical"), ("BOOLEAN", "boolean"), ("TEXT", "text"),
               ("NVARCHAR(20)", "text"), ("DATETIME", "time"), ("CHAR(1)", "categorical"), ("BLOB", None)],
}


@st.composite
def ddl_schemas(draw):
    dialect = draw(st.sampled_from(sorted(TYPES)))
    n = draw(st.integers(1, 4))
    q = (lambda s: f"`{s}`") if dialect == "mysql" else (lambda s: f'"{s}"')
    tables = []
    for i in range(n):
        cols_ = [(f"c{k}", *draw(st.sampled_from(TYPES[dialect]))) for k in range(draw(st.integers(0, 4)))]
        parents = draw(st.lists(st.integers(0, i - 1), max_size=2)) if i else []
        fks = [(f"fk{k}", f"t{p}", draw(st.booleans())) for k, p in enumerate(parents)]
        tables.append((f"t{i}", cols_, fks))
    back = draw(st.booleans()) and n > 1  # a reference from the first table to the last: a cycle
    stmts = []
    for name, cols_, fks in tables:
        parts = [f"{q('id')} INTEGER PRIMARY KEY"]
        parts += [f"{q(c)} {typ}" for c, typ, _ in cols_]
        parts += [f"{q(c)} INTEGER{' NOT NULL' if not nullable else ''} REFERENCES {q(p)} ({q('id')})"
                  for c, p, nullable in fks]
        if back and name == "t0":
            parts.append(f"{q('back')} INTEGER")
        stmts.append(f"CREATE TABLE {q(name)} (\n  " + ",\n  ".join(parts) + "\n);")
    if back:
        stmts.append(f"ALTER TABLE {q('t0')} ADD CONSTRAINT {q('b')} FOREIGN KEY ({q('back')}) "
                     f"REFERENCES {q(f't{n - 1}')} ({q('id')});")
    return dialect, "\n".join(stmts), tables, back


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ddl_schemas(), st.integers(0, 2**16))
def test_random_ddl_parses_and_generates(case, seed):
    dialect, ddl, tables, back = case
    schema = schema_from_ddl(ddl, dialect if seed % 2 else None)
    assert list(schema.tables) == [t[0] for t in tables]
    for name, cols_, fks in tables:
        spec = schema.tables[name]
        assert spec.pkey == "id"
        assert {c.name: c.kind for c in spec.features} == {c: k for c, _, k in cols_ if k is not None}
        assert [(f.column, f.parent, f.nullable) for f in spec.fkeys if f.column != "back"] == fks
    assert any(f.deferred for t in schema.tables.values() for f in t.fkeys) == nx_has_cycle(schema)
    db = pc.generate(small_config(), seed, schema=schema)
    check_database(schema, db)


def nx_has_cycle(schema: pc.Schema) -> bool:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(schema.tables)
    for n, t in schema.tables.items():
        for f in t.fkeys:
            if f.parent != n:
                g.add_edge(f.parent, n)
    return not nx.is_directed_acyclic_graph(g)


def test_odd_statements_do_not_spoil_the_file():
    ddl = ("CREATE FUNCTION broken((( RETURNS AS nonsense;\r\n"
           "CREATE TABLE src (id INT PRIMARY KEY, v TEXT);\r\n"
           "CREATE TABLE copy_of (LIKE src INCLUDING ALL, w INT);\r\n"
           "CREATE TABLE t (a INT, b INT, z BIT VARYING(5), q BIT(3), PRIMARY KEY (a ASC, b DESC));\r\n"
           "CREATE TABLE snap AS SELECT * FROM src;\r\n"
           "ALTER TABLE src OWNER TO someone;\r\n")
    s = schema_from_ddl(ddl, "postgres")
    assert list(s.tables) == ["src", "copy_of", "t"]
    assert s.tables["copy_of"].column_order == ("id", "v", "w") and "(LIKE)" in notes(s)
    t = s.tables["t"]
    assert t.pkey == "a" and t.column_order == ("a", "b")
    assert "z (VARBIT(5): bit string)" in notes(s) and "q (BIT(3): bit string)" in notes(s)
    assert "skipped snap: CREATE TABLE ... AS SELECT" in notes(s)
    assert "1 function" in s.notes[-1] and "1 ALTER TABLE ... OWNER TO" in s.notes[-1]


def test_key_statement_that_fails_to_parse_is_an_error_with_its_line():
    with pytest.raises(DDLError, match=r"^line 3: syntax error in ALTER TABLE: .*end of the statement"):
        schema_from_ddl("CREATE TABLE t (id INT);\n\nALTER TABLE t ADD CONSTRAINT x FOREIGN KEY (id) REFERENCES;", "postgres")
    with pytest.raises(DDLError, match=r"^line 2: syntax error in CREATE TABLE t: .* near '\)'"):
        schema_from_ddl("CREATE TABLE t (\n  b INT REFERENCES);", "postgres")


CROSS_DIALECT = """
CREATE TABLE {q}teams{q} (
  {q}id{q} {serial} PRIMARY KEY,
  {q}name{q} VARCHAR(40) NOT NULL,
  {q}lead_id{q} INTEGER,
  {q}tier{q} CHAR(1),
  {q}region{q} VARCHAR(8) CHECK ({q}region{q} IN ('north', 'south')),
  {q}flag{q} {boolean},
  {q}founded{q} DATE
);
CREATE TABLE {q}people{q} (
  {q}id{q} {serial} PRIMARY KEY,
  {q}team_id{q} INTEGER NOT NULL,
  {q}mentor_id{q} INTEGER REFERENCES {q}people{q} ({q}id{q}),
  {q}score{q} DOUBLE PRECISION,
  {q}joined{q} TIMESTAMP NOT NULL,
  {q}raw{q} {blob},
  CONSTRAINT {q}fk_team{q} FOREIGN KEY ({q}team_id{q}) REFERENCES {q}teams{q} ({q}id{q})
){tail};
CREATE TABLE {q}memberships{q} (
  {q}person_id{q} INTEGER NOT NULL REFERENCES {q}people{q} ({q}id{q}),
  {q}team_id{q} INTEGER NOT NULL REFERENCES {q}teams{q} ({q}id{q}),
  {q}role{q} TEXT,
  PRIMARY KEY ({q}person_id{q}, {q}team_id{q})
){tail};
ALTER TABLE {q}teams{q} ADD CONSTRAINT {q}fk_lead{q} FOREIGN KEY ({q}lead_id{q}) REFERENCES {q}people{q} ({q}id{q});
"""

DIALECT_BITS = {
    "postgres": dict(q='"', serial="SERIAL", boolean="BOOLEAN", blob="BYTEA", tail=""),
    "mysql": dict(q="`", serial="INT AUTO_INCREMENT", boolean="TINYINT(1)", blob="LONGBLOB", tail=" ENGINE=InnoDB"),
    "sqlite": dict(q='"', serial="INTEGER", boolean="BOOLEAN", blob="BLOB", tail=""),
}


@pytest.mark.parametrize("dialect", sorted(DIALECT_BITS))
def test_same_schema_in_three_dialects(dialect):
    s = schema_from_ddl(CROSS_DIALECT.format(**DIALECT_BITS[dialect]), dialect)
    teams, people, members = s.tables["teams"], s.tables["people"], s.tables["memberships"]
    assert {c.name: c.kind for c in teams.features} == {
        "name": "text", "tier": "categorical", "region": "categorical", "flag": "boolean", "founded": "time"}
    assert cols(teams)["region"].labels == ("north", "south") and teams.time_col == "founded"
    assert fk(teams, "lead_id").deferred and fk(teams, "lead_id").nullable  # closes teams <-> people
    assert not fk(people, "team_id").deferred and not fk(people, "team_id").nullable
    assert fk(people, "mentor_id").parent == "people" and fk(people, "mentor_id").nullable
    assert "raw" not in people.column_order and "raw (" in notes(s)
    assert people.time_col == "joined" and cols(people)["score"].kind == "numerical"
    assert members.composite_key == ("person_id", "team_id") and members.pkey is None
    assert [t.kind for t in s.tables.values()] == ["entity", "entity", "activity"]
    assert teams.pkey == "id" and people.pkey == "id"


SQL_BITS = st.sampled_from([
    "CREATE TABLE ", "t", "u", " (", ")", ", ", ";", "\n", "id INT", " PRIMARY KEY", " REFERENCES t(id)",
    " NOT NULL", "'", '"', "`", "[", "]", "$$", "--", "/*", "*/", "\\c x\n", "COPY t FROM stdin;\n",
    "ALTER TABLE t ADD ", "FOREIGN KEY (id)", "CHECK (id IN (1, 2))", " ENUM('a')", "CREATE TYPE e AS ENUM ('x');",
    " TEXT", " int[]", " POINT", "INHERITS (t)", "PARTITION OF t", "DELIMITER ;;\n", "#", "é", "\x00",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(SQL_BITS, max_size=30).map("".join), st.sampled_from([None, "postgres", "mysql", "sqlite"]))
def test_garbage_gives_a_schema_or_ddl_error(text, dialect):
    try:
        s = schema_from_ddl(text, dialect)
    except DDLError as e:
        assert str(e)
    else:
        assert s.tables and s.source == "ddl"
