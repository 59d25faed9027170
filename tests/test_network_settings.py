"""Network settings as stock honours them, for both transport families (the OpenAI SDK client
for openai; LiteLLM's own HTTP handler for xai), sync and async:

* TLS trust: SSL_CERT_FILE, `litellm.ssl_verify` (a CA path, or False), SSL_VERIFY, per-call
  `ssl_verify`, against a local HTTPS front with a CA generated for the test;
* proxies: HTTP_PROXY / HTTPS_PROXY / ALL_PROXY / NO_PROXY (and lowercase), with credentials,
  through a recording forward/CONNECT proxy.

Each case is differential (stock twice, patched once: same requests at the provider, same
requests at the proxy, same result or exception) and native-proof where the core can serve it
(the patched call was counted native and nothing fell back).
"""

from __future__ import annotations

import asyncio

import litellm
import pytest

from edgequake_patch.transport import http_transport
from edgequake_patch.state import stats
from tests.differential import assert_same, block_python_connects, compare, litellm_call
from tests.netfixtures import RecordingProxy, TlsFront, make_pki

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")
TLS_VARS = ("SSL_CERT_FILE", "SSL_VERIFY", "SSL_CERTIFICATE", "REQUESTS_CA_BUNDLE", "SSL_CERT_DIR")

PROVIDERS = {
    "openai": ("openai/gpt-4o-mini", "/v1", "sk-test-openai-0123456789"),
    "xai": ("xai/grok-3-mini", "/v1", "xai-test-key-0123456789"),
}
MESSAGES = [{"role": "user", "content": "Hi"}]


def _flush_clients() -> None:
    """Stock and the patch both keep clients built with the settings of their time (stock for an
    hour): start every case from clients built under its own settings."""
    cache = getattr(litellm, "in_memory_llm_clients_cache", None)
    if cache is not None:
        cache.flush_cache()
    http_transport._handlers.clear()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("pki"))
    return make_pki(directory), make_pki(directory, label="unrelated")


@pytest.fixture(scope="module")
def https(standin, pki):
    with TlsFront(standin.port, pki[0]) as front:
        yield front


@pytest.fixture
def proxy():
    with RecordingProxy() as p:
        yield p


@pytest.fixture
def net(monkeypatch):
    """A clean slate: no proxy or TLS variables, stock's TLS defaults, fresh clients."""
    for name in PROXY_VARS + TLS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(litellm, "ssl_verify", True)
    _flush_clients()
    yield monkeypatch
    _flush_clients()


def _fails_alike(c) -> None:
    """Both runs raised, the same class, status and provider, and nothing reached the provider."""
    assert c.stock.error is not None and c.patched.error is not None
    assert type(c.patched.error) is type(c.stock.error)
    assert type(c.stock.error).__module__ == "litellm.exceptions"
    for attribute in ("status_code", "llm_provider", "message"):
        assert getattr(c.patched.error, attribute) == getattr(c.stock.error, attribute)
    assert c.stock.requests == [] and c.patched.requests == []


def _call(provider: str, api_base: str, is_async: bool, **extra):
    model, path, key = PROVIDERS[provider]
    kwargs = {"model": model, "messages": MESSAGES, "api_base": api_base + path, "api_key": key, **extra}
    return litellm_call("completion", kwargs, is_async=is_async)


def _recording(call, proxy: RecordingProxy, runs: list):
    """`call`, also keeping what the proxy saw during each run."""
    if asyncio.iscoroutinefunction(call):

        async def recorded():
            proxy.reset()
            try:
                return await call()
            finally:
                runs.append(proxy.records())

        return recorded

    def recorded_sync():
        proxy.reset()
        try:
            return call()
        finally:
            runs.append(proxy.records())

    return recorded_sync


both_families = pytest.mark.parametrize("provider", sorted(PROVIDERS))
sync_and_async = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])


# ---------------------------------------------------------------------------------------------
# TLS trust


@both_families
@sync_and_async
def test_ca_from_ssl_cert_file(net, https, pki, standin, patch, provider, is_async):
    net.setenv("SSL_CERT_FILE", pki[0].ca_pem)
    c = compare(_call(provider, https.base_url(), is_async), standin, patch)
    assert c.stock.error is None and c.patched.error is None
    assert c.patched.result.choices[0].message.content == "Hello from the stand-in."
    assert_same(c)


@both_families
@sync_and_async
def test_ca_from_litellm_ssl_verify_path(net, https, pki, standin, patch, provider, is_async):
    net.setattr(litellm, "ssl_verify", pki[0].ca_pem)
    c = compare(_call(provider, https.base_url("localhost"), is_async), standin, patch)
    assert c.stock.error is None
    assert_same(c)


@both_families
@sync_and_async
def test_verification_off(net, https, standin, patch, provider, is_async):
    net.setattr(litellm, "ssl_verify", False)
    c = compare(_call(provider, https.base_url(), is_async), standin, patch)
    assert c.stock.error is None
    assert_same(c)


@sync_and_async
def test_ssl_verify_env_false(net, https, standin, patch, is_async):
    net.setenv("SSL_VERIFY", "False")
    c = compare(_call("xai", https.base_url(), is_async), standin, patch)
    assert c.stock.error is None
    assert_same(c)


@sync_and_async
def test_per_call_ssl_verify_path(net, https, pki, standin, patch, is_async):
    """LiteLLM's own handler takes `ssl_verify` per call (the SDK family ignores it)."""
    c = compare(_call("xai", https.base_url(), is_async, ssl_verify=pki[0].ca_pem), standin, patch)
    assert c.stock.error is None
    assert_same(c)


@both_families
@sync_and_async
def test_untrusted_server_fails_like_stock(net, https, pki, standin, patch, provider, is_async):
    """The server's CA is not the one configured: stock's exception, nothing reaches the provider.
    Nothing was sent, so the failed handshake goes to stock for one last try (counted as
    connect_failed_before_send): stock raises its own error text, or succeeds where its TLS
    stack accepts what rustls does not."""
    net.setenv("SSL_CERT_FILE", pki[1].ca_pem)
    c = compare(_call(provider, https.base_url(), is_async), standin, patch)
    _fails_alike(c)
    assert "CERTIFICATE_VERIFY_FAILED" in str(c.stock.error) or provider == "openai"
    assert_same(c, native=False)
    assert c.patched.fallbacks == {"connect_failed_before_send": 1}


@both_families
@sync_and_async
def test_default_trust_rejects_private_ca(net, https, standin, patch, provider, is_async):
    """Nothing configured: stock trusts certifi's roots only, so does the core."""
    # The first handshake decides trust. The SDK's retries of a failed one (after its backoff)
    # and the core's fallback before them are test_untrusted_server_fails_like_stock's.
    c = compare(_call(provider, https.base_url(), is_async, max_retries=0), standin, patch)
    _fails_alike(c)
    assert_same(c, native=False)


@both_families
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"])
def test_ca_variables_stock_ignores(net, https, pki, standin, patch, provider, variable):
    """LiteLLM hands httpx/aiohttp an SSL context of its own, so these variables change nothing
    for stock: the core must not trust more than stock does either."""
    import os

    net.setenv(variable, os.path.dirname(pki[0].ca_pem) if variable == "SSL_CERT_DIR" else pki[0].ca_pem)
    # No retries: as in test_default_trust_rejects_private_ca, the first handshake decides.
    c = compare(_call(provider, https.base_url(), False, max_retries=0), standin, patch)
    _fails_alike(c)
    assert_same(c, native=False)


def test_cert_settings_key_the_core_pool(net, https, pki, standin, patch):
    """A client the core built trusting one CA never serves a call configured with another."""
    patch.on()
    net.setenv("SSL_CERT_FILE", pki[0].ca_pem)
    kwargs = dict(model="xai/grok-3-mini", messages=MESSAGES, api_base=https.base_url() + "/v1", api_key="k")
    assert litellm.completion(**kwargs).choices[0].message.content == "Hello from the stand-in."
    net.setenv("SSL_CERT_FILE", pki[1].ca_pem)
    _flush_clients()
    before = dict(stats.fallbacks)
    with pytest.raises(litellm.InternalServerError, match="CERTIFICATE_VERIFY_FAILED"):
        litellm.completion(**kwargs)
    assert stats.fallbacks["connect_failed_before_send"] == before.get("connect_failed_before_send", 0) + 1


# ---------------------------------------------------------------------------------------------
# Proxies


def _compare_through(proxy, call, standin, patch):
    runs: list = []
    c = compare(_recording(call, proxy, runs), standin, patch)
    assert len(runs) == 3
    assert runs[2] == runs[0], f"the proxy saw different requests:\n stock:   {runs[0]}\n patched: {runs[2]}"
    return c, runs[0]


@both_families
@sync_and_async
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_http_proxy_from_env(net, proxy, standin, patch, provider, is_async, variable):
    net.setenv(variable, proxy.url)
    c, seen = _compare_through(proxy, _call(provider, standin.base_url, is_async), standin, patch)
    assert c.stock.error is None
    assert_same(c)
    assert seen == [("POST", f"{standin.base_url}{PROVIDERS[provider][1]}/chat/completions", None)]


@both_families
@sync_and_async
def test_https_proxy_tunnel(net, proxy, https, pki, standin, patch, provider, is_async):
    net.setenv("HTTPS_PROXY", proxy.url)
    net.setenv("SSL_CERT_FILE", pki[0].ca_pem)
    c, seen = _compare_through(proxy, _call(provider, https.base_url(), is_async), standin, patch)
    assert c.stock.error is None
    assert seen == [("CONNECT", f"127.0.0.1:{https.port}", None)]
    assert_same(c)


@both_families
@sync_and_async
def test_proxy_credentials(net, proxy, standin, patch, provider, is_async):
    net.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://user%40corp:p%3Ass@"))
    c, seen = _compare_through(proxy, _call(provider, standin.base_url, is_async), standin, patch)
    assert c.stock.error is None
    assert seen and seen[0][2] == "Basic dXNlckBjb3JwOnA6c3M="  # user@corp:p:ss
    assert_same(c)


@both_families
@sync_and_async
@pytest.mark.parametrize("variable", ["NO_PROXY", "no_proxy"])
def test_no_proxy_bypasses(net, proxy, standin, patch, provider, is_async, variable):
    net.setenv("HTTP_PROXY", proxy.url)
    net.setenv(variable, "localhost,127.0.0.1")
    c, seen = _compare_through(proxy, _call(provider, standin.base_url, is_async), standin, patch)
    assert seen == []
    assert_same(c)


@both_families
@sync_and_async
def test_no_proxy_other_host_still_proxied(net, proxy, standin, patch, provider, is_async):
    net.setenv("HTTP_PROXY", proxy.url)
    net.setenv("NO_PROXY", "localhost")
    c, seen = _compare_through(proxy, _call(provider, standin.base_url, is_async), standin, patch)
    assert len(seen) == 1
    assert_same(c)


@both_families
def test_aiohttp_trust_env_disabled(net, proxy, standin, patch, provider):
    """DISABLE_AIOHTTP_TRUST_ENV: stock's async (aiohttp) transport ignores the proxy variables;
    the patched call follows the same rule because it asks that transport."""
    net.setenv("HTTP_PROXY", proxy.url)
    net.setenv("DISABLE_AIOHTTP_TRUST_ENV", "True")
    c, seen = _compare_through(proxy, _call(provider, standin.base_url, True), standin, patch)
    assert seen == []
    assert_same(c)


@both_families
def test_httpx_async_transport_proxy(net, proxy, standin, patch, provider):
    """litellm.disable_aiohttp_transport: async calls use httpx, which mounts the env proxies."""
    net.setattr(litellm, "disable_aiohttp_transport", True)
    net.setenv("HTTP_PROXY", proxy.url)
    c, seen = _compare_through(proxy, _call(provider, standin.base_url, True), standin, patch)
    assert len(seen) == 1
    assert_same(c)


@both_families
def test_unreachable_proxy_fails_like_stock(net, standin, patch, provider):
    net.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # discard port: nothing listens
    c = compare(_call(provider, standin.base_url, False), standin, patch)
    _fails_alike(c)
    assert_same(c, native=False)


# ---------------------------------------------------------------------------------------------
# Settings the core does not reproduce: stock serves them, and the reason is counted


# LiteLLM hands httpx the certificate as `cert=`, which httpx deprecates: stock's own warning.
@pytest.mark.filterwarnings("ignore:`cert=...` is deprecated:DeprecationWarning:httpx._config")
def test_client_certificate_falls_back(net, https, pki, standin, patch, tmp_path):
    """A client certificate (SSL_CERTIFICATE / litellm.ssl_certificate) is stock's to present."""
    combined = tmp_path / "client.pem"
    combined.write_bytes(open(pki[0].cert_pem, "rb").read() + open(pki[0].key_pem, "rb").read())
    net.setenv("SSL_CERT_FILE", pki[0].ca_pem)
    net.setattr(litellm, "ssl_certificate", str(combined))
    c = compare(_call("xai", https.base_url(), False), standin, patch)
    assert c.stock.error is None
    assert_same(c, native=False)
    assert c.patched.native_calls == 0 and c.patched.fallbacks == {"ssl_client_certificate": 1}


@both_families
def test_force_ipv4_falls_back(net, standin, patch, provider):
    """litellm.force_ipv4 binds LiteLLM's own handler's httpx transport to a local address: stock's
    to do. (The SDK family's sync client is built without it, so it stays native.)"""
    net.setattr(litellm, "force_ipv4", True)
    c = compare(_call(provider, standin.base_url, False), standin, patch)
    assert c.stock.error is None
    if provider == "openai":
        assert_same(c)
    else:
        assert_same(c, native=False)
        assert c.patched.fallbacks == {"local_address": 1}


@both_families
@sync_and_async
def test_certificate_only_stock_accepts(net, standin, patch, tmp_path, provider, is_async):
    """A server certificate naming its host in the subject CN only: OpenSSL (stock) accepts it,
    rustls does not. Nothing was sent when the core's handshake failed, so stock gets its own
    try and the call succeeds as it would have: never worse than stock."""
    pki = make_pki(str(tmp_path), label="cn only", san=False)
    net.setenv("SSL_CERT_FILE", pki.ca_pem)
    with TlsFront(standin.port, pki) as front:
        c = compare(_call(provider, front.base_url("localhost"), is_async), standin, patch)
    assert c.stock.error is None and c.patched.error is None
    assert_same(c, native=False)
    assert c.patched.fallbacks == {"connect_failed_before_send": 1}


# ---------------------------------------------------------------------------------------------
# Every provider and endpoint the core serves: HTTPS through the tunnelling proxy, trusting
# the test CA from SSL_CERT_FILE.

from tests.differential import CHAT_PROVIDERS, EMBEDDING_PROVIDERS  # noqa: E402


def _provider_call(table, name, https, function, is_async):
    p = table[name]
    kwargs = {"model": p.model, "api_base": https.base_url() + p.path, "api_key": p.key, **p.extra}
    if function == "completion":
        kwargs["messages"] = MESSAGES
    else:
        kwargs["input"] = ["hello"]
    return litellm_call(function, kwargs, is_async=is_async)


@pytest.mark.parametrize(
    "function,name",
    [("completion", n) for n in sorted(CHAT_PROVIDERS)] + [("embedding", n) for n in sorted(EMBEDDING_PROVIDERS)],
)
@sync_and_async
def test_every_provider_over_tls_through_proxy(net, proxy, https, pki, standin, patch, function, name, is_async):
    net.setenv("HTTPS_PROXY", proxy.url)
    net.setenv("SSL_CERT_FILE", pki[0].ca_pem)
    table = CHAT_PROVIDERS if function == "completion" else EMBEDDING_PROVIDERS
    c, seen = _compare_through(proxy, _provider_call(table, name, https, function, is_async), standin, patch)
    assert c.stock.error is None, c.stock.error
    assert seen == [("CONNECT", f"127.0.0.1:{https.port}", None)]
    assert_same(c)


@pytest.mark.parametrize("name", sorted(CHAT_PROVIDERS))
@sync_and_async
def test_streams_over_tls_through_proxy(net, proxy, https, pki, standin, patch, name, is_async):
    from tests.differential import litellm_stream

    net.setenv("HTTPS_PROXY", proxy.url)
    net.setenv("SSL_CERT_FILE", pki[0].ca_pem)
    p = CHAT_PROVIDERS[name]
    kwargs = {"model": p.model, "api_base": https.base_url() + p.path, "api_key": p.key, **p.extra,
              "messages": MESSAGES, "max_retries": 0}
    c, seen = _compare_through(proxy, litellm_stream(kwargs, is_async=is_async), standin, patch)
    assert c.patched.result.error is None and len(c.patched.result.chunks) >= 3
    assert seen == [("CONNECT", f"127.0.0.1:{https.port}", None)]
    assert_same(c)


# ---------------------------------------------------------------------------------------------
# Native proof: Python's own sockets may not reach the proxy, yet the patched call gets through
# it (and through TLS trusting the test CA), so the core made the connection with the settings.


@pytest.fixture
def proxy_blocked_for_python(proxy, monkeypatch):
    return block_python_connects(monkeypatch, proxy.port, "proxy")


@both_families
@sync_and_async
def test_native_through_proxy_and_tls(net, proxy, proxy_blocked_for_python, https, pki, standin, patch, provider, is_async):
    net.setenv("HTTPS_PROXY", proxy.url)
    net.setenv("SSL_CERT_FILE", pki[0].ca_pem)
    call = _call(provider, https.base_url(), is_async, max_retries=0)

    def run_call():
        return asyncio.run(call()) if is_async else call()

    patch.off()
    with pytest.raises(Exception):
        run_call()
    assert proxy_blocked_for_python, "stock did not try the proxy: the block proves nothing"

    patch.on()
    proxy_blocked_for_python.clear()
    proxy.reset()
    before = sum(stats.native_calls.values())
    response = run_call()
    assert response.choices[0].message.content == "Hello from the stand-in."
    assert sum(stats.native_calls.values()) == before + 1
    assert proxy_blocked_for_python == [], "the patched call tried a Python socket"
    assert proxy.records() == [("CONNECT", f"127.0.0.1:{https.port}", None)]


# ---------------------------------------------------------------------------------------------
# The core's NetConfig itself


def test_netconfig_validates_and_hides_credentials():
    from edgequake_patch.transport import native

    cfg = native.NetConfig(verify=True, proxy="http://127.0.0.1:3128", proxy_authorization="Basic c2VjcmV0OnB3")
    assert "c2VjcmV0" not in repr(cfg) and "3128" not in repr(cfg)
    assert cfg == native.NetConfig(verify=True, proxy="http://127.0.0.1:3128", proxy_authorization="Basic c2VjcmV0OnB3")
    assert hash(cfg) == hash(native.NetConfig(verify=True, proxy="http://127.0.0.1:3128", proxy_authorization="Basic c2VjcmV0OnB3"))
    assert cfg != native.NetConfig(verify=False, proxy="http://127.0.0.1:3128", proxy_authorization="Basic c2VjcmV0OnB3")
    with pytest.raises(ValueError):
        native.NetConfig(proxy="not a url")
    with pytest.raises(ValueError):
        native.NetConfig(ca_certs=[b"not DER"])
    with pytest.raises(ValueError):
        native.NetConfig(ca_certs=["a str"])


def test_send_without_settings_ignores_proxy_variables(standin, monkeypatch):
    """Called without net=, the core uses no proxy at all: it never reads proxy variables by
    itself (only Python decides, from stock's client)."""
    from edgequake_patch.transport import native

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    reply = native.send("POST", standin.base_url + "/v1/chat/completions", [], {"model": "x", "messages": [{"role": "user", "content": "hi"}]},
                        timeout=5, connect_timeout=5, max_retries=0, retry="none")
    assert reply.status == 200


# ---------------------------------------------------------------------------------------------
# SSL contexts and clients the user hands LiteLLM


def _capath(pki, tmp_path):
    """A hashed certificate directory holding the test CA (what `capath=` expects)."""
    import shutil
    import subprocess

    digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", pki.ca_pem], capture_output=True,
                            text=True, check=True).stdout.strip()
    directory = tmp_path / "capath"
    directory.mkdir()
    shutil.copy(pki.ca_pem, directory / f"{digest}.0")
    return str(directory)


@sync_and_async
def test_per_call_ssl_context(net, https, pki, standin, patch, is_async):
    """An SSLContext as per-call ssl_verify: stock (1.106.2) uses it as is and the core trusts
    what it was loaded with; where stock cannot take one (1.95.0 fails serialising it), the
    patched call fails the same way."""
    import ssl

    ctx = ssl.create_default_context(cafile=pki[0].ca_pem)
    c = compare(_call("xai", https.base_url(), is_async, ssl_verify=ctx), standin, patch)
    assert_same(c, native=c.stock.error is None)


def test_ssl_context_with_capath_falls_back(net, https, pki, standin, patch, tmp_path):
    """A context that looks CAs up lazily in a directory lists none before its first handshake:
    stock's to use. (Once stock has used it, the CAs it looked up are listed and the core can
    trust those; any other server's CA would fail the core's handshake, which then goes to stock
    too, since nothing was sent.)"""
    import ssl

    ctx = ssl.create_default_context(capath=_capath(pki[0], tmp_path))
    assert ctx.get_ca_certs() == []
    patch.on()
    before = dict(stats.fallbacks)
    kwargs = dict(model="xai/grok-3-mini", messages=MESSAGES, api_base=https.base_url() + "/v1", api_key="k")
    try:
        response = litellm.completion(**kwargs, ssl_verify=ctx)
    except litellm.InternalServerError as exc:  # 1.95.0 cannot take a context per call at all
        assert "SSLContext" in str(exc)
        return
    assert response.choices[0].message.content == "Hello from the stand-in."
    assert stats.fallbacks["ssl_context_unreadable"] == before.get("ssl_context_unreadable", 0) + 1


@sync_and_async
def test_user_client_session(net, proxy, https, pki, standin, patch, is_async):
    """litellm.client_session / aclient_session: the SDK family sends with the user's httpx
    client, its proxy and its CA; so does the core."""
    import ssl

    import httpx

    ctx = ssl.create_default_context(cafile=pki[0].ca_pem)
    call = _call("openai", https.base_url(), is_async)
    if is_async:
        # An httpx.AsyncClient belongs to the event loop it first ran on, and each run is its
        # own asyncio.run(): each gets its own client, as an application with one loop has.
        net.setattr(litellm, "aclient_session", None)
        plain_call = call

        async def call():
            litellm.aclient_session = httpx.AsyncClient(proxy=proxy.url, verify=ctx)
            return await plain_call()
    else:
        net.setattr(litellm, "client_session", httpx.Client(proxy=proxy.url, verify=ctx))
    c, seen = _compare_through(proxy, call, standin, patch)
    assert c.stock.error is None
    assert seen == [("CONNECT", f"127.0.0.1:{https.port}", None)]
    assert_same(c)


@both_families
def test_aiohttp_trust_env_switch_is_live(net, proxy, standin, patch, provider):
    """Stock's aiohttp transport reads `litellm.disable_aiohttp_trust_env` on every request, so
    flipping it takes effect at once, with the same clients; likewise patched."""
    net.setenv("HTTP_PROXY", proxy.url)
    runs = []
    for disabled in (False, True, False):
        net.setattr(litellm, "disable_aiohttp_trust_env", disabled)
        c, seen = _compare_through(proxy, _call(provider, standin.base_url, True), standin, patch)
        assert_same(c)
        runs.append(len(seen))
    assert runs == [1, 0, 1]
