"""Our worker-protocol messages, read and built by the worker library's own code.

The library's `datumdef` turns TypedData into the `Datum`s its converters take and builds
TypedData (cookies included) from them; running it on our classes is the check that they behave
as the generated protobuf classes do where the library looks.
"""

from __future__ import annotations

import asyncio
import socket
from http.cookies import SimpleCookie

import pytest
from azure_functions_runtime_v1.bindings.datumdef import Datum, datum_as_proto

from local.func_host import messages
from local.func_host.payloads import HttpInput, http_answer, http_data, set_cookie_header
from local.func_host.wire import ChannelClosed, encode, open_channel, read_message


def test_unset_fields_read_as_their_defaults() -> None:
    data = messages.TypedData()
    assert data.WhichOneof("data") is None
    assert data.http.body.WhichOneof("data") is None  # an unset sub-message reads empty...
    assert not data.HasField("http")  # ...and stays unset
    request = messages.InvocationRequest(invocation_id="i")
    assert request.trace_context.trace_parent == ""
    assert request.retry_context.retry_count == 0
    assert request.input_data == []


def test_none_is_unset_and_a_oneof_holds_one_member() -> None:
    assert messages.TypedData(http=None).WhichOneof("data") is None
    assert messages.TypedData(string="").WhichOneof("data") == "string"  # set, though empty
    assert messages.TypedData(string="a", json="{}").WhichOneof("data") == "json"
    with pytest.raises(ValueError, match='has no "nope" field'):
        messages.TypedData(nope=1)


def test_the_wire_form_round_trips_bytes_maps_and_lists() -> None:
    message = messages.StreamingMessage(
        invocation_request=messages.InvocationRequest(
            invocation_id="i",
            input_data=[
                messages.ParameterBinding(
                    name="req",
                    data=messages.TypedData(
                        http=messages.RpcHttp(
                            method="POST",
                            headers={"x-a": "1"},
                            body=messages.TypedData(bytes=b"\x00\xff"),
                        )
                    ),
                )
            ],
            trigger_metadata={"data": messages.TypedData(json="{}")},
        )
    )
    wire = message.to_wire()
    assert wire["invocation_request"]["input_data"][0]["data"]["http"]["body"] == {"bytes": "AP8="}
    again = messages.StreamingMessage.from_wire(wire)
    assert again == message
    assert again.invocation_request.input_data[0].data.http.body.bytes == b"\x00\xff"


def test_the_library_reads_our_http_request_as_the_hosts() -> None:
    data = http_data(
        HttpInput(
            method="POST",
            url="http://127.0.0.1:7071/api/items/5?a=1&b=",
            headers={"Content-Type": "application/json", "X-Sample": "yes"},
            query={"a": "1", "b": ""},
            route_params={"id": "5"},
            body=b'{"x": 1}',
        )
    )
    datum = Datum.from_typed_data(data)
    assert datum.type == "http"
    http = datum.value
    assert http["method"] == Datum("POST", "string")
    assert http["headers"] == {
        "content-type": Datum("application/json", "string"),  # names lower-cased, as the host
        "x-sample": Datum("yes", "string"),
    }
    assert http["query"] == {"a": Datum("1", "string")}  # empty values are not sent
    assert http["params"] == {"id": Datum("5", "string")}
    assert http["body"] == Datum(b'{"x": 1}', "bytes")


def test_no_body_is_no_body_field() -> None:
    data = http_data(HttpInput("GET", "http://h/api/x", {}, {}, {}, b""))
    assert not data.http.HasField("body")
    assert Datum.from_typed_data(data).value["body"] == Datum(b"", "bytes")


def test_cookies_the_library_encodes_become_set_cookie_headers() -> None:
    cookie = SimpleCookie()
    cookie.load(
        "session=abc; Domain=example.org; Path=/app; Secure; HttpOnly; SameSite=Lax; Max-Age=60"
    )
    plain = SimpleCookie()
    plain.load("theme=dark")
    response = Datum(
        {
            "status_code": Datum("201", "string"),
            "headers": {"content-type": Datum("text/plain", "string")},
            "cookies": [cookie, plain],
            "body": Datum(b"made", "bytes"),
        },
        "http",
    )
    answer = http_answer(datum_as_proto(response, messages))
    assert answer.status == 201
    assert answer.body == b"made"
    assert answer.headers == [
        ("content-type", "text/plain"),
        (
            "Set-Cookie",
            "session=abc; max-age=60; domain=example.org; path=/app; secure; samesite=lax; "
            "httponly",
        ),
        ("Set-Cookie", "theme=dark"),
    ]


def test_a_string_for_an_http_output_is_answered_as_text() -> None:
    answer = http_answer(datum_as_proto(Datum("plain", "string"), messages))
    assert (answer.status, answer.body) == (200, b"plain")
    assert answer.headers == [("Content-Type", "text/plain; charset=utf-8")]


def test_a_cookie_without_attributes_and_one_that_expires() -> None:
    assert set_cookie_header(messages.RpcHttpCookie(name="a", value="b")) == "a=b"
    expires = messages.NullableTimestamp(value=messages.Timestamp(seconds=1925028000))
    assert set_cookie_header(messages.RpcHttpCookie(name="a", value="b", expires=expires)) == (
        "a=b; expires=Wed, 01 Jan 2031 10:00:00 GMT"
    )


async def test_frames_cross_a_socket_pair_and_end_of_file_is_seen() -> None:
    left, right = socket.socketpair()
    _, writer = await open_channel(left)
    reader, other_writer = await open_channel(right)
    sent = messages.StreamingMessage(rpc_log=messages.RpcLog(message="+15551234567 " * 1000))
    writer.write(encode(sent))
    assert await read_message(reader) == sent
    writer.close()
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(read_message(reader), 5)
    other_writer.close()
