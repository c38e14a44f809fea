"""schemathesis against the live OpenAPI schema of a running server: every operation, with
generated valid and invalid parameters and bodies, answers without a 5xx and as its schema says
(status codes, content types, response bodies)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from support.apiserver import live_api

pytestmark = pytest.mark.network

EXAMPLES = 10  # per operation and mode: keeps the test well under a minute
# Every check except two that misjudge free-text query parameters: since/until accept forms
# (24h, ISO 8601, epoch) JSON Schema cannot state fully, so a schema-valid "since" may rightly
# get a 422; and a query string is text, so a "negative" exporter=false is a valid name.
EXCLUDED = [positive_data_acceptance, negative_data_rejection]


def test_schemathesis_live_openapi(tmp_path_factory: pytest.TempPathFactory) -> None:
    with live_api(tmp_path_factory.mktemp("schemathesis")) as target:
        auth = {"Authorization": f"Bearer {target.tokens['admin']}"}
        schema = schemathesis.openapi.from_url(f"{target.base_url}/api/openapi.json", headers=auth)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 25
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(mode))
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                def check(case: schemathesis.Case) -> None:
                    case.call_and_validate(headers=auth, excluded_checks=EXCLUDED)

                try:
                    check()
                except Unsatisfiable:
                    # no invalid input exists for an operation without parameters or body
                    assert mode == GenerationMode.NEGATIVE, operation.label
