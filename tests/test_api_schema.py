"""The OpenAPI document against the live server, by a tool we did not write (Schemathesis).

The document is read from the served /api/v1/openapi.json of a gunicorn server of this module's
own; requests generated from it (valid ones and invalid ones, then sequences that follow what
one answer gives to the next) are sent with a write token of a member of a chat that exists.
Every answer must be no 5xx and match the document: a documented status, its media type, its
body's schema and its documented headers (Retry-After on a 429).

Deterministic for CI: Hypothesis derandomized (the examples follow from the document), no example
database, and few examples per operation (the run takes well under a minute).
"""
from urllib.parse import urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import _TMP
from .support import services
from .support.api import call, make_token
from .support.stored import LiveDatabase
from .support.wsclient import Person

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES = 25  # per operation and mode
STATEFUL_STEPS = 40
REQUEST_LINE_ROOM = 4000  # gunicorn's --limit-request-line is 4094 bytes: the method, path, query, version


def quick(max_examples: int, **extra) -> settings:
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate], **extra)


@pytest.fixture(scope="module")
def server():
    # Limits out of the way: every generated request must be answered for what it is, not a 429
    # (tests/test_api.py reaches the limits on purpose).
    extra = {"WEBCHAT_API_RATE_LIMIT": "1000000 per minute", "WEBCHAT_API_SEND_LIMIT": "1000000 per minute"}
    with services.module_server("api_schema", _TMP, extra_env=extra) as live:
        yield live


@pytest.fixture(scope="module")
def world(server):
    """A member of a chat with a few messages (one with a file), and a write token of theirs."""
    owner, other = Person.register(server.url, "owner"), Person.register(server.url, "other")
    chat = owner.create_chat("Schemathesis", [other])
    messages = [owner.send(chat, f"message {i}") for i in range(3)]
    assert owner.upload(chat, [("a.txt", b"hello")]).status == 302
    stored = LiveDatabase(server)
    try:
        token = make_token(stored, owner.username)
    finally:
        stored.close()
    files = [a["id"] for m in call(server.url, "GET", f"/api/v1/chats/{chat}/messages", token).json["messages"]
             for a in m["attachments"]]
    yield {"chat": chat, "messages": messages, "files": files, "token": token}
    for person in (owner, other):
        person.close_tabs()


@pytest.fixture(scope="module")
def schema(server):
    return schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")


def with_real_ids(strategy, world):
    """Half the cases name the chat, a message and a file that exist, so the operations are
    reached past the 404 of an id that is no one's."""
    real = {"chat_id": st.just(world["chat"]), "message_id": st.sampled_from(world["messages"]),
            "file_id": st.sampled_from(world["files"])}

    def place(case, use_real, ids):
        if use_real and case.path_parameters:
            for name in case.path_parameters:
                if name in ids:
                    case.path_parameters[name] = ids[name]
        return case

    return st.builds(place, strategy, st.booleans(), st.fixed_dictionaries(real))


def test_the_served_document_is_openapi_3_1_with_every_operation(schema):
    operations = [result.ok() for result in schema.get_all_operations()]
    assert schema.raw_schema["openapi"].startswith("3.1")
    assert len(operations) == 13


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_operation_answers_as_documented_and_never_with_a_server_error(schema, world, server, mode):
    headers = {"Authorization": f"Bearer {world['token']}"}
    failures, answered = [], {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @quick(EXAMPLES)
        @given(case=with_real_ids(operation.as_strategy(generation_mode=mode), world))
        def run(case):
            # A request line past gunicorn's limit is refused (414) before the app sees it.
            assume(len(case.formatted_path) + len(urlencode(case.query or {}, doseq=True)) < REQUEST_LINE_ROOM)
            response = case.call_and_validate(base_url=server.url, headers=headers, checks=CHECKS)
            answered.setdefault(case.operation.label, set()).add(response.status_code)

        try:
            run()
        except Exception as failure:  # noqa: BLE001 - every operation is tried; all failures reported
            failures.append(f"{operation.label}: {failure}")
    assert not failures, "\n\n".join(failures)
    if mode == GenerationMode.POSITIVE:  # the run got past "no such chat": every read answered 200 too
        assert all(200 in answered[label] for label in answered if label.startswith("GET")), answered


def test_sequences_of_linked_calls_answer_as_documented(schema, world, server):
    headers = {"Authorization": f"Bearer {world['token']}"}

    class Machine(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": headers, "base_url": server.url}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder)

    class Counting(Machine):
        def after_call(self, response, case):
            super().after_call(response, case)
            calls.append((case.operation.label, response.status_code))

    calls = []
    Counting.run(settings=quick(STATEFUL_STEPS, stateful_step_count=6))
    assert len({label for label, _ in calls}) > 5  # sequences over many operations, not one
