"""Secrets are masked before serialising: in data, in Dagster metadata values, in every escaped form of text."""

from __future__ import annotations

import json

import dagster as dg

from trakt_dagster.core.execution import _clean_metadata
from trakt_dagster.core.redact import Redactor

SECRET = 'tö"k\\en-42'


def test_every_kind_of_metadata_value_is_masked() -> None:
    redactor = Redactor([SECRET])
    cleaned = _clean_metadata(
        {
            "text": f"token {SECRET}",
            "md": dg.MetadataValue.md(f"**{SECRET}**"),
            "txt": dg.MetadataValue.text(SECRET),
            "path": dg.MetadataValue.path(f"/data/{SECRET}.csv"),
            "url": dg.MetadataValue.url(f"https://x.example/?t={SECRET}"),
            "json": dg.MetadataValue.json({"nested": [SECRET]}),
            "dict": {"k": SECRET},
            f"key {SECRET}": 1,
            "rows": 3,
        },
        redactor,
    )
    rendered = json.dumps({k: getattr(v, "value", v) for k, v in cleaned.items()}, default=str)
    assert SECRET not in rendered and json.dumps(SECRET)[1:-1] not in rendered
    assert cleaned["rows"] == 3 and cleaned["md"].value == "**" + "***" + "**" and "key ***" in cleaned


def test_data_is_masked_before_it_becomes_json_and_text_in_every_escaped_form() -> None:
    redactor = Redactor([SECRET])
    data = {"error": {"message": f"login failed for {SECRET}"}, "list": [SECRET, 1], "set": {SECRET}}
    assert SECRET not in json.dumps(redactor.data(data), default=list, ensure_ascii=False)
    for escaped in (json.dumps(SECRET)[1:-1], json.dumps(SECRET, ensure_ascii=False)[1:-1], repr(SECRET)[1:-1]):
        assert redactor.text(f"x {escaped} y") == "x *** y"
    assert Redactor(["ab"]).text("ab") == "ab"  # too short to mask without garbling every line
