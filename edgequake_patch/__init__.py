"""edgequake-patch: LiteLLM's provider HTTP work, sent through a Rust core.

    import edgequake_patch
    edgequake_patch.install()

or set EDGEQUAKE_PATCH=1 in the environment before the interpreter starts. Importing this
package does not import LiteLLM; `install()` does.
"""

from __future__ import annotations

from typing import Any, Dict

from ._version import __version__
__all__ = ["install", "uninstall", "is_installed", "status", "report", "__version__"]

#: Environment variable that activates the patch at interpreter start (see the .pth file).
ENV_VAR = "EDGEQUAKE_PATCH"


def install() -> bool:
    """Hook LiteLLM's provider dispatch. Idempotent and thread-safe.

    Returns False, after one RuntimeWarning, when the installed LiteLLM is older than the
    oldest supported release (or a compromised one), when no evidence shows the provider
    dispatch hooks are faithful on it, or when the native core cannot load; LiteLLM is then left
    untouched. Otherwise each path runs where evidence shows it faithful on the installed code
    (the shipped record, or probes on this machine), and stays stock elsewhere (`status()`).
    """
    from .activation import install

    return install.install()


def uninstall() -> None:
    """Put back every patched LiteLLM symbol, exactly as it was."""
    from .activation import patching

    patching.uninstall()


def is_installed() -> bool:
    from .activation import patching

    return patching.is_installed()


def status() -> Dict[str, Any]:
    """What is patched and what it has done: LiteLLM version, which paths run natively on it
    (and why not), hooked symbols, call counts."""
    from .reporting.status import status as current

    return current()


def report(colour: bool = False) -> str:
    """`status()` as a readable report: per provider and per path, native or stock and why, the
    compiled core, and this process's counters (`python -m edgequake_patch` prints the same for
    a process of its own). Plain text unless `colour`: an app's report often ends in a log."""
    from .reporting import status_report
    from .reporting.terminal import Style

    return status_report.render(status_report.collect(), Style(enabled=colour), in_process=True)
