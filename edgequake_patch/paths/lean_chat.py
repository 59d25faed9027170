"""The lean handler: non-streaming chat for the OpenAI-SDK family (`openai/`, `lm_studio/`),
served without stock's handler machinery around the exchange.

For these calls stock's `_complete_custom_openai` → `OpenAIChatCompletion.completion` spends
~150 µs per call on code that, for a plain call, only shuffles values: re-resolving the
provider config, a two-turn retry loop that never turns, a timing decorator that starts an
event loop for service monitors nobody registered, three try/except layers. This module does
the observable part of that code, in stock's order, with stock's own pieces wherever they hold
policy: the provider config's `transform_request` builds the body, stock's client cache hands
out the SDK client (and so its retries, timeout, key and organization), LiteLLM's Logging object
gets the same `pre_call` / `post_call` payloads, `convert_to_model_response_object` builds the
response. The exchange is the native client's (sdk_transport), the same as on the regular path.

Only a well-formed 2xx chat completion finishes here. Any other outcome of the exchange — an
HTTP error after the core's retries, a transport error, a body that is not a chat completion —
is handed to stock's dispatch with that exchange *prefetched* (sdk_transport.prefetched): stock's
handler runs as always, its SDK send answers with what the core already received, and stock's
code produces its exact exception or result. Nothing is sent twice. `pre_call` already ran here
with the arguments stock would pass, so the re-run skips it (stock calls it once).

Which calls come here is decided in routing.py (`lean_refusal`); a few conditions only visible
once the call is under way (a provider config that fakes streams, an agentic callback hook) are
checked here before anything is sent or logged, and send the call down the regular native path.

Where stock's handler differs between releases, the difference is read off the release
(`_Stock`). Whether this reproduction holds at all on a release is decided by the fingerprints
of the stock code it reproduces (reliance.py, path `lean`): a release that changed any of it
takes the regular native path.
"""

from __future__ import annotations

import datetime
import inspect
import re
import time
from typing import Any, Optional

import httpx
import openai

from ..transport import native, sdk_transport
from ..state import stats

_REQUEST_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})


class _NotLean(Exception):
    """Found before anything was sent or logged: the regular native path serves the call."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Stock:
    """LiteLLM symbols the handler uses, looked up once per release (after LiteLLM is imported;
    module attributes are read at call time where tests or apps may replace them)."""

    def __init__(self):
        import litellm
        import litellm.main as main
        import litellm.llms.openai.openai as openai_module
        from litellm.litellm_core_utils import logging_utils
        from litellm.litellm_core_utils.llm_response_utils.convert_dict_to_response import (
            convert_to_model_response_object,
        )
        from litellm.integrations.custom_logger import CustomLogger

        self.litellm = litellm
        self.main = main
        self.openai_module = openai_module
        self.convert = convert_to_model_response_object
        self.set_duration = logging_utils._set_duration_in_model_call_details
        self.CustomLogger = CustomLogger
        self.agentic_default = CustomLogger.async_should_run_chat_completion_agentic_loop
        # What the stock handler being reproduced does differs between releases; each
        # difference is read off the release itself. (Whether the reproduction holds at all is
        # decided by the fingerprints of the code it reproduces: versions.py / reliance.py.)
        # From 1.106: api base through a shared resolver, attribution headers, `litellm_params`
        # for the SDK client (workload identity), `openai_sdk: True` in the pre-call log.
        shared_resolver = hasattr(main, "_resolve_openai_api_base")
        self.openai_sdk_flag = shared_resolver
        self.attribution_headers = shared_resolver
        getter = vars(openai_module.OpenAIChatCompletion)["_get_openai_client"]
        getter = getattr(getter, "__wrapped__", getter)
        self.client_takes_litellm_params = "litellm_params" in inspect.signature(getter).parameters
        # From 1.108: the parsed response is dumped with `exclude_unset=True` (a pydantic model).
        self.dump_excludes_unset = hasattr(openai_module, "model_dump_provider_response")


_stock: Optional[_Stock] = None


def _symbols() -> _Stock:
    global _stock
    if _stock is None:
        _stock = _Stock()
    return _stock


def _client_getter():
    """Stock's own `_get_openai_client` (under the transport hook, which would count a refusal
    and return the SDK client; here a client the core cannot be sends the call down the regular
    path, which counts it once)."""
    getter = vars(_symbols().openai_module.OpenAIChatCompletion)["_get_openai_client"]
    return getattr(getter, "__wrapped__", getter)


# ---------------------------------------------------------------------------------------------
# What stock's dispatch and handler do before the exchange


class _Call:
    """The values stock's `_complete_custom_openai` and `OpenAIChatCompletion.completion` hand
    to the exchange, computed the way they compute them."""

    __slots__ = ("ctx", "provider", "api_key", "api_base", "organization", "headers", "params",
                 "config", "max_retries", "data")


def _prepare(ctx: Any) -> _Call:
    """Stock's dispatch prelude and the handler's synchronous part, in stock's order (each step
    is stock's; the side effects are the ones stock makes, and repeating them is harmless)."""
    s = _symbols()
    litellm, main = s.litellm, s.main
    get_secret = main.get_secret
    call = _Call()
    call.ctx = ctx
    provider = call.provider = ctx.custom_llm_provider
    # _complete_custom_openai: api base, organization, key, headers.
    if s.attribution_headers:
        api_base = main._resolve_openai_api_base(ctx.api_base)
    else:
        api_base = (ctx.api_base or litellm.api_base or get_secret("OPENAI_BASE_URL")
                    or get_secret("OPENAI_API_BASE") or "https://api.openai.com/v1")
    organization = ctx.organization or litellm.organization or get_secret("OPENAI_ORGANIZATION") or None
    openai.organization = organization
    api_key = ctx.api_key or litellm.api_key or litellm.openai_key or get_secret("OPENAI_API_KEY")
    headers = ctx.headers or litellm.headers
    if s.attribution_headers and ctx.provider_config is not None:
        from litellm.llms.base_llm.chat.transformation import with_attribution_headers

        headers = with_attribution_headers(ctx.provider_config.get_attribution_headers(), headers)
    if main.get_secret_bool("EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER"):
        raise _NotLean("base_llm_http_handler")
    optional_params = ctx.optional_params
    if ctx.extra_headers is not None:
        optional_params["extra_headers"] = ctx.extra_headers
    for key, value in litellm.OpenAIConfig.get_config().items():
        if key not in optional_params:
            optional_params[key] = value
    call.api_base, call.organization, call.api_key, call.headers = api_base, organization, api_key, headers

    # OpenAIChatCompletion.completion, up to the exchange.
    params = optional_params.copy()
    params.pop("stream_options", None)
    stream = params.pop("stream", False)
    om = s.openai_module
    config = None
    if provider is not None and ctx.model is not None:
        try:
            config = om.ProviderConfigManager.get_provider_chat_config(model=ctx.model, provider=om.LlmProviders(provider))
        except ValueError:
            config = None
    if config is None:
        config = om.OpenAIConfig()
    if stream or config.should_fake_stream(model=ctx.model, custom_llm_provider=provider, stream=stream):
        raise _NotLean("fake_stream")
    if headers:
        params["extra_headers"] = headers
    if ctx.model is None or ctx.messages is None:
        raise _NotLean("missing_model_or_messages")
    if provider != "openai":
        ctx.model_response.model = f"{provider}/{ctx.model}"
    max_retries = params.pop("max_retries", 2)
    if not isinstance(max_retries, int):
        raise _NotLean("max_retries_not_int")
    call.params, call.config, call.max_retries = params, config, max_retries
    return call


def _client(call: _Call, is_async: bool) -> Any:
    """The native client for the SDK client stock would use: stock's client cache is asked
    with stock's own cache key (so its expiry and eviction apply as they would), and on a miss
    stock's getter builds and caches the client as always."""
    ctx = call.ctx
    s = _symbols()
    real = _cached_sdk_client(call, is_async)
    if real is None:
        kwargs = {}
        if s.client_takes_litellm_params:
            kwargs["litellm_params"] = ctx.litellm_params
        real = _client_getter()(
            s.main.openai_chat_completions, is_async=is_async, api_key=call.api_key,
            api_base=call.api_base, api_version=None, timeout=ctx.timeout, max_retries=call.max_retries,
            organization=call.organization, client=None, shared_session=ctx.shared_session, **kwargs,
        )
    try:
        return sdk_transport.native_for(real, call.provider)
    except sdk_transport._Refused as refused:
        raise _NotLean(refused.reason) from None


# Stock's client-cache key per getter arguments. The key is a pure function of those arguments
# (stock hashes the API key and formats the rest), worth ~10 µs per call; memoising it leaves
# the cache itself, with its expiry, to stock.
_cache_keys: dict = {}


def _cached_sdk_client(call: _Call, is_async: bool) -> Any:
    """The client stock's cache holds for this call, or None (let stock's getter decide).
    Only for a plain string API key: with none, 1.106 may resolve a workload identity, which
    is part of its key."""
    api_key = call.api_key
    if not isinstance(api_key, str) or not api_key:
        return None
    timeout = call.ctx.timeout
    memo = (is_async, api_key, call.api_base, timeout, call.max_retries, call.organization)
    try:
        key = _cache_keys.get(memo)
    except TypeError:  # an unhashable timeout
        return None
    s = _symbols()
    if key is None:
        arguments = {
            "self": s.main.openai_chat_completions, "is_async": is_async, "api_key": api_key,
            "api_base": call.api_base, "api_version": None, "timeout": timeout,
            "max_retries": call.max_retries, "organization": call.organization, "client": None,
            "shared_session": None, "litellm_params": call.ctx.litellm_params, "workload_identity_config": None,
        }
        key = s.openai_module.BaseOpenAILLM.get_openai_client_cache_key(
            client_initialization_params=arguments, client_type="openai"
        )
        if len(_cache_keys) >= 256:
            _cache_keys.clear()
        _cache_keys[memo] = key
    cached = s.litellm.in_memory_llm_clients_cache.get_cache(key)
    if type(cached) in sdk_transport._CACHEABLE:
        return cached
    return None


def _request(call: _Call, client: Any) -> tuple:
    """(url, headers, body, read timeout, connect timeout) as the native client's create()
    would send `data`; _NotLean for what create() would not send itself."""
    data = call.data
    if not data.keys() <= sdk_transport._CHAT_PARAMS:
        raise _NotLean("sdk_unknown_parameter")
    body = {k: v for k, v in data.items() if k not in _REQUEST_OPTIONS}
    extra_body = data.get("extra_body")
    if extra_body:
        body = {**body, **extra_body}
    # Stock sends `data` with the call's timeout as a request option (create's `timeout=`).
    url, headers = client.build("chat/completions", body, {**data, "timeout": call.ctx.timeout})
    try:
        timeout, connect_timeout = sdk_transport._timeouts(call.ctx.timeout)
    except sdk_transport._Refused as refused:
        raise _NotLean(refused.reason) from None
    return url, headers, body, timeout, connect_timeout


def _pre_call_args(client: Any, data: dict, headers: Any, is_async: bool) -> dict:
    additional = {
        "headers": headers,
        "api_base": client._base_url._uri_reference,
        "acompletion": is_async,
        "complete_input_dict": data,
    }
    if _symbols().openai_sdk_flag:
        additional["openai_sdk"] = True
    return additional


def _success(response: Any) -> Optional[dict]:
    """The body of a well-formed 2xx chat completion as stock dumps the SDK's parsed response,
    else None."""
    if not isinstance(response, native.Response) or not 200 <= response.status < 300:
        return None
    try:
        return native.openai_sdk_shape(response.json(), exclude_unset=_symbols().dump_excludes_unset)
    except ValueError:
        return None


def _agentic_hook_registered(logging_obj: Any) -> bool:
    """Stock's async handler offers every response to callbacks that override the agentic-loop
    hook; with none overriding it, that offer does nothing."""
    s = _symbols()
    for callback in s.litellm.callbacks + (logging_obj.dynamic_success_callbacks or []):
        if isinstance(callback, s.CustomLogger) and (
            getattr(type(callback), "async_should_run_chat_completion_agentic_loop", s.agentic_default)
            is not s.agentic_default
        ):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Handing a call back to stock


def _skip_once(logging_obj: Any, logged: tuple) -> None:
    """Stock's re-run would log the exchange already logged here (`pre_call`, and `post_call`
    once the answer was logged), with the same arguments: skip the next call of each. Only the
    next: a request stock's handler then makes on its own (a 422 under drop_params, say), or the
    failure it logs through `post_call` when its conversion raises, is logged as stock logs it."""
    for name in logged:

        def skip_once(*_args: Any, _name: str = name, **_kwargs: Any) -> None:
            vars(logging_obj).pop(_name, None)

        setattr(logging_obj, name, skip_once)


def _restore(logging_obj: Any, logged: tuple) -> None:
    for name in logged:
        vars(logging_obj).pop(name, None)


#: What the handler has logged when it hands over: before the answer, and after its `post_call`.
_PRE = ("pre_call",)
_PRE_AND_POST = ("pre_call", "post_call")


def _stock_with(outcome: Any, wrapped, args, kwargs, logging_obj: Any, logged: tuple, took: float = 0.0):
    """Stock's dispatch for this call (marked: native), the exchange already made answering
    its send (`took` seconds, from sending to the outcome)."""
    _skip_once(logging_obj, logged)
    token = sdk_transport.prefetched.set(outcome)
    try:
        return wrapped(*args, **kwargs)
    except Exception as error:
        _time_taken(error, took)
        raise
    finally:
        sdk_transport.prefetched.reset(token)
        _restore(logging_obj, logged)


async def _stock_with_async(outcome: Any, wrapped, args, kwargs, logging_obj: Any, logged: tuple,
                            took: float = 0.0):
    _skip_once(logging_obj, logged)
    token = sdk_transport.prefetched.set(outcome)
    try:
        return await wrapped(*args, **kwargs)
    except Exception as error:
        _time_taken(error, took)
        raise
    finally:
        sdk_transport.prefetched.reset(token)
        _restore(logging_obj, logged)


_TIME_TAKEN = re.compile(r"( - timeout value=[^,]*, time taken=)[0-9.]+( seconds)$")


def _time_taken(error: Exception, took: float) -> None:
    """Stock's OpenAI handler appends to a timeout's message how long its send took
    (` - timeout value=…, time taken=N seconds`), then wraps it in its own error. Replayed, the
    send answers at once, so the time the exchange took is put there instead: what stock would
    have measured. Any other error is left as it is."""
    message = getattr(error, "message", None)
    if not isinstance(message, str) or _TIME_TAKEN.search(message) is None:
        return
    fixed = _TIME_TAKEN.sub(lambda m: f"{m.group(1)}{round(took, 2)}{m.group(2)}", message)
    error.message = fixed
    if error.args and error.args[0] == message:
        error.args = (fixed, *error.args[1:])


# ---------------------------------------------------------------------------------------------
# The handler


def complete(wrapped, args, kwargs, ctx: Any):
    """Serve `ctx` lean. The caller (dispatch.py) has marked the call native, and for an async
    call runs the returned coroutine marked too, so calling stock's dispatch `wrapped` from here
    is the regular native path: used for calls that turn out not to be lean before anything was
    sent or logged."""
    try:
        call = _prepare(ctx)
    except _NotLean as not_lean:
        stats.count_not_lean(not_lean.reason)
        return wrapped(*args, **kwargs)
    except Exception:  # noqa: BLE001 - stock raises it itself, with its own handling around it
        stats.count_not_lean("stock_raises_before_send")
        return wrapped(*args, **kwargs)
    if ctx.acompletion:
        return _complete_async(call, wrapped, args, kwargs)
    return _complete_sync(call, wrapped, args, kwargs)


def _complete_sync(call: _Call, wrapped, args, kwargs):
    ctx = call.ctx
    logging_obj = ctx.logging
    try:
        call.data = call.config.transform_request(
            model=ctx.model, messages=ctx.messages, optional_params=call.params,
            litellm_params=ctx.litellm_params, headers=call.headers or {},
        )
        client = _client(call, is_async=False)
        url, headers, body, timeout, connect_timeout = _request(call, client)
    except _NotLean as not_lean:
        stats.count_not_lean(not_lean.reason)
        return wrapped(*args, **kwargs)
    except Exception:  # noqa: BLE001 - stock raises it itself, with its own handling around it
        stats.count_not_lean("stock_raises_before_send")
        return wrapped(*args, **kwargs)
    data = call.data
    logging_obj.pre_call(
        input=ctx.messages, api_key=client.api_key,
        additional_args=_pre_call_args(client, data, call.headers, is_async=False),
    )
    start = datetime.datetime.now()
    sent_at = time.monotonic()
    try:
        outcome = native.send(
            "POST", url, headers, body, timeout=timeout, connect_timeout=connect_timeout,
            max_retries=client.max_retries, retry="openai_sdk", net=client._net,
        )
    except native.TransportError as error:
        outcome = error
    except (TypeError, ValueError):  # not serialisable: nothing sent; the regular path decides
        stats.count_not_lean("body_not_json")
        return _stock_with(None, wrapped, args, kwargs, logging_obj, _PRE)
    shaped = _success(outcome)
    if shaped is None:
        stats.count_not_lean("replayed_through_stock")
        return _stock_with(outcome, wrapped, args, kwargs, logging_obj, _PRE, time.monotonic() - sent_at)
    _timed(logging_obj, start)
    logged = _PRE
    try:
        response_headers = outcome.headers_dict()
        logging_obj.model_call_details["response_headers"] = response_headers
        stringified = call.config.transform_parsed_response_dict(shaped)
        logging_obj.post_call(
            input=ctx.messages, api_key=call.api_key, original_response=stringified,
            additional_args={"complete_input_dict": call.data},
        )
        logged = _PRE_AND_POST
        result = _symbols().convert(
            response_object=stringified, model_response_object=ctx.model_response, _response_headers=response_headers,
        )
    except Exception:  # noqa: BLE001 - stock's handler wraps and logs it: its re-run raises it
        return _stock_with(outcome, wrapped, args, kwargs, logging_obj, logged)
    # Counted once finished here: a hand-over to stock counts the exchange where it is replayed.
    stats.count_native(call.provider)
    stats.count_lean(call.provider)
    return result


def _timed(logging_obj: Any, start: datetime.datetime) -> None:
    """What stock's `track_llm_api_timing` leaves behind: the exchange's duration in the
    call's details. (Its service-monitor event has no receiver: routing requires
    `litellm.service_callback` to be empty.)"""
    _symbols().set_duration(logging_obj=logging_obj, start_time=start, end_time=datetime.datetime.now())


async def _complete_async(call: _Call, wrapped, args, kwargs):
    ctx = call.ctx
    logging_obj = ctx.logging
    try:
        if _agentic_hook_registered(logging_obj):
            raise _NotLean("agentic_hook")
        call.data = await call.config.async_transform_request(
            model=ctx.model, messages=ctx.messages, optional_params=call.params,
            litellm_params=ctx.litellm_params, headers=call.headers or {},
        )
        client = _client(call, is_async=True)
        url, headers, body, timeout, connect_timeout = _request(call, client)
        caller = client._caller
        slot = None
        if caller is not None:
            # A caller's aiohttp session (the LiteLLM Proxy's): its headers and cookies go on the
            # request. Only with a connection slot free at once: waiting for one, or a session
            # stock would not use, is the regular native path's business.
            if caller.unusable() is not None:
                raise _NotLean("session_unusable")
            headers = sdk_transport.session_headers(caller, headers, url)
            slot = caller.try_slot(httpx.URL(url))
            if slot is None:
                raise _NotLean("session_busy")
    except _NotLean as not_lean:
        stats.count_not_lean(not_lean.reason)
        return await wrapped(*args, **kwargs)
    except Exception:  # noqa: BLE001 - stock raises it itself, with its own handling around it
        stats.count_not_lean("stock_raises_before_send")
        return await wrapped(*args, **kwargs)
    data = call.data
    logging_obj.pre_call(
        input=data["messages"], api_key=client.api_key,
        additional_args=_pre_call_args(client, data, {"Authorization": f"Bearer {client.api_key}"}, is_async=True),
    )
    start = datetime.datetime.now()
    sent_at = time.monotonic()
    try:
        try:
            pending = native.send_async(
                "POST", url, headers, body, timeout=timeout, connect_timeout=connect_timeout,
                max_retries=client.max_retries, retry="openai_sdk", net=client._net,
            )
        except (TypeError, ValueError):
            stats.count_not_lean("body_not_json")
            if slot is not None:
                caller.release(slot)
                slot = None
            return await _stock_with_async(None, wrapped, args, kwargs, logging_obj, _PRE)
        try:
            outcome = await pending
        except native.TransportError as error:
            outcome = error
    finally:
        if slot is not None:
            caller.release(slot)
    if caller is not None and isinstance(outcome, native.Response):
        caller.store_cookies(outcome.headers, url)
    shaped = _success(outcome)
    if shaped is None:
        stats.count_not_lean("replayed_through_stock")
        return await _stock_with_async(outcome, wrapped, args, kwargs, logging_obj, _PRE, time.monotonic() - sent_at)
    _timed(logging_obj, start)
    logged = _PRE
    try:
        response_headers = outcome.headers_dict()
        stringified = call.config.transform_parsed_response_dict(shaped)
        logging_obj.post_call(
            input=data["messages"], api_key=call.api_key, original_response=stringified,
            additional_args={"complete_input_dict": data},
        )
        logged = _PRE_AND_POST
        logging_obj.model_call_details["response_headers"] = response_headers
        result = _symbols().convert(
            response_object=stringified, model_response_object=ctx.model_response,
            hidden_params={"headers": response_headers}, _response_headers=response_headers,
        )
    except Exception:  # noqa: BLE001 - as the sync form: stock's handler, re-run on the exchange, raises it
        return await _stock_with_async(outcome, wrapped, args, kwargs, logging_obj, logged)
    stats.count_native(call.provider)
    stats.count_lean(call.provider)
    return result
