"""pit.toml discovery and validation (spec §2, §5; §6 rows 1, 2, 5, 14-16, 25, 33-37, 39-41)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path

import dagster as dg
import pytest

from tests.pit.conftest import load_errors, workspace
from trakt_dagster import PipelineLoadErrors, build_definitions
from trakt_dagster.core.definitions import load_graphs
from trakt_dagster.core.graph import CronTrigger, IntervalTrigger
from trakt_dagster.pit.durations import DurationError, optional_timeout, parse_go_duration
from trakt_dagster.pit.loader import read_project
from trakt_dagster.pit.model import PitProject, PitTask, WorkspaceConfig, kept_artifacts
from trakt_dagster.pit.schedule import ScheduleError, parse_schedule
from trakt_dagster.pit.validate import _evolved


def pit_graph(root: Path, name: str):
    graphs, errors = load_graphs(root)
    assert not errors, "\n".join(e.render() for e in errors)
    return next(g for g in graphs if g.name == name)


def test_runner_dispatch_and_its_errors_row_1(tmp_path: Path) -> None:
    files = {
        "projects/ok/pit.toml": """
            [dag]
            name = "ok"
            [[tasks]]
            name = "a"
            script = "a.py"
            [[tasks]]
            name = "b"
            script = "b.sh"
            [[tasks]]
            name = "c"
            script = "c.sql"
            [[tasks]]
            name = "d"
            script = "d.sh"
            runner = "python"
            [[tasks]]
            name = "e"
            script = "e.txt"
            runner = "$ python3 -u"
        """,
        **{f"projects/ok/{f}": "\n" for f in ("a.py", "b.sh", "c.sql", "d.sh", "e.txt")},
    }
    root = workspace(tmp_path / "ok", files)
    graph = pit_graph(root, "ok")
    kinds = {t.key: t.metadata["pit/kind"] for t in graph.tasks}
    assert kinds == {"a": "python", "b": "bash", "c": "sql", "d": "python", "e": "custom"}
    assert "python3" in graph.by_key["e"].kinds and "shell" in graph.by_key["b"].kinds

    bad = {
        "projects/bad/pit.toml": """
            [dag]
            name = "bad"
            [[tasks]]
            name = "node"
            script = "x.js"
            runner = "$node"
            [[tasks]]
            name = "shell"
            script = "x.sh"
            runner = "shell"
            [[tasks]]
            name = "bash_ext"
            script = "f.bash"
        """,
        **{f"projects/bad/{f}": "\n" for f in ("x.js", "x.sh", "f.bash")},
    }
    text = load_errors(workspace(tmp_path / "bad", bad))
    assert 'unknown runner "$node" for task "node"' in text and '"$ <command> [args]"' in text
    assert 'unknown runner "shell" for task "shell"' in text
    assert 'task "bash_ext"' in text and '".bash"' in text
    assert "pit.toml:6 (key tasks[0].runner)" in text  # file, line and key


def test_script_outside_project_and_missing_row_2(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/p/pit.toml": """
                [[tasks]]
                name = "out"
                script = "../outside.py"
                [[tasks]]
                name = "gone"
                script = "missing.sh"
            """,
            "projects/outside.py": "print(1)\n",
        },
    )
    text = load_errors(root)
    assert 'task "out": script "../outside.py" is outside the project' in text
    assert 'task "gone": script "missing.sh" not found' in text


def test_negative_retries_and_load_save_rules_rows_4_5(tmp_path: Path, caplog) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/p/pit.toml": """
                [[tasks]]
                name = "neg"
                script = "a.sh"
                retries = -1
                [[tasks]]
                name = "ld"
                type = "load"
                table = "t"
                [[tasks]]
                name = "sv"
                type = "save"
                output = "x.parquet"
                table = "t"
                [[tasks]]
                name = "md"
                script = "a.sh"
                mode = "append"
                [[tasks]]
                name = "ty"
                type = "copy"
            """,
            "projects/p/a.sh": "true\n",
        },
    )
    text = load_errors(root)
    assert 'task "neg": retries must be >= 0 (got -1)' in text
    assert 'task "ld": load tasks need source and table' in text
    assert (
        'task "sv": save tasks need script and output' in text
        and 'task "sv": save tasks take no source or table' in text
    )
    assert 'task "md": mode is only valid for load tasks' in text
    assert 'task "ty": invalid type "copy"' in text

    ok = workspace(
        tmp_path / "warn",
        {
            "projects/w/pit.toml": """
                [[tasks]]
                name = "ld"
                type = "load"
                source = "x.parquet"
                table = "t"
                retries = 3
            """
        },
    )
    with caplog.at_level(logging.WARNING, logger="trakt_dagster.load"):
        graph = pit_graph(ok, "w")
    assert graph.by_key["ld"].retries == 0
    assert any('"ld": retries and timeout are ignored for load tasks' in r.getMessage() for r in caplog.records)


def test_durations_row_16() -> None:
    assert parse_go_duration("1h30m") == 5400
    assert parse_go_duration("300ms") == pytest.approx(0.3)
    assert parse_go_duration("1.5h") == 5400
    with pytest.raises(DurationError, match='no "d" unit'):
        parse_go_duration("1d")
    assert optional_timeout("0") is None and optional_timeout("-5s") is None and optional_timeout("") is None


def test_schedules_rows_14_15(tmp_path: Path, monkeypatch) -> None:
    assert parse_schedule("TZ=Europe/Paris 0 6 * * *").timezone == "Europe/Paris"
    assert parse_schedule("CRON_TZ=UTC 0 6 * * *").timezone == "UTC"
    assert parse_schedule("@midnight").cron == "0 0 * * *"
    assert parse_schedule("@yearly").cron == "0 0 1 1 *"
    every = parse_schedule("@every 1h30m")
    assert isinstance(every, IntervalTrigger) and every.seconds == 5400
    with pytest.raises(ScheduleError, match="expected 5 fields"):
        parse_schedule("0 6 * * * *")
    monkeypatch.setenv("TZ", "America/New_York")
    plain = parse_schedule("0 6 * * *")
    assert isinstance(plain, CronTrigger) and plain.timezone == "America/New_York"

    root = workspace(
        tmp_path,
        {
            "projects/hourly/pit.toml": '[dag]\nschedule = "@every 1h30m"\n[[tasks]]\nname = "a"\nscript = "a.sh"\n',
            "projects/hourly/a.sh": "true\n",
            "projects/paris/pit.toml": '[dag]\nschedule = "TZ=Europe/Paris 0 6 * * *"\noverlap = "skip"\n'
            '[[tasks]]\nname = "a"\nscript = "a.sh"\n',
            "projects/paris/a.sh": "true\n",
            "projects/ny/pit.toml": '[dag]\nschedule = "0 6 * * *"\n[[tasks]]\nname = "a"\nscript = "a.sh"\n',
            "projects/ny/a.sh": "true\n",
        },
    )
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    sensor = defs.resolve_sensor_def("hourly_schedule")
    assert sensor.minimum_interval_seconds == 5400
    paris = defs.resolve_schedule_def("paris_schedule")
    assert paris.cron_schedule == "0 6 * * *" and paris.execution_timezone == "Europe/Paris"
    assert defs.resolve_schedule_def("ny_schedule").execution_timezone == "America/New_York"
    bad = workspace(
        tmp_path / "bad",
        {
            "projects/x/pit.toml": '[dag]\nschedule = "0 6 * * * *"\n[[tasks]]\nname = "a"\nscript = "a.sh"\n',
            "projects/x/a.sh": "",
        },
    )
    assert 'invalid schedule "0 6 * * * *": expected 5 fields' in load_errors(bad)


def test_task_names_become_distinct_dagster_names_row_33(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    names = ["load-orders", "load_orders", "stg.orders", "a/b"]
    toml = "".join(f'[[tasks]]\nname = "{n}"\nscript = "t.sh"\n' for n in names)
    root = workspace(tmp_path, {"projects/n/pit.toml": toml, "projects/n/t.sh": "true\n"})
    with caplog.at_level(logging.WARNING, logger="trakt_dagster.load"):
        defs = build_definitions(root, runs_dir=str(root / "runs"))
    collisions = [r.getMessage() for r in caplog.records if "would all be Dagster name" in r.getMessage()]
    assert len(collisions) == 1 and "'load-orders' and 'load_orders'" in collisions[0], collisions
    assert "pipeline 'n'" in collisions[0] and "'load_orders' as 'load_orders'" in collisions[0]
    keys = {k.path[-1] for k in defs.resolve_job_def("n").asset_layer.asset_graph.get_all_asset_keys()}
    # the obvious names; a hash only for the one of two names that would collide (`load-orders`)
    assert keys == {"load_orders", f"load_orders_{hashlib.md5(b'load-orders').hexdigest()[:6]}", "stg_orders", "a_b"}
    graph = pit_graph(root, "n")
    assert [t.key for t in graph.tasks] == names
    spec_tasks = {
        defs.resolve_asset_graph().get(key).metadata["trakt/task"]
        for key in defs.resolve_job_def("n").asset_layer.asset_graph.get_all_asset_keys()
    }
    assert spec_tasks == set(names)


def test_unknown_dependency_is_one_error_and_cycles_are_named_rows_34_35(tmp_path: Path) -> None:
    root = workspace(
        tmp_path / "dangling",
        {
            "projects/p/pit.toml": '[[tasks]]\nname = "load"\nscript = "t.sh"\ndepends_on = ["extrct"]\n'
            '[[tasks]]\nname = "extract"\nscript = "t.sh"\n',
            "projects/p/t.sh": "",
        },
    )
    text = load_errors(root)
    assert 'task "load" depends on unknown task "extrct"' in text and 'did you mean "extract"?' in text
    assert "cycle" not in text
    cyclic = workspace(
        tmp_path / "cycle",
        {
            "projects/c/pit.toml": '[[tasks]]\nname = "a"\nscript = "t.sh"\ndepends_on = ["b"]\n'
            '[[tasks]]\nname = "b"\nscript = "t.sh"\ndepends_on = ["a"]\n',
            "projects/c/t.sh": "",
        },
    )
    assert "cycle detected: a -> b -> a" in load_errors(cyclic)


def test_unknown_key_is_a_warning_with_a_suggestion_row_36(tmp_path: Path, caplog) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/t/pit.toml": '[[tasks]]\nname = "a"\nscript = "t.sh"\n[[tasks]]\nname = "b"\nscript = "t.sh"\n'
            'depend_on = ["a"]\n',
            "projects/t/t.sh": "",
        },
    )
    with caplog.at_level(logging.WARNING, logger="trakt_dagster.load"):
        graph = pit_graph(root, "t")
    assert graph.by_key["b"].deps == ()
    warning = next(r.getMessage() for r in caplog.records if "depend_on" in r.getMessage())
    assert "pit.toml:7 (key tasks[1].depend_on)" in warning and "did you mean 'depends_on'?" in warning


def test_keep_artifacts_resolution_row_37() -> None:
    def project(keep: tuple[str, ...]) -> PitProject:
        return PitProject("p", Path("p"), Path("p/pit.toml"), keep_artifacts=keep)

    assert kept_artifacts(project(("logs",)), WorkspaceConfig(Path("."), keep_artifacts=("data",))) == ("logs",)
    assert kept_artifacts(project(()), WorkspaceConfig(Path("."), keep_artifacts=("data",))) == ("data",)
    assert kept_artifacts(project(()), WorkspaceConfig(Path("."))) == ("logs", "project", "data")
    assert kept_artifacts(project(()), WorkspaceConfig(Path("."), keep_artifacts=())) == ("logs", "project", "data")


def test_recipients_array_and_requires_table_load_rows_39_n13(tmp_path: Path, caplog) -> None:
    path = (
        workspace(
            tmp_path,
            {
                "projects/o/pit.toml": '[dag]\n[dag.requires]\nupstream = { max_age = "24h" }\n'
                '[[tasks]]\nname = "a"\nscript = "t.sh"\n[[outputs]]\nname = "report"\ntype = "email"\n'
                'recipients = ["a@b", "c@d"]\n',
                "projects/o/t.sh": "",
            },
        )
        / "projects/o/pit.toml"
    )
    project, problems = read_project(path)
    assert not problems.errors and project.outputs[0].record()["recipients"] == ["a@b", "c@d"]
    assert any("requires is not enforced" in w.message for w in problems.warnings)


def test_duplicate_dag_names_and_type_errors_rows_40(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/a/pit.toml": '[dag]\nname = "same"\n[[tasks]]\nname = "x"\nscript = "t.sh"\n',
            "projects/a/t.sh": "",
            "projects/b/pit.toml": '[dag]\nname = "same"\n[[tasks]]\nname = "x"\nscript = "t.sh"\n',
            "projects/b/t.sh": "",
            "projects/c/pit.toml": '[dag]\ntimeout = 5\n[[tasks]]\nname = "x"\nscript = "t.sh"\n',
            "projects/c/t.sh": "",
            "projects/d/pit.toml": '[dag\nname = "d"\n',
        },
    )
    text = load_errors(root)
    assert 'duplicate DAG name "same"' in text
    assert "'timeout' must be a string, not int" in text and 'timeout = "..."' in text
    assert "projects/d/pit.toml:1" in text and "Invalid TOML" in text
    assert text.count('duplicate DAG name "same"') == 2  # on both files: neither project wins
    assert "projects/a/pit.toml:2 (key dag.name)" in text and "projects/b/pit.toml:2 (key dag.name)" in text
    with pytest.raises(PipelineLoadErrors, match="duplicate DAG name"):
        build_definitions(root, strict_load=True)
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"same/load-error", "c/load-error", "d/load-error"}
    assert not [j for j in defs.resolve_all_job_defs() if not j.name.startswith("__")]


def test_secrets_file_errors_and_webhook_token_rows_25_41(tmp_path: Path) -> None:
    bad = workspace(
        tmp_path / "bad",
        {
            "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
            "secrets.toml": '[global]\ndb_port = 1433\npassword = "hunter2hunter2"\n',
            "projects/p/pit.toml": '[[tasks]]\nname = "a"\nscript = "t.sh"\n',
            "projects/p/t.sh": "",
        },
    )
    text = load_errors(bad)
    assert "db_port" in text and "must be a string" in text and "1433" not in text and "hunter2" not in text
    no_secrets = workspace(
        tmp_path / "hook",
        {
            "projects/h/pit.toml": '[dag.webhook]\ntoken_secret = "hook_token"\n[[tasks]]\nname = "a"\nscript = "t.sh"\n',
            "projects/h/t.sh": "",
        },
    )
    assert 'the webhook token secret "hook_token" cannot be resolved: there is no secrets file' in load_errors(
        no_secrets
    )


def test_ftp_watch_with_only_a_secret_loads_row_22_n5(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "pit_config.toml": 'secrets_dir = "secrets.toml"\n',
            "secrets.toml": '[global.ftp]\nhost = "127.0.0.1"\nuser = "u"\npassword = "pw-9981"\n',
            "projects/f/pit.toml": '[dag.ftp_watch]\nsecret = "ftp"\ndirectory = "/in"\npattern = "*.csv"\n'
            '[[tasks]]\nname = "a"\nscript = "t.sh"\n',
            "projects/f/t.sh": "",
        },
    )
    assert load_errors(root) == ""
    (root / "secrets.toml").write_text('[global.ftp]\nhost = "127.0.0.1"\nuser = "u"\n')
    assert 'the FTP watch secret "ftp" has no password' in load_errors(root)
    (root / "pit_config.toml").unlink()
    assert "the FTP watch cannot log in: there is no secrets file" in load_errors(root)
    neither = workspace(
        tmp_path / "n",
        {
            "projects/f/pit.toml": '[dag.ftp_watch]\ndirectory = "/in"\npattern = "*.csv"\n[[tasks]]\nname = "a"\n'
            'script = "t.sh"\n',
            "projects/f/t.sh": "",
        },
    )
    assert "ftp_watch needs either secret" in load_errors(neither)


def test_assets_jobs_and_output_assets(tmp_path: Path) -> None:
    root = workspace(
        tmp_path,
        {
            "projects/s/pit.toml": '[[tasks]]\nname = "extract"\nscript = "t.py"\n[[tasks]]\nname = "load"\n'
            'script = "t.sh"\ndepends_on = ["extract"]\n[[outputs]]\nname = "report"\ntype = "file"\n'
            'location = "/srv/report.csv"\n',
            "projects/s/t.py": "",
            "projects/s/t.sh": "",
        },
    )
    defs = build_definitions(root, runs_dir=str(root / "runs"))
    graph = defs.resolve_asset_graph()
    load = graph.get(dg.AssetKey(["s", "load"]))
    assert {k.to_user_string() for k in load.parent_keys} == {"s/extract"}
    report = graph.get(dg.AssetKey(["s", "report"]))
    assert {k.to_user_string() for k in report.parent_keys} == {"s/load"}
    assert report.metadata["pit/location"] == "/srv/report.csv"
    assert {"pit", "python"} <= set(graph.get(dg.AssetKey(["s", "extract"])).kinds)


def test_a_record_is_evolved_as_dataclasses_replace_would() -> None:
    task = PitTask(
        "t", kind="", script="t.sh", depends_on=("a",), line=4, index=1, key_lines={"name": 4}, model=object()
    )
    project = PitProject("p", Path("p"), Path("p/pit.toml"), tasks=(task,), key_lines={"dag.name": 2}, name_line=2)
    for record, changes in ((task, {"kind": "bash", "command": ("x",)}), (project, {"tasks": ()})):
        fast, slow = _evolved(record, **changes), dataclasses.replace(record, **changes)
        fields = dataclasses.fields(type(record))
        assert [getattr(fast, f.name) for f in fields] == [getattr(slow, f.name) for f in fields]
        assert vars(fast) == vars(slow) and fast is not record and type(fast) is type(record)
    assert task.kind == "" and project.tasks == (task,)
    # the shortcut holds only while the records have no __post_init__, slots or cached values in __dict__
    for cls in (PitTask, PitProject):
        assert not hasattr(cls, "__post_init__") and not hasattr(cls, "__slots__")
        assert set(vars(cls(*(["x", Path("x"), Path("x")] if cls is PitProject else ["x", "k"])))) == {
            f.name for f in dataclasses.fields(cls)
        }


def test_topological_order_keeps_file_order_when_dependencies_come_first() -> None:
    import random

    from trakt_dagster.pit.translate import depth_first, topological

    rnd = random.Random(11)
    for _ in range(500):
        n = rnd.randint(0, 9)
        names = [f"t{rnd.randint(0, n)}" for _ in range(n)]  # sometimes duplicates
        tasks = tuple(
            PitTask(name, kind="bash", depends_on=tuple(rnd.sample(names + ["missing"], rnd.randint(0, 2))))
            for name in names
        )
        assert topological(tasks) == depth_first(tasks, {t.name: t for t in tasks}), tasks


def test_project_files_resolve_as_path_resolve_does(tmp_path: Path) -> None:
    from trakt_dagster.pit.loader import find_project_files, project_file_resolver

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "real_project").mkdir(parents=True)
    (elsewhere / "real_project" / "pit.toml").write_text('[dag]\nname = "linked"\n')
    (elsewhere / "kept.toml").write_text('[dag]\nname = "file"\n')
    projects = tmp_path / "root_target" / "projects"
    for name in ("plain", "file_link"):
        (projects / name).mkdir(parents=True)
    (projects / "plain" / "pit.toml").write_text('[dag]\nname = "plain"\n')
    (projects / "file_link" / "pit.toml").symlink_to(elsewhere / "kept.toml")
    (projects / "folder_link").symlink_to(elsewhere / "real_project")
    (projects / "relative_link").symlink_to(Path("..") / ".." / "elsewhere" / "real_project")
    (tmp_path / "root").symlink_to(tmp_path / "root_target")  # the root itself reached through a link
    for root in (tmp_path / "root", tmp_path / "root_target"):
        files = find_project_files(root)
        assert len(files) == 4
        resolve = project_file_resolver(root)
        assert [resolve(p) for p in files] == [p.resolve() for p in files]
        assert resolve(tmp_path / "root" / "x" / "pit.toml") == (tmp_path / "root" / "x" / "pit.toml").resolve()
