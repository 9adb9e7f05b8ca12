"""The ``plurel`` command line, run as a user runs it (subprocess) and in-process for speed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import plurel_core as pc
from plurel_core.batch import read_index
from plurel_core.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = pc.Config.preset("demo")


def plurel(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plurel_core.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _assert_same_tables(loaded, db) -> None:
    assert list(loaded.tables) == list(db.tables)
    for name, t in db.tables.items():
        pd.testing.assert_frame_equal(loaded.tables[name].df, t.df)
        assert loaded.tables[name].pkey_col == t.pkey_col
        assert loaded.tables[name].fkey_col_to_pkey_table == t.fkey_col_to_pkey_table


def test_generate_writes_a_zip_equal_to_pc_generate(tmp_path):
    target = tmp_path / "demo3.zip"
    res = plurel("generate", "--preset", "demo", "--seed", "3", "--out", str(target))
    assert res.returncode == 0, res.stderr
    db = pc.generate(DEMO, 3)
    assert f"wrote {target}" in res.stdout and f"{len(db.tables)} tables" in res.stdout
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in res.stdout
    _assert_same_tables(pc.load_database(target), db)
    with zipfile.ZipFile(target) as zf:  # and without our loader: plain pandas on the Parquet files
        for name, t in db.tables.items():
            with zf.open(f"{db.name}/db/{name}.parquet") as fh:
                assert len(pd.read_parquet(fh)) == len(t)
        saved = json.loads(zf.read(f"{db.name}/config.json"))
    assert pc.Config.from_dict(saved["config"]) == DEMO and saved["seed"] == 3


def test_generate_into_a_directory_with_sets_formats_and_json(tmp_path):
    code = main(["generate", "--preset", "demo", "--seed", "1", "--out", str(tmp_path),
                 "--set", "schema.num_tables=3", "--set", "scm.activations=relu,TANH",
                 "--set", "postprocess.binarize=false", "--set", "graphs.ws_k=2,4",
                 "--formats", "csv,sql", "--json"])
    assert code == 0
    config = DEMO.replace(**{"schema.num_tables": (3, 3), "scm.activations": ("relu", "tanh"),
                             "postprocess.binarize": False, "graphs.ws_k": (2, 4)})
    db = pc.generate(config, 1)
    target = tmp_path / f"{db.name}.zip"
    assert len(db.tables) == 3 and target.exists()
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
    assert any(n.endswith("schema.sql") for n in names) and any("/csv/" in n for n in names)
    assert not any(n.endswith(".parquet") or n.endswith(".sqlite") for n in names)
    _assert_same_tables(pc.load_database(target), db)


def test_generate_folder_layout_and_config_file(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(DEMO.replace(**{"schema.num_tables": (4, 4)}).to_json())
    assert main(["generate", "--config", str(cfg), "--seed", "2", "--format", "folder",
                 "--out", str(tmp_path / "db2")]) == 0
    db = pc.generate(pc.Config.from_json(cfg.read_text()), 2)
    assert (tmp_path / "db2" / "manifest.json").exists() and len(db.tables) == 4
    _assert_same_tables(pc.load_database(tmp_path / "db2"), db)
    capsys.readouterr()


@pytest.mark.parametrize("setting, field", [
    ("schema.num_tables=0..3", "schema.num_tables"),
    ("schema.num_tables=9..3", "schema.num_tables"),
    ("schema.num_tables=three", "schema.num_tables"),
    ("scm.activations=relu,nope", "scm.activations"),
    ("links.hsbm_diagonal=1.5", "links.hsbm_diagonal"),
    ("postprocess.binarize=maybe", "postprocess.binarize"),
    ("schema.start_date=yesterday", "schema.start_date"),
    ("schema.num_tabels=3", "schema.num_tabels"),
    ("nosection", "nosection"),
])
def test_bad_set_exits_2_naming_the_field(setting, field, tmp_path, capsys):
    code = main(["generate", "--preset", "demo", "--seed", "0", "--set", setting, "--out", str(tmp_path / "x.zip")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"plurel: error: {field}")
    assert not (tmp_path / "x.zip").exists()


def test_errors_in_a_real_shell_have_no_traceback(tmp_path):
    res = plurel("generate", "--seed", "0", "--set", "schema.num_tables=0..3", "--out", str(tmp_path / "x.zip"))
    assert res.returncode == 2
    assert "schema.num_tables" in res.stderr and "[1, 100]" in res.stderr
    assert "Traceback" not in res.stderr
    res = plurel("generate", "--seed", "0", "--set", "schema.num_tabels=3", "--out", str(tmp_path / "x.zip"))
    assert res.returncode == 2 and "did you mean schema.num_tables" in res.stderr
    res = plurel("generate", "--preset", "nope", "--seed", "0", "--out", str(tmp_path / "x.zip"))
    assert res.returncode == 2 and "preset" in res.stderr and "Traceback" not in res.stderr
    res = plurel("generate", "--config", str(tmp_path / "missing.json"), "--seed", "0", "--out", "x.zip")
    assert res.returncode == 2 and "--config" in res.stderr and "Traceback" not in res.stderr
    res = plurel("generate", "--preset", "paper", "--seed", "0", "--max-cells", "1000", "--out", str(tmp_path / "x.zip"))
    assert res.returncode == 2 and "SizeError" not in res.stderr and "1,000" in res.stderr
    assert not (tmp_path / "x.zip").exists()


def test_batch_command_index_resume_and_failures(tmp_path):
    out = tmp_path / "run"
    res = plurel("batch", "--preset", "demo", "--count", "6", "--start", "10", "--out", str(out),
                 "--workers", "2")
    assert res.returncode == 0, res.stderr
    assert "batch finished: 6 done, 0 failed" in res.stdout
    assert "db/s" in res.stderr and "ETA" in res.stderr  # progress on stderr
    index = read_index(out)
    assert sorted(index) == list(range(10, 16))
    assert all(r["status"] == "ok" and (out / r["path"]).exists() for r in index.values())

    res = plurel("batch", "--preset", "demo", "--seeds", "10..17", "--out", str(out), "--workers", "1",
                 "--resume", "--quiet", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (2, 6, 0)
    assert res.stderr == ""

    # one budget for all: the seeds over it are recorded as failed, the run goes on, exit code 1
    estimates = {s: pc.estimate_cells(DEMO, s) for s in range(20, 26)}
    budget = sorted(estimates.values())[2]
    res = plurel("batch", "--preset", "demo", "--seeds", "20..25", "--out", str(out), "--workers", "2",
                 "--max-cells", str(budget), "--quiet")
    assert res.returncode == 1
    index = read_index(out)
    failed = {s for s in range(20, 26) if index[s]["status"] == "failed"}
    assert failed == {s for s, c in estimates.items() if c > budget}
    assert f"{len(failed)} failed" in res.stdout
    assert all("SizeError" in index[s]["error"] for s in failed)


def test_batch_bad_input(tmp_path, capsys):
    assert main(["batch", "--preset", "demo", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert main(["batch", "--preset", "demo", "--seeds", "3..1", "--out", str(tmp_path)]) == 2
    assert "seeds" in capsys.readouterr().err
    assert main(["batch", "--preset", "demo", "--seeds", "1", "--formats", "xlsx", "--out", str(tmp_path)]) == 2
    assert "xlsx" in capsys.readouterr().err
    assert main(["batch", "--preset", "demo", "--seeds", "1", "--scheduler", "tcp://x:1", "--out", str(tmp_path)]) == 2
    assert "--backend dask" in capsys.readouterr().err


def test_presets_lists_every_preset_with_its_description(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in pc.Config.preset_names():
        line = next(line for line in out.splitlines() if line.split()[0] == name)
        assert pc.Config.preset_description(name) in line
    assert main(["presets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == pc.Config.preset_names()


def test_priors_lists_every_knob_with_value_and_bounds(capsys):
    assert main(["priors", "--preset", "demo", "--json"]) == 0
    rows = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    specs = pc.prior_specs()
    assert list(rows) == [s.path for s in specs]
    assert rows["schema.num_tables"]["value"] == {"lo": 3, "hi": 6}
    assert rows["schema.num_tables"]["bounds"] == [1, 100]
    assert rows["scm.activations"]["options"] == list(next(s for s in specs if s.path == "scm.activations").options)
    assert main(["priors"]) == 0
    text = capsys.readouterr().out
    for s in specs:
        assert s.path in text
    assert "schema.num_tables" in text and "3..20" in text and "bounds [1, 100]" in text


def test_estimate_prints_the_core_estimates(capsys):
    assert main(["estimate", "--preset", "paper", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    cells, nbytes = pc.estimate_cells(pc.Config(), 4), pc.estimate_bytes(pc.Config(), 4)
    assert f"{cells:,} cells" in out and f"{nbytes:,} bytes" in out
    assert main(["estimate", "--preset", "demo", "--seeds", "0..2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["seed"] for e in data["estimates"]] == [0, 1, 2]
    assert data["total"]["cells"] == sum(pc.estimate_cells(DEMO, s) for s in range(3))


DDL = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, country TEXT CHECK (country IN ('FR', 'DE')), age INTEGER);
CREATE TABLE orders (
  order_id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (id),
  amount REAL,
  placed_at TIMESTAMP NOT NULL
);
"""


def test_ddl_command_generates_on_the_sql_schema(tmp_path, capsys):
    sql = tmp_path / "shop.sql"
    sql.write_text(DDL)
    target = tmp_path / "shop.zip"
    assert main(["ddl", str(sql), "--preset", "demo", "--seed", "5", "--out", str(target)]) == 0
    db = pc.generate(DEMO, 5, pc.schema_from_ddl(DDL))
    loaded = pc.load_database(target)
    assert set(loaded.tables) == {"customers", "orders"}
    _assert_same_tables(loaded, db)
    bad = tmp_path / "bad.sql"
    bad.write_text("this is not SQL at all;")
    capsys.readouterr()
    assert main(["ddl", str(bad), "--seed", "0", "--out", str(tmp_path / "bad.zip")]) == 2
    assert capsys.readouterr().err.startswith("plurel: error:")


def test_config_json_of_a_ddl_export_regenerates_on_its_schema(tmp_path):
    sql = tmp_path / "shop.sql"
    sql.write_text(DDL)
    first = tmp_path / "first.zip"
    assert main(["ddl", str(sql), "--preset", "demo", "--seed", "4", "--out", str(first)]) == 0
    with zipfile.ZipFile(first) as zf:
        name = next(n for n in zf.namelist() if n.endswith("/config.json"))
        (tmp_path / "config.json").write_bytes(zf.read(name))
    assert json.loads((tmp_path / "config.json").read_text())["schema_ddl"] == DDL
    again = tmp_path / "again.zip"
    assert main(["generate", "--config", str(tmp_path / "config.json"), "--seed", "4", "--out", str(again)]) == 0
    assert set(pc.load_database(again).tables) == {"customers", "orders"}
    assert first.read_bytes() == again.read_bytes()


@pytest.mark.parametrize("command", ["generate", "batch", "presets", "priors", "estimate", "ddl"])
def test_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: plurel {command}" in out
    if command not in ("presets",):
        assert "examples:" in out


# --- plurel stats / plurel compare --------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_batch(tmp_path_factory):
    """A small `plurel batch --preset demo` output folder (seeds 0..4)."""
    out = tmp_path_factory.mktemp("stats") / "demo"
    assert main(["batch", "--preset", "demo", "--seeds", "0..4", "--out", str(out), "--backend", "inline",
                 "--quiet"]) == 0
    return out


def _same(a: float | None, b: float) -> bool:
    return (a is None and b != b) or (a is not None and a == pytest.approx(b, rel=1e-12, abs=1e-12))


def test_stats_figures_equal_the_figures_of_each_database(demo_batch, tmp_path, capsys):
    import numpy as np

    from plurel_core import stats

    target = tmp_path / "figures.json"
    assert main(["stats", str(demo_batch), "--json", str(target)]) == 0
    out = capsys.readouterr().out
    data = json.loads(target.read_text())
    index = read_index(demo_batch)
    assert [d["seed"] for d in data["databases"]] == list(range(5))
    rows = []
    for entry in data["databases"]:
        seed = entry["seed"]
        direct = stats.database_figures(pc.generate(DEMO, seed))  # in Python, from the generator
        loaded = stats.database_figures(pc.load_database(demo_batch / index[seed]["path"]),
                                        seconds=index[seed]["seconds"])
        for name in stats.FIGURES:
            if name == "seconds":  # a loaded export has no timings: the batch index's seconds
                assert entry[name] == index[seed]["seconds"] == loaded[name]
            else:
                assert _same(entry[name], direct[name]) and _same(entry[name], loaded[name]), (seed, name)
        rows.append({n: (entry[n] if entry[n] is not None else float("nan")) for n in stats.FIGURES})
    frame = pd.DataFrame(rows)
    for name in stats.FIGURES:
        values = frame[name].dropna().to_numpy()
        summary = data["summary"][name]
        assert summary["n"] == len(values)
        assert summary["median"] == pytest.approx(float(np.median(values)))
        assert summary["p10"] == pytest.approx(float(np.percentile(values, 10)))
        assert summary["p90"] == pytest.approx(float(np.percentile(values, 90)))
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert f"{np.median(values):.4g}" in line.split()  # the printed median
    assert "5 databases" in out


def test_compare_of_a_folder_with_itself_gives_ks_zero(demo_batch, capsys):
    from plurel_core import stats

    assert main(["compare", str(demo_batch), str(demo_batch), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert sorted(r["figure"] for r in table) == sorted(stats.FIGURES)
    for row in table:
        assert row["KS statistic"] == 0.0 and row["p-value"] == 1.0, row
        assert row["n A"] == row["n B"] == 5
    assert main(["compare", str(demo_batch), str(demo_batch)]) == 0
    text = capsys.readouterr().out
    assert "Kolmogorov-Smirnov" in text and "KS statistic" in text


def test_compare_of_two_presets_matches_ks_table(demo_batch, tmp_path, capsys):
    from plurel_core import stats
    from plurel_core.cli import batch_figures

    other = tmp_path / "three"
    assert main(["batch", "--preset", "demo", "--set", "schema.num_tables=3", "--seeds", "0..4", "--out",
                 str(other), "--backend", "inline", "--quiet"]) == 0
    capsys.readouterr()  # the batch's summary
    assert main(["compare", str(demo_batch), str(other), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    expected = stats.ks_table(batch_figures(str(demo_batch)), batch_figures(str(other)))
    assert [r["figure"] for r in table] == list(expected["figure"])
    tables = next(r for r in table if r["figure"] == "tables")
    assert tables["KS statistic"] == 1.0 and tables["median B"] == 3.0  # demo draws 3..6 tables; B always 3


def test_stats_and_compare_bad_arguments_exit_2(demo_batch, tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["stats", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("plurel: error:") and "no such folder" in err and str(missing) in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["stats", str(empty)]) == 2
    assert "no databases found" in capsys.readouterr().err
    assert main(["compare", str(demo_batch), str(empty)]) == 2
    assert "no databases found" in capsys.readouterr().err
    assert main(["compare", str(missing), str(demo_batch)]) == 2
    assert "no such folder" in capsys.readouterr().err
    res = plurel("stats", str(missing))  # as a user runs it: a message, no traceback
    assert res.returncode == 2 and "no such folder" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("command", ["stats", "compare"])
def test_stats_and_compare_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: plurel {command}" in out and "examples:" in out


# --- the v2 design space: --set of its kinds, plurel priors ---------------------------------------------
V2_SPEC = {s.path: s for s in pc.prior_specs("v2")}


def test_set_parses_each_new_kind():
    from plurel_core.cli import apply_sets, parse_set_value

    marginals = V2_SPEC["v2_columns.column_marginals"]
    assert parse_set_value(marginals, "none:3, Normal:1,outliers:0.5") == {"none": 3.0, "normal": 1.0, "outliers": 0.5}
    assert parse_set_value(V2_SPEC["v2_time.time_calendars"], "business,always:2") == {"business": 1.0, "always": 2.0}
    layouts = V2_SPEC["v2_schema.table_layouts"]  # commas inside an option's parentheses stay with it
    assert parse_set_value(layouts, "RandomTree:2,Layered(depth=3,dropout=0.1):1") == {
        "RandomTree": 2.0, "Layered(depth=3, dropout=0.1)": 1.0}
    assert parse_set_value(V2_SPEC["v2_keys.fk_nullable_prob"], "0.45") == 0.45
    assert parse_set_value(V2_SPEC["v2_mechanisms.node_count"], "2..9") == (2, 9)  # log-uniform int range
    assert parse_set_value(V2_SPEC["v2_warping.kappa"], "1..1e3") == (1.0, 1000.0)
    assert parse_set_value(V2_SPEC["v2_warping.warp"], "off") is False
    cfg = apply_sets(pc.Config(), ["design=v2", "v2_columns.column_marginals=none:3,normal:1",
                                   "v2_keys.fk_nullable_prob=0.45", "v2_mechanisms.fourier_frequency_count=8",
                                   "v2_warping.warp=false"])
    assert cfg.design == "v2" and cfg.v2_mechanisms.fourier_frequency_count == 8
    assert dict(cfg.v2_columns.column_marginals)["none"] == 3.0 and dict(cfg.v2_columns.column_marginals)["lomax"] == 0.0
    assert cfg == pc.Config().replace(design="v2", **{
        "v2_columns.column_marginals": {"none": 3, "normal": 1}, "v2_keys.fk_nullable_prob": 0.45,
        "v2_mechanisms.fourier_frequency_count": 8, "v2_warping.warp": False})


@pytest.mark.parametrize(("setting", "field", "words"), [
    ("v2_columns.column_marginals=bogus:1", "v2_columns.column_marginals", "unknown option"),
    ("v2_columns.column_marginals=none:much", "v2_columns.column_marginals", "a weight"),
    ("v2_columns.column_marginals=none:0,normal:0", "v2_columns.column_marginals", "at least one weight"),
    ("v2_columns.column_marginals=none:-1,normal:1", "v2_columns.column_marginals", "non-negative"),
    ("v2_keys.fk_nullable_prob=1.5", "v2_keys.fk_nullable_prob", "outside the allowed range"),
    ("v2_keys.fk_nullable_prob=often", "v2_keys.fk_nullable_prob", "probability"),
    ("v2_mechanisms.node_count=9..3", "v2_mechanisms.node_count", "greater than"),
    ("design=v3", "design", "'paper' or 'v2'"),
])
def test_bad_v2_set_exits_2_naming_the_field(setting, field, words, capsys):
    assert main(["priors", "--preset", "v2", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.startswith("plurel: error:") and field in err and words in err, err


def test_priors_lists_the_v2_knobs(capsys):
    v2 = pc.Config.preset("v2")
    assert main(["priors", "--preset", "v2", "--json"]) == 0
    rows = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == list(V2_SPEC) and all(r["design"] == "v2" for r in rows.values())
    marg = rows["v2_columns.column_marginals"]
    assert marg["kind"] == "weights" and marg["value"] == aps_plain(v2.get("v2_columns.column_marginals"))
    assert marg["options"] == list(V2_SPEC["v2_columns.column_marginals"].options)
    assert rows["v2_schema.table_count"]["scale"] == "log" and rows["v2_schema.table_count"]["value"] == {"lo": 2, "hi": 20}
    assert rows["v2_keys.fk_nullable_prob"] == {**rows["v2_keys.fk_nullable_prob"], "kind": "prob", "value": 0.3,
                                                "bounds": [0.0, 1.0]}
    assert main(["priors", "--preset", "v2", "--set", "v2_columns.column_marginals=none:3,lomax:1"]) == 0
    text = capsys.readouterr().out
    assert "design v2" in text and "option:weight" in text
    for path in V2_SPEC:
        assert path in text
    assert "schema.num_tables " not in text  # the paper's knobs belong to the other design space
    lines = text.splitlines()
    line = next(i for i, t in enumerate(lines) if t.startswith("v2_columns.column_marginals"))
    assert lines[line].endswith("= none:3,lomax:1") and "weights >= 0" in lines[line + 1]
    line = next(i for i, t in enumerate(lines) if t.startswith("v2_schema.table_count"))
    assert "log-uniform" in lines[line + 1] and "bounds [1, 60]" in lines[line + 1]
    assert main(["priors", "--design", "all", "--json"]) == 0
    both = [r["path"] for r in json.loads(capsys.readouterr().out)]
    assert both == [s.path for s in pc.prior_specs(None)]


def test_estimate_and_generate_v2_on_the_command_line(tmp_path, capsys):
    cfg = pc.Config.preset("v2").replace(**{"v2_schema.table_count": (2, 3), "v2_schema.event_rows": (200, 400)})
    sets = ["--set", "v2_schema.table_count=2..3", "--set", "v2_schema.event_rows=200..400"]
    assert main(["estimate", "--preset", "v2", *sets, "--seed", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["estimates"][0]["cells"] == pc.estimate_cells(cfg, 5)
    assert main(["generate", "--preset", "v2", *sets, "--seed", "5", "--out", str(tmp_path), "--json"]) == 0
    loaded = pc.load_database(next(tmp_path.glob("*.zip")))
    assert loaded.config == cfg and list(loaded.tables) == list(pc.generate(cfg, 5).tables)


def aps_plain(value):
    from pages import _state as aps

    return aps._plain(value)
