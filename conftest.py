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
            return self

    switch = Switch()
    yield switch
    edgequake_patch.uninstall()
