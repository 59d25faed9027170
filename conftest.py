"""Test-wide set-up: LiteLLM offline, the provider stand-in, and patch on/off switching."""

import os

# Before LiteLLM is imported anywhere: no remote cost map, no tokenizer downloads, no
# auto-activation of the patch from the environment (tests switch it explicitly).
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("EDGEQUAKE_PATCH", None)
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

import pytest  # noqa: E402

from tests.standin import StandIn  # noqa: E402


def pytest_collection_finish(session):
    # After -k / deselection: only a selected memory run is started early (see below).
    session.config._eqp_memory_run_early = any(
        item.nodeid.endswith("test_memory.py::test_litellm_calls_do_not_grow_memory") for item in session.items)


@pytest.fixture(scope="session", autouse=True)
def _memory_run_in_background(request):
    """tests/test_memory.py's LiteLLM run, a process of its own, started with the session so
    that it runs while the rest of the suite waits; its test collects the result."""
    if not getattr(request.config, "_eqp_memory_run_early", False):
        yield
        return
    from tests import test_memory

    test_memory.start_litellm_run_early()
    try:
        yield
    finally:
        test_memory.stop_litellm_run_early()


@pytest.fixture(scope="session")
def standin():
    with StandIn.start() as server:
        yield server


@pytest.fixture
def fresh_standin(standin):
    standin.reset()
    return standin


@pytest.fixture
def patch():
    """Patch switch for one test: `patch.on()` / `patch.off()`; always off afterwards."""
    import edgequake_patch

    class Switch:
        def on(self):
            assert edgequake_patch.install() is True
            return self

        def off(self):
            edgequake_patch.uninstall()
            _forget_stream_shapes()
            return self

    switch = Switch()
    yield switch
    switch.off()


def _forget_stream_shapes():
    """Each test's patched streams learn their shapes afresh (tests count the chunks the fast
    path builds; a shape learned in an earlier test would make the count depend on order)."""
    import sys

    streams = sys.modules.get("edgequake_patch.fast_stream")
    if streams is not None:
        streams.forget_shapes()
