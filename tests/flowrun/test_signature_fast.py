"""Task signatures read from code objects agree with `inspect` (the path every other callable takes)."""

import functools
import inspect

from flowrun import RunContext

from trakt_dagster.flowrun.signature import call_shape, is_coroutine_function, parameters_of


def _none(): ...
def _everything(a, b=1, /, c=2, *rest: int, d, e: str = "x", context: RunContext[dict], **more) -> int: ...
def _string_context(first, ctx: "RunContext[dict]" = None): ...  # noqa: UP037 - a postponed annotation
async def _fetch(source, *, upstream=None): ...
def _keyword_only(*, only): ...
def _defaults_only(x=[], y=None): ...  # noqa: B006 - the default object itself must be kept


@functools.wraps(_everything)
def _wrapped(*args, **kwargs): ...


def _with_signature(a, b): ...


_with_signature.__signature__ = inspect.Signature([inspect.Parameter("z", inspect.Parameter.KEYWORD_ONLY)])


def _marked(x): ...


inspect.markcoroutinefunction(_marked)


class _Callable:
    def __call__(self, value, context: RunContext): ...

    def method(self, value): ...


CASES = [
    _none,
    _everything,
    _string_context,
    _fetch,
    _keyword_only,
    _defaults_only,
    _wrapped,
    _with_signature,
    _marked,
    _Callable(),
    _Callable().method,
    functools.partial(_everything, 1),
    lambda first, second=2: None,
    len,
]


def test_parameters_and_coroutine_flag_agree_with_inspect() -> None:
    for func in CASES:
        expected = tuple(inspect.signature(func).parameters.values())
        got = parameters_of(func)
        assert got == expected, func
        assert all(p.default is q.default and p.annotation is q.annotation for p, q in zip(got, expected, strict=True))
        assert is_coroutine_function(func) is inspect.iscoroutinefunction(func), func


def test_call_shape_reads_the_context_and_deps_as_before() -> None:
    shape = call_shape(_everything, ["a", "c", "d"])
    assert (shape.context_param, shape.context_required, shape.named_deps) == ("context", True, ("a", "c", "d"))
    assert shape.parameters == tuple(inspect.signature(_everything).parameters.values())
    assert call_shape(_string_context, ["first"]).context_param == "ctx"
    fetch = call_shape(_fetch, ["source"])
    assert fetch.is_async and fetch.accepts_upstream and fetch.named_deps == ()


def test_shape_from_flowrun_spec_reads_parameters_only_when_needed() -> None:
    """With flowrun's own `named_deps` / `accepts_upstream`, a plain function without annotations is not
    inspected at load; its parameters, read at the first call, and every other field agree with the shape
    read from the signature."""

    def plain(first, second=2, *, upstream=None): ...

    for func in (plain, *CASES):
        full = call_shape(func, ["first", "a"])
        quick = call_shape(func, ["first", "a"], named_deps=full.named_deps, accepts_upstream=full.accepts_upstream)
        fields = ("context_param", "context_positional_only", "context_required", "accepts_upstream", "named_deps")
        assert [getattr(quick, f) for f in fields] == [getattr(full, f) for f in fields], func
        assert quick.is_async is full.is_async
        assert quick.parameters == full.parameters == tuple(inspect.signature(func).parameters.values())
    shape = call_shape(plain, ["first"], named_deps=("first",), accepts_upstream=True)
    assert "parameters" not in vars(shape)  # not read at load
    assert [p.name for p in shape.parameters] == ["first", "second", "upstream"]
