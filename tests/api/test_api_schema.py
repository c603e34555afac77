"""schemathesis over the OpenAPI spec: generated requests never get a 5xx and responses match the schema.

Runs as an admin (so writes go through to the handlers, not just the role check) on a
world of its own, since generated writes change it.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from .conftest import add_users, build_world

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis")

from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    # Textured: the change endpoints can then succeed too, so their 200 bodies are checked as well.
    world = build_world(tmp_path_factory.mktemp("schema-world"), n_scenes=6, seed=1, textured=True)
    return world.url, add_users(world.url).admin


@pytest.fixture(scope="module")
def api_schema(admin_key: tuple[str, str]):  # type: ignore[no-untyped-def]
    from sitewatch.api.app import create_app
    from sitewatch.api.settings import ApiSettings

    app = create_app(admin_key[0], settings=ApiSettings(rate_per_second=10_000, rate_burst=10_000))
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    app.state.jobs.close()  # drop the generated jobs still queued (no lifespan runs here)


@pytest.mark.slow
def test_no_server_errors_and_responses_match_schema(api_schema, admin_key):  # type: ignore[no-untyped-def]
    # Operation by operation with plain Hypothesis: schemathesis' pytest plugin does not load
    # under this pytest, and this also reports every failing operation at once.
    headers = {"X-API-Key": admin_key[1]}
    failures, n_ops = [], 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        n_ops += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):  # type: ignore[no-untyped-def]
            # Every check but "schema-valid request accepted": a site must also be valid
            # geometry, which JSON Schema cannot say, so such requests rightly get a 400.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        try:
            check()
        except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis failures; collect them all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc).strip()[:700]}")
    assert n_ops >= 20
    assert not failures, "\n".join(failures)
