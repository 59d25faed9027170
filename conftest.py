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

import tempfile  # noqa: E402

import pytest  # noqa: E402

# The patch caches its decision per installed pair on disk: the suite keeps its own, so that a
# test changing what it sees (a stock function monkeypatched) decides afresh, and nothing from
# another run applies.
os.environ["EDGEQUAKE_PATCH_CACHE"] = tempfile.mkdtemp(prefix="eqp-cache-")

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

    streams = sys.modules.get("edgequake_patch.paths.fast_stream")
    if streams is not None:
        streams.forget_shapes()


if os.environ.get("EQP_VETTING"):
    # A vetting run (scripts/evidence.py): the pair under test is what the evidence is being
    # gathered for, so its code counts as vetted while the suite runs. The suite then shows
    # whether every path is faithful and native on it; nothing is assumed in any other run.
    from edgequake_patch.decide import evidence as _evidence

    class _Vetting(_evidence.Shipped):
        def group(self, path, component, digest):
            found = super().group(path, component, digest)
            return found if found and found.get("outcome") == _evidence.PASSED else {
                "releases": ["(under vetting)"], "outcome": _evidence.PASSED,
                "vetted_on": {"litellm": "(this run)", "openai": "(this run)"}}

    _evidence._shipped = _Vetting(_evidence.shipped().document)
