"""The LiteLLM Proxy's start-up line, under the name proxy configs use:
``callbacks: ["edgequake_patch.proxy.status_callback"]`` (defined in reporting/proxy.py)."""

from .reporting.proxy import *  # noqa: F401,F403
from .reporting.proxy import status_callback  # noqa: F401
