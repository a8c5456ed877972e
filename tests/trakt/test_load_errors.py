"""Load-time errors of trakt pipelines: trakt's messages plus file, line, key and a fix (spec §2.3–§2.9)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from tests.conftest import write_files
from trakt_dagster.trakt.loader import load_pipeline_spec

STEPS = {
    "steps/__init__.py": "",
    "steps/contract.py": """
        from trakt import step_contract

        @step_contract(inputs=["input", "currency"], outputs=["output"])
        def run(ctx, input, currency):
            return {"output": input}
    """,
    "steps/free.py": """
        def run(ctx, **kwargs):
            return {"output": kwargs.get("input")}
    """,
    "steps/literal.py": """
        from trakt import step_contract

        @step_contract(inputs=["input", "n", "flag", "code", "d"], outputs=["output"])
        def run(ctx, input, n, flag, code, d):
            return {"output": input}
    """,
    "steps/gatelike.py": """
        from trakt import step_contract

        @step_contract(inputs=["input", "policy"], outputs=["output"])
        def run(ctx, input, policy):
            return {"output": input}
    """,
    "steps/norun.py": "VALUE = 1\n",
    "steps/badcontract.py": """
        from trakt import step_contract

        @step_contract(inputs=["input", "x"])
        def run(ctx, input):
            return {}
    """,
    "records.csv": "id,amount\n1,10\n",
}


def load(tmp_path: Path, yaml_text: str, strict: bool = True, extra: dict[str, str] | None = None):
    write_files(tmp_path, {**STEPS, **(extra or {}), "pipeline.yaml": yaml_text})
    return load_pipeline_spec(tmp_path / "pipeline.yaml", strict=strict)


def messages(errors) -> str:
    return "\n".join(e.render() for e in errors)


def test_suspected_literal_and_missing_input_row2(tmp_path: Path) -> None:
    spec, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - id: s
            uses: steps.contract
            with: {input: src, currency: usd, output: o}
        """,
    )
    text = messages(errors)
    assert spec is None
    assert "missing inputs=s:usd" in text
    assert "suspected literal bindings (use {const: value})=s.currency='usd'" in text
    literal = next(e for e in errors if "suspected literal" in e.message)
    assert literal.location.file == tmp_path / "pipeline.yaml"
    assert literal.location.line == 5
    assert literal.location.key == "steps[0].with.currency"
    assert literal.hint and "{const: value}" in literal.hint


def test_nested_strings_are_references_without_literal_hint_row3(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - id: s
            uses: steps.free
            with: {input: src, extra: [usd, 1], output: o}
        """,
    )
    text = messages(errors)
    assert "missing inputs=s:usd" in text
    assert "suspected literal" not in text


def test_const_with_other_key_is_not_const_row4(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - id: s
            uses: steps.free
            with: {input: src, extra: {const: usd, note: x}, output: o}
        """,
    )
    assert "missing inputs=s:usd, s:x" in messages(errors)


def test_policy_without_const_is_a_reference_row5(tmp_path: Path) -> None:
    bad = """
        inputs: {src: records.csv}
        steps:
          - id: gate
            uses: steps.gatelike
            with: {input: src, policy: {mode: warn}, output: o}
        """
    _, errors = load(tmp_path, bad)
    assert "missing inputs=gate:warn" in messages(errors)
    good = bad.replace("policy: {mode: warn}", "policy: {const: {mode: warn}}")
    spec, errors = load(tmp_path, good)
    assert not errors
    assert spec.steps[0].bindings["policy"].value == {"mode": "warn"}


def test_yaml_1_1_scalars_row6(tmp_path: Path) -> None:
    bad = """
        inputs: {src: records.csv}
        steps:
          - id: s
            uses: steps.literal
            with: {input: src, n: 1.5e3, flag: yes, code: 007, d: 2024-01-01, output: o}
        """
    _, errors = load(tmp_path, bad)
    assert "missing inputs=s:1.5e3" in messages(errors)
    spec, errors = load(tmp_path, bad.replace("n: 1.5e3", "n: 1.5"))
    assert not errors
    bindings = spec.steps[0].bindings
    assert bindings["flag"] is True
    assert bindings["code"] == 7
    assert bindings["d"] == dt.date(2024, 1, 1)


def test_contract_less_only_output_keys_are_outputs_row7(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - id: a
            uses: steps.free
            with: {input: src, result: r, output: x}
        outputs: {final: x}
        """,
    )
    text = messages(errors)
    assert "missing inputs=a:r" in text
    assert "suspected literal bindings (use {const: value})=a.result='r'" in text


def test_forward_reference_row13(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - {id: a, uses: steps.free, with: {input: b_out, output: a_out}}
          - {id: b, uses: steps.free, with: {input: src, output: b_out}}
        outputs: {final: a_out}
        """,
    )
    assert "missing inputs=a:b_out" in messages(errors)


def test_duplicate_step_ids_row14(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - {id: a, uses: steps.free, with: {input: src, output: x}}
          - {id: a, uses: steps.free, with: {input: x, output: y}}
        outputs: {final: y}
        """,
    )
    dup = [e for e in errors if "Duplicate step id 'a'" in e.message]
    assert dup and "#1" in dup[0].message and "#2" in dup[0].message
    assert dup[0].location.line == 4


def test_duplicate_dataset_names_row16(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        outputs:
          datasets:
            - {name: final, from: src}
            - {name: final, from: src}
        """,
    )
    assert any("Output dataset 'final' is defined more than once" in e.message for e in errors)


def test_output_collision_with_input_row19(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - {id: s, uses: steps.free, with: {input: src, output: src}}
        """,
    )
    assert "output collisions=s:src (already defined by pipeline input)" in messages(errors)


def test_unknown_output_binding_row20(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        outputs:
          datasets:
            - {name: x, from: nope}
            - {name: y, from: src}
        """,
    )
    err = next(e for e in errors if "unknown output bindings" in e.message)
    assert "unknown output bindings=x<-nope" in err.message
    assert err.location.key == "outputs.datasets[0].from"
    assert err.location.line == 4


def test_strict_mode_unknown_keys_row21(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        owner: me
        execution: {mode: batch, parallelism: 4}
        inputs:
          src: {uri: records.csv, delimiter: ";"}
        steps:
          - {id: s, uses: steps.free, retries: 2, with: {input: src, output: o}}
        outputs:
          datasets:
            - {name: x, from: o, header: false}
        """,
    )
    text = messages(errors)
    assert "Input 'src' has unknown fields: delimiter." in text
    assert "Step #1 has unknown fields: retries." in text
    assert "Output dataset 'x' has unknown fields: header." in text
    assert "owner" not in text and "parallelism" not in text
    assert len(errors) == 3


def test_execution_mode_rules_row23(tmp_path: Path) -> None:
    spec, errors = load(
        tmp_path,
        """
        execution: {mode: Batch}
        execution_mode: batch
        inputs: {src: records.csv}
        outputs: {final: src}
        """,
    )
    assert not errors and spec.mode == "batch"
    _, errors = load(
        tmp_path,
        """
        execution: {mode: batch}
        execution_mode: stream
        inputs: {src: records.csv}
        outputs: {final: src}
        """,
    )
    assert "conflicting execution modes in 'execution.mode' and 'execution_mode'" in messages(errors)
    _, errors = load(tmp_path, "execution: {mode: fast}\n")
    assert "invalid execution mode=fast" in messages(errors)


def test_bad_combine_strategy_is_a_load_error_row24(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs:
          src: {uri: records.csv, combine_strategy: merge}
        outputs: {final: src}
        """,
    )
    err = next(e for e in errors if "combine_strategy" in e.message)
    assert "Input 'src'" in err.message and "'merge'" in err.message
    assert "concat, validate_schema, union_by_name" in err.hint
    assert err.location.key == "inputs.src.combine_strategy"


def test_empty_file_is_an_empty_pipeline_row50(tmp_path: Path) -> None:
    folder = tmp_path / "empty_one"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text("")
    spec, errors = load_pipeline_spec(folder / "pipeline.yaml")
    assert not errors
    assert spec.name == "empty_one" and spec.steps == () and spec.inputs == ()


def test_root_must_be_mapping_row51(tmp_path: Path) -> None:
    _, errors = load(tmp_path, "- a\n- b\n")
    assert f"Pipeline file '{tmp_path / 'pipeline.yaml'}' must contain a mapping at the root." in messages(errors)


def test_unresolvable_uses_row52(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - {id: a, uses: nosuch.module, with: {input: src, output: x}}
          - {id: b, uses: steps.norun, with: {input: src, output: y}}
        """,
    )
    text = messages(errors)
    assert "Failed to resolve step 'a' using 'nosuch.module': No module named 'nosuch'" in text
    assert "Failed to resolve step 'b' using 'steps.norun':" in text
    assert "must define a callable 'run(ctx, **kwargs)'" in text


def test_contract_parameter_mismatch_at_import_row53(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - {id: s, uses: steps.badcontract, with: {input: src, x: src}}
        """,
    )
    text = messages(errors)
    assert "Failed to resolve step 's' using 'steps.badcontract'" in text
    assert "@step_contract declares inputs ['input', 'x'] but handler 'run' is missing parameters: ['x']" in text


def test_binding_typo_suggests_row54(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - {id: s, uses: steps.contract, with: {inpt: src, currency: {const: eur}, output: o}}
        """,
    )
    text = messages(errors)
    assert "unknown bindings=inpt (did you mean 'input'?)" in text
    assert "missing input bindings=input" in text


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    _, errors = load(tmp_path, "inputs:\n  src: [records.csv\nsteps: []\n")
    assert len(errors) == 1
    assert errors[0].message.startswith(f"Invalid YAML in '{tmp_path / 'pipeline.yaml'}'")
    assert errors[0].location.line is not None


def test_all_problems_of_a_file_reported_together(tmp_path: Path) -> None:
    _, errors = load(
        tmp_path,
        """
        inputs:
          a: {uri: records.csv, combine_strategy: zip}
        steps: {id: x}
        outputs: [1]
        """,
    )
    text = messages(errors)
    assert "combine_strategy" in text
    assert "Pipeline 'steps' must be a list." in text
    assert "Pipeline 'outputs' must be a mapping." in text


def test_loading_leaves_sys_path_unchanged(tmp_path: Path) -> None:
    before = list(sys.path)
    spec, errors = load(
        tmp_path,
        """
        inputs: {src: records.csv}
        steps:
          - {id: s, uses: steps.free, with: {input: src, output: o}}
        outputs: {final: o}
        """,
    )
    assert not errors
    assert sys.path == before
    assert "steps" not in sys.modules and "steps.free" not in sys.modules


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ("dagster: {granularity: parallel}", "must be 'pipeline' or 'step'"),
        ("dagster: {colour: red}", "Pipeline 'dagster' has unknown field 'colour'."),
        ("dagster: {schedule: 5}", "must be a cron string or {cron, timezone}"),
    ],
)
def test_dagster_block_is_checked(tmp_path: Path, block: str, fragment: str) -> None:
    _, errors = load(tmp_path, f"inputs: {{src: records.csv}}\noutputs: {{final: src}}\n{block}\n")
    assert fragment in messages(errors)
