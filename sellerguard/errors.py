"""Every failure sellerguard reports, as one tree.

    SellerguardError                 exit 3 (Nagios UNKNOWN): one line, what and where
    ├── ConfigError                  the config file or a CLI option is wrong: fix it
    ├── InputError                   an import file or record is malformed (file:line:field)
    ├── StoreError                   the database cannot be opened or migrated
    ├── NotBuiltError                a command whose part is not built yet
    └── ConnectorError               a marketplace call failed; ``kind`` says what to do
        ├── kind="config"            credentials, scopes or account settings are wrong: fix the config
        ├── kind="wait"              rate limit, outage, report still pending: retry later
        ├── kind="payload"           the marketplace sent something we cannot read: report a bug
        ├── kind="store"             the database refused the write (disk full, read-only): fix the host
        └── kind="internal"          an unexpected exception (our bug): traceback in the debug log only

Only the CLI turns these into a stderr line and an exit code; nothing below it prints or exits.
Messages never contain secrets: build them from names, never from credential values.
"""

from __future__ import annotations

from typing import Literal

FailureKind = Literal["config", "wait", "payload", "store", "internal"]


class SellerguardError(Exception):
    exit_code = 3

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(SellerguardError):
    pass


class InputError(SellerguardError):
    pass


class StoreError(SellerguardError):
    pass


class NotBuiltError(SellerguardError):
    pass


class ConnectorError(SellerguardError):
    """A marketplace call failed. ``kind`` decides whether the daemon retries or marks the channel broken."""

    def __init__(
        self,
        message: str,
        *,
        kind: FailureKind,
        where: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.kind = kind
        self.retry_after = retry_after
        self.status = status
        self.request_id = request_id  # the marketplace's own id of the failed request, for its support desk
        if request_id and request_id not in message:
            message = f"{message} (request id {request_id})"
        super().__init__(message, where=where)
