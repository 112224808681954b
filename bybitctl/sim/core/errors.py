"""The one exception the core raises for a rejected request: Bybit's retCode and retMsg."""

from __future__ import annotations


class ApiError(Exception):
    """A request Bybit would answer with a non-zero retCode; routes turn it into the envelope."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{msg} (retCode {code})")
        self.code = code
        self.msg = msg


def params_error(detail: str) -> ApiError:
    """10001 with a reason, worded like Bybit's `params error: ...` messages."""
    return ApiError(10001, f"params error: {detail}")


class ApiFailure(ApiError):
    """A refusal Bybit answers with a result too (e.g. `set-margin-mode`'s reasons)."""

    def __init__(self, code: int, msg: str, result: dict[str, object]) -> None:
        super().__init__(code, msg)
        self.result = result
