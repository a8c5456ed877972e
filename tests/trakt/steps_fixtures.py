"""Step modules used by the trakt runtime tests (written into each test's pipeline folder)."""

STEP_FILES = {
    "steps/__init__.py": "",
    "steps/double.py": """
        from trakt import step_contract

        @step_contract(inputs=["input"], outputs=["output"])
        def run(ctx, input):
            out = input.copy()
            out["amount"] = out["amount"] * 2
            return {"output": out}
    """,
    "steps/scale.py": """
        from trakt import step_contract

        @step_contract(inputs=["input", "factor", "currency", "flags"], outputs=["output"])
        def run(ctx, input, factor, currency, flags):
            out = input.copy()
            out["amount"] = out["amount"] * factor
            ctx.add_metadata("scale_args", {"factor": factor, "currency": currency, "flags": flags})
            return {"output": out, "__metrics__": {"factor": factor, "currency": currency, "flags": repr(flags)}}
    """,
    "steps/split_list.py": """
        def run(ctx, input, count):
            return {"outputs": [input.head(1), input.tail(1)][:count]}
    """,
    "steps/split_map.py": """
        def run(ctx, input, with_lo):
            parts = {"hi": input[input["amount"] > 15]}
            if with_lo:
                parts["lo"] = input[input["amount"] <= 15]
            return {"outputs": parts, "ignored": 1}
    """,
    "steps/metrics.py": """
        def run(ctx, input):
            return {"output": input, "__metrics__": {"rows_dropped": 2, "k": 1}}
    """,
    "steps/bad_metrics.py": """
        def run(ctx, input):
            return {"output": input, "__metrics__": [1]}
    """,
    "steps/returns_list.py": """
        def run(ctx, input):
            return [input]
    """,
    "steps/raises.py": """
        def run(ctx, input):
            raise RuntimeError("step exploded on purpose")
    """,
    "steps/remember.py": """
        def run(ctx, input):
            ctx.add_metadata("seen", {"rows": len(input), "run": ctx.run_id})
            return {"output": input}
    """,
    "steps/recall.py": """
        def run(ctx, input):
            out = input.copy()
            out["seen_rows"] = ctx.get_metadata("seen")["rows"]
            return {"output": out}
    """,
    "steps/plain_list.py": """
        def run(ctx, input):
            return {"output": [1, 2, 3]}
    """,
    "steps/join.py": """
        from trakt import step_contract

        @step_contract(inputs=["frames"], outputs=["output"])
        def run(ctx, frames):
            joined = frames["records"].merge(frames["lookup"], on="id", how="left")
            return {"output": joined}
    """,
    "steps/events.py": """
        def run(ctx, input):
            ctx.emit_event("warning.amount_coercion", column="amount", count=2)
            ctx.emit_event("info.progress", done=1)
            return {"output": input}
    """,
}
