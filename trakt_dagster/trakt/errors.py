"""trakt's error classes, with trakt's names (user code catches them)."""

from __future__ import annotations


class PipelineLoadError(ValueError):
    """A pipeline file cannot be read, parsed or resolved (trakt's `PipelineLoadError`)."""


class PipelineValidationError(ValueError):
    """A loaded pipeline is inconsistent (trakt's `PipelineValidationError`); parts joined by `; `."""


class StepBindingError(ValueError):
    """A step's `with:` bindings do not fit its contract (trakt's `StepBindingError`)."""


class ConfigError(ValueError):
    """Bad run options (overrides, chunk size): reported before any step runs, never retried."""

    retryable = False
