"""The web API keeps its published contract: Schemathesis, every check, against a real server.

Schemathesis reads /openapi.json and sends requests generated from it, schema-valid and not:
every answer must be documented (status code, content type, body schema), schema-valid
requests must be accepted, schema-invalid ones refused with a 4xx, and nothing may be a 500.
Here with a small budget (a few dozen examples per operation and phase; Schemathesis varies
them from run to run: its coverage phase found the all-faint-pixels 500 fixed in web.digits);
the full run is `schemathesis run http://127.0.0.1:PORT/openapi.json --checks all --max-time 60`
from the repository root (schemathesis.toml holds the one rule a schema cannot state).
"""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from digitnet.network import Network  # noqa: E402
from digitnet.web import create_app  # noqa: E402
from digitnet.web.server import BackgroundServer  # noqa: E402
from digitnet.web.sessions import SessionLimits  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = 25  # per operation and phase: about 20 s in all here


def served_network() -> Network:
    net = Network([784, 16, 16, 10], seed=0)
    net.metadata = {"class_names": [str(k) for k in range(10)], "dataset": "mnist", "metrics": {"test_accuracy": 0.5}}
    return net


APP = create_app(served_network())
# A schema-valid POST /api/learn would train for up to 30 epochs per example: here every one is
# answered 429 (documented), as when the server already runs as many sessions as it allows.
APP.state.learning.limits = SessionLimits(max_sessions=0)


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(APP) as running:
        yield running


def load_schema():
    from schemathesis.config import SchemathesisConfig

    # The schema the server publishes at /openapi.json, read from the same app object (loading
    # it from the server at collection time would need the server running before any fixture).
    return schemathesis.openapi.from_dict(APP.openapi(), config=SchemathesisConfig.from_path(ROOT / "schemathesis.toml"))


schema = load_schema()


def test_the_published_schema_is_the_one_tested(server):
    import httpx

    assert httpx.get(f"{server.url}/openapi.json").json() == APP.openapi()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_as_its_schema_says(case, server):
    case.call_and_validate(base_url=server.url)  # every built-in check, as `--checks all`
