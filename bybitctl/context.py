"""The one factory of lazy dependencies, stored by `bybitctl.cli` in the click context's `obj`.

Nothing here runs until a command asks, so `--help` and offline commands never read the
config file or build a pybit session.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bybitctl.config import Settings, resolve_settings
from bybitctl.output import default_format

if TYPE_CHECKING:
    from pybit.unified_trading import HTTP


@dataclass
class AppContext:
    """Global options plus cached thunks for the settings and the HTTP client.

    `overrides` holds the global flags by Settings field name (None = not given);
    `output` is the `-o` flag, which beats BYBITCTL_OUTPUT and the profile.
    """

    overrides: dict[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    debug: bool = False
    yes: bool = False
    output: str | None = None
    pager: bool = True
    _settings: Settings | None = field(default=None, init=False, repr=False)
    _http: HTTP | None = field(default=None, init=False, repr=False)
    _request_http: HTTP | None = field(default=None, init=False, repr=False)

    def settings(self) -> Settings:
        """Resolved once: flag > environment > profile > default."""
        if self._settings is None:
            self._settings = resolve_settings(self.overrides, self.env)
        return self._settings

    def http(self, *, auth: bool = False) -> HTTP:
        """The pybit HTTP client, built on first use; `auth=True` requires credentials."""
        settings = self.settings()
        if auth:
            settings.require_credentials()
        if self._http is None:
            from bybitctl.client import make_http

            self._http = make_http(settings, debug=self.debug)
        return self._http

    def request_http(self, *, auth: bool = False) -> HTTP:
        """The client of request commands: like `http`, but a refusal comes back as its
        envelope instead of an exception (pybit's `ignore_codes` holding every code), so
        `-o raw` can print it whole; `bybitctl.request.checked` raises the error after."""
        settings = self.settings()
        if auth:
            settings.require_credentials()
        if self._request_http is None:
            from bybitctl import pybit_compat
            from bybitctl.client import make_http

            http = make_http(settings, debug=self.debug)
            pybit_compat.return_refusals(http)
            self._request_http = http
        return self._request_http

    def describe_target(self) -> str:
        """Where requests go, for a confirmation: "api.bybit.com, profile main"."""
        from urllib.parse import urlsplit

        from bybitctl import pybit_compat

        host = urlsplit(pybit_compat.request_url(self.request_http(), "")).netloc
        return f"{host}, profile {self.settings().profile}"

    def output_format(self) -> str:
        """`-o`, else BYBITCTL_OUTPUT or the profile, else table on a terminal and json off it."""
        return self.output or default_format(self.settings(), sys.stdout.isatty())
