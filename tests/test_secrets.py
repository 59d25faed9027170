"""API keys never show where stock would not show them: with LiteLLM's debug logging on, a
distinctive key is looked for in the log records, stdout/stderr, the returned objects, the
exceptions (their whole cause/context chains and args), `edgequake_patch.status()`, the native
clients' reprs and the core's own error messages.

The patch must leak nothing more than stock does: every place is searched in a stock run and
a patched run of the same call, and the patched count may not exceed stock's. Where stock
itself shows the key, that is stock's behaviour, reported by `test_where_stock_shows_the_key`:
LiteLLM 1.95.0 with verbose logging prints the call's arguments, api_key included, once on
stdout; 1.106.2 shows it nowhere. The patch adds no occurrence in either.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import litellm
import pytest

import edgequake_patch
from edgequake_patch.transport import http_transport, native, sdk_transport
from tests.differential import CHAT_PROVIDERS
from tests.faultkit import exception_texts

# No well-known key prefix, so LiteLLM's own log redaction (newer releases scrub "sk-..." and
# the like from its records) cannot hide a leak from this search.
SECRET = "eqpq7f3a9c1d0b2e4f60aa11c3d5e7"
# Masking keeps a key's first characters; its end must never show.
SECRET_TAIL = SECRET[-12:]
MESSAGES = [{"role": "user", "content": "Say hello."}]
PROVIDERS = ["openai", "azure", "xai"]

OUTCOMES = {
    "success": {},
    "401": {"suffix": "-error-401"},
    "500": {"suffix": "-error-500"},
    "refused": {"refused": True},
    "timeout": {"suffix": "-slow-2000", "timeout": 0.3},
}


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.texts = []

    def emit(self, record):
        try:
            self.texts.append(record.getMessage())
        except Exception:  # noqa: BLE001 - a record whose args do not format
            self.texts.append(repr((record.msg, record.args)))
        if record.exc_info:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def debug_logging():
    records = _Records()
    loggers = [logging.getLogger(n) for n in ("", "LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx", "httpcore", "openai")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(records)
        lg.setLevel(logging.DEBUG)
    litellm._turn_on_debug()
    old_verbose, litellm.set_verbose = litellm.set_verbose, True
    try:
        yield records
    finally:
        litellm.set_verbose = old_verbose
        for lg, level in zip(loggers, levels):
            lg.removeHandler(records)
            lg.setLevel(level)
        logging.getLogger("LiteLLM").setLevel(logging.WARNING)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kwargs(provider, standin, outcome):
    spec = OUTCOMES[outcome]
    kwargs = {"messages": MESSAGES, "max_retries": 0, **CHAT_PROVIDERS[provider].kwargs(standin, spec.get("suffix", ""))}
    kwargs["api_key"] = SECRET
    if spec.get("refused"):
        kwargs["api_base"] = f"http://127.0.0.1:{_closed_port()}" + CHAT_PROVIDERS[provider].path
    if "timeout" in spec:
        kwargs["timeout"] = spec["timeout"]
    return kwargs


def _places(kwargs, is_async, records, capfd):
    """Run the call once; how often the key shows in each place."""
    records.texts.clear()
    capfd.readouterr()
    result = error = None
    try:
        if is_async:
            result = asyncio.run(litellm.acompletion(**kwargs))
        else:
            result = litellm.completion(**kwargs)
    except Exception as exc:  # noqa: BLE001 - the exception is searched
        error = exc
    out, err = capfd.readouterr()
    places = {
        "log_records": "\n".join(records.texts),
        "stdout": out,
        "stderr": err,
        "status": repr(edgequake_patch.status()),
    }
    if result is not None:
        places["result"] = "\n".join([repr(result), str(result), repr(getattr(result, "_hidden_params", None)),
                                      repr(getattr(result, "_response_headers", None))])
    if error is not None:
        places["exception"] = "\n".join(exception_texts(error))
    # Debug logging really is on (else the search below proves nothing).
    assert len(records.texts) > 3 and "POST" in places["log_records"] + out + err
    return {name: text.count(SECRET_TAIL) for name, text in places.items()}, result, error


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_patch_leaks_no_more_than_stock(provider, outcome, is_async, standin, patch, debug_logging, capfd):
    kwargs = _kwargs(provider, standin, outcome)
    patch.off()
    stock, stock_result, stock_error = _places(kwargs, is_async, debug_logging, capfd)
    patch.on()
    patched, result, error = _places(kwargs, is_async, debug_logging, capfd)
    patch.off()
    assert (result is None) == (stock_result is None), (stock_error, error)
    if outcome == "success":
        assert result.choices[0].message.content == "Hello from the stand-in."
    # Nowhere more often than stock; and never in a place stock keeps clean.
    worse = {place: (stock.get(place, 0), n) for place, n in patched.items() if n > stock.get(place, 0)}
    assert not worse, f"the key shows more often patched than stock (stock, patched): {worse}"
    # The places a patched call has that stock's does not share are the patch's own: clean.
    assert patched["status"] == 0
    if outcome in ("success", "401", "500", "timeout"):
        assert sum(edgequake_patch.status()["native_calls"].values()) >= 1


def test_the_search_finds_a_key_that_is_there(debug_logging, capfd):
    """The places searched are the ones LiteLLM writes to."""
    debug_logging.texts.clear()
    logging.getLogger("httpx").debug("value %s", SECRET)
    assert any(SECRET_TAIL in t for t in debug_logging.texts)


def test_where_stock_shows_the_key(standin, patch, debug_logging, capfd):
    """Documents stock's own exposure with debug logging on (see docs/reliability.md)."""
    patch.off()
    seen = {}
    for provider in PROVIDERS:
        for outcome in sorted(OUTCOMES):
            counts, _, _ = _places(_kwargs(provider, standin, outcome), False, debug_logging, capfd)
            seen[(provider, outcome)] = {k: v for k, v in counts.items() if v}
    print("\nwhere stock shows the key with debug logging on:")
    for key, places in seen.items():
        print(f"  {key}: {places or 'nowhere'}")


# --- the patch's own objects --------------------------------------------------------------


def test_native_clients_do_not_show_the_key(standin):
    import openai

    import httpx

    # With a legacy httpx client, as LiteLLM builds its SDK clients (openai 3 would otherwise
    # make an httpx2 one, which the native client does not stand in for: stock serves it).
    real = openai.OpenAI(api_key=SECRET, base_url=standin.base_url + "/v1", http_client=httpx.Client())
    client = sdk_transport.from_sdk_client(real, "openai")
    assert isinstance(client, sdk_transport.NativeSdkClient)
    assert SECRET_TAIL not in repr(client) and SECRET_TAIL not in str(client)
    assert SECRET_TAIL not in repr(client.chat.completions) and SECRET_TAIL not in repr(client.chat)
    azure = openai.AzureOpenAI(api_key=SECRET, azure_endpoint=standin.base_url, api_version="2024-10-21",
                               http_client=httpx.Client())
    native_azure = sdk_transport.from_sdk_client(azure, "azure")
    assert SECRET_TAIL not in repr(native_azure)
    handler = http_transport._native_handler("xai", False, None)
    assert SECRET_TAIL not in repr(handler) and SECRET_TAIL not in repr(handler.client._transport)


@pytest.mark.parametrize("where", ["header", "query", "userinfo"])
def test_core_errors_do_not_show_the_key(where):
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = [("Authorization", f"Bearer {SECRET}"), ("api-key", SECRET)]
    if where == "query":
        url += f"?api_key={SECRET}&key={SECRET}"
    if where == "userinfo":
        url = f"http://user:{SECRET}@127.0.0.1:{port}/v1/chat/completions"
    with pytest.raises(native.TransportError) as info:
        native.send("POST", url, headers, {"model": "x"}, timeout=2.0, connect_timeout=None, max_retries=1, retry="openai_sdk")
    error = info.value
    texts = [str(error), repr(error), repr(error.args), str(error.message)]
    assert all(SECRET_TAIL not in t for t in texts), texts


def test_core_read_timeout_does_not_show_the_key(standin):
    url = standin.base_url + f"/v1/chat/completions?api_key={SECRET}"
    with pytest.raises(native.TransportError) as info:
        native.send("POST", url, [("Authorization", f"Bearer {SECRET}")], {"model": "slow-2000", "messages": MESSAGES},
                    timeout=0.3, connect_timeout=None, max_retries=0, retry="none")
    assert info.value.kind == "read_timeout"
    assert all(SECRET_TAIL not in t for t in (str(info.value), repr(info.value), repr(info.value.args)))
