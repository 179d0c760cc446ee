"""Route templates: parameters, constraints, optional segments and ASP.NET-style precedence."""

from __future__ import annotations

import pytest

from local.func_host.routing import (
    Route,
    Router,
    RouteTemplateError,
    normalize_methods,
    parse_route_template,
)


def match(template: str, path: str) -> dict[str, str] | None:
    return parse_route_template(template).match(path)


def router(*routes: tuple[str, list[str] | None]) -> Router[str]:
    return Router(
        Route(parse_route_template(template), normalize_methods(methods), template)
        for template, methods in routes
    )


def target(routes: Router[str], method: str, path: str) -> str | None:
    found = routes.resolve(method, path)
    return None if found is None else found.target


def test_literal_segments_match_case_insensitively_and_ignore_a_trailing_slash() -> None:
    assert match("send_sms", "send_sms") == {}
    assert match("send_sms", "SEND_SMS/") == {}
    assert match("send_sms", "send_sms/extra") is None
    assert match("send_sms", "") is None


def test_parameters_capture_one_segment() -> None:
    assert match("sms/{id}/status", "sms/abc-1/status") == {"id": "abc-1"}
    assert match("sms/{id}/status", "sms//status") is None
    assert match("sms/{id}/status", "sms/a/b/status") is None


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items/{id:int}", "items/42", {"id": "42"}),
        ("items/{id:int}", "items/-7", {"id": "-7"}),
        ("items/{id:int}", "items/4x", None),
        ("items/{id:int}", "items/99999999999", None),  # beyond Int32
        ("items/{id:long}", "items/99999999999", {"id": "99999999999"}),
        ("items/{name:alpha}", "items/Bob", {"name": "Bob"}),
        ("items/{name:alpha}", "items/bob1", None),
        (
            "items/{key:guid}",
            "items/0f8fad5b-d9cb-469f-a165-70867728950e",
            {"key": "0f8fad5b-d9cb-469f-a165-70867728950e"},
        ),
        ("items/{key:guid}", "items/not-a-guid", None),
        ("items/{flag:bool}", "items/True", {"flag": "True"}),
        ("items/{flag:bool}", "items/yes", None),
        ("items/{id:int:min(1)}", "items/0", None),
        ("items/{id:int:range(1,10)}", "items/10", {"id": "10"}),
        ("items/{code:length(3)}", "items/abcd", None),
        ("items/{code:regex(^[a-z]{{2}}\\d$)}", "items/ab1", {"code": "ab1"}),
        ("items/{code:regex(^[a-z]{{2}}\\d$)}", "items/abc", None),
    ],
)
def test_constraints(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert match(template, path) == expected


def test_optional_and_default_parameters_may_be_left_out() -> None:
    assert match("hello/{who?}", "hello") == {}
    assert match("hello/{who?}", "hello/bob") == {"who": "bob"}
    assert match("hello/{who:alpha?}", "hello/b0b") is None
    assert match("page/{n:int=1}", "page") == {"n": "1"}
    assert match("page/{n:int=1}", "page/3") == {"n": "3"}


def test_catch_all_takes_the_rest_of_the_path() -> None:
    assert match("files/{*path}", "files/a/b/c.txt") == {"path": "a/b/c.txt"}
    assert match("files/{*path}", "files") == {}


def test_complex_segment() -> None:
    assert match("files/{name}.{ext}", "files/report.final.pdf") == {
        "name": "report.final",
        "ext": "pdf",
    }


def test_empty_route_is_the_prefix_itself() -> None:
    assert match("", "") == {}
    assert match("/", "") == {}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("items/{id", "unclosed"),
        ("items/{id:nosuch}", "unknown constraint 'nosuch'"),
        ("items/{id}/{id}", "appears more than once"),
        ("{*rest}/items", "catch-all"),
        ("items//x", "empty segment"),
        ("{a}{b}", "literal between them"),
        ("{a?}/items", "may only be followed by other optional"),
        ("items/{id:min(x)}", "bad constraint"),
        ("items/{}", "invalid parameter name"),
    ],
)
def test_invalid_templates_are_rejected(template: str, message: str) -> None:
    with pytest.raises(RouteTemplateError, match=message):
        parse_route_template(template)


def test_literal_beats_constrained_beats_plain_parameter_whatever_the_order() -> None:
    routes = router(("items/{name}", None), ("items/{id:int}", None), ("items/special", None))
    assert target(routes, "GET", "items/special") == "items/special"
    assert target(routes, "GET", "items/7") == "items/{id:int}"
    assert target(routes, "GET", "items/seven") == "items/{name}"


def test_catch_all_loses_to_everything_else() -> None:
    routes = router(("{*path}", None), ("items/{id}", None))
    assert target(routes, "GET", "items/1") == "items/{id}"
    assert target(routes, "GET", "other/1") == "{*path}"


def test_methods_are_case_insensitive_and_a_mismatch_is_no_match() -> None:
    routes = router(("items/{id:int}", ["get", "Post"]))
    assert routes.resolve("post", "items/1") is not None
    assert routes.resolve("DELETE", "items/1") is None  # the host then answers 404, not 405


def test_a_method_mismatch_falls_through_to_a_less_specific_route() -> None:
    routes = router(("items/special", ["get"]), ("items/{name}", ["delete"]))
    found = routes.resolve("DELETE", "items/special")
    assert found is not None and found.target == "items/{name}"
    assert dict(found.values) == {"name": "special"}


def test_absent_or_empty_methods_mean_all() -> None:
    assert normalize_methods(None) is None
    assert normalize_methods([]) is None
    assert normalize_methods(["get"]) == frozenset({"GET"})
