"""The command line: the only place where errors become one stderr line and an exit code.

Exit codes follow Nagios plugins: 0 ok, 1 warn, 2 critical, 3 unknown or error: any SellerguardError, a usage
error (click's own exit 2 would read as CRITICAL), or an unexpected exception (one line; the traceback only in the
DEBUG log). Commands stay thin: each parses options, calls one function of the core, and renders its result.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sellerguard import __version__, redact
from sellerguard.errors import ConfigError, NotBuiltError, SellerguardError
from sellerguard.paths import default_config_path

# Start-up (issue 21): nothing here imports the config model (pydantic), the store (SQLAlchemy), rich, requests
# or a connector; each command imports what it uses, so `--version`/`--help` stay fast (tests/test_startup.py).
if TYPE_CHECKING:
    from rich.console import Console

    from sellerguard.config import Config
    from sellerguard.store import Store

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("sellerguard.cli")


class _ErrConsole:
    """The stderr console, made at first use (rich costs start-up time a bare --version does not need)."""

    _console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            type(self)._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return getattr(self._console, name)

    # special methods are looked up on the type, never through __getattr__: rich's progress bars (Live) enter the
    # console as a context manager when stderr is a terminal
    def __enter__(self) -> Any:
        return self.__getattr__("__enter__")()

    def __exit__(self, *exc: Any) -> Any:
        return self.__getattr__("__exit__")(*exc)


err_console: Any = _ErrConsole()


class Ctx:
    """What every command gets: the config path, the database URL, and lazily the loaded objects."""

    def __init__(self, config_path: Path | None, db_url: str | None) -> None:
        self.config_path = config_path
        self._db_url = db_url
        self._config: Config | None = None
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        """The loaded config; its accounts' connector options are checked only by commands that sync
        (``sync_config``), so reading commands import no connector."""
        if self._config is None:
            from sellerguard.config import load_config

            config = load_config(self.config_path)
            redact.install(config)  # its secrets never reach a log line, a stored error or stderr (alerts)
            if not all(_has_connector_module(acc.marketplace) for acc in config.accounts):
                from sellerguard.sync import check_accounts

                check_accounts(config)  # a misspelt marketplace: the full check names it and the known ones
            self._config = config
        return self._config

    @property
    def sync_config(self) -> Config:
        """The config, with every account's marketplace and connector options checked (fail fast, naming it)."""
        from sellerguard.sync import check_accounts

        config = self.config
        check_accounts(config)
        return config

    @property
    def db_url(self) -> str:
        from sellerguard.store import default_db_url

        return self._db_url or self.config.store.url or default_db_url()

    @property
    def store(self) -> Store:
        """The database for a command that writes: created (0600, folder 0700) and migrated when needed."""
        if self._store is None:
            from sellerguard import keys
            from sellerguard.store import Store
            from sellerguard.store.db import is_memory_url, redact_url

            if is_memory_url(self.db_url):
                raise ConfigError(f"{redact_url(self.db_url)} is an in-memory database: what this command writes "
                                  "would be lost at exit; give a file path", where="--db")

            config = self.config  # a broken config stops the command before anything is created
            self._store = Store(self.db_url)
            keys.configure(self._store, key=config.store.key, config_path=config.source)
        return self._store

    @property
    def keyed_store(self) -> Store:
        """An existing database, with the store key located as the config says (``[store] key``)."""
        from sellerguard import keys

        store = self.existing_store
        keys.configure(store, key=self.config.store.key, config_path=self.config.source)
        return store

    @property
    def read_store(self) -> Store:
        """The database for a command that only reads: never created or migrated (a missing one is an error)."""
        if self._store is None:
            from sellerguard.store import Store

            self._store = Store(self.db_url, migrate=False, create=False)
        return self._store

    @property
    def existing_store(self) -> Store:
        """The database for a command that changes existing data: must exist, may be migrated."""
        if self._store is None:
            from sellerguard.store import Store
            from sellerguard.store.db import is_memory_url, redact_url

            if is_memory_url(self.db_url):
                raise ConfigError(f"{redact_url(self.db_url)} is an in-memory database: it holds nothing",
                                  where="--db")
            self._store = Store(self.db_url, create=False)
        return self._store


def _has_connector_module(marketplace: str) -> bool:
    """Whether ``sellerguard.connectors.<marketplace>`` exists, found without importing any connector."""
    import importlib.util

    if not marketplace.isidentifier() or "_" in marketplace or marketplace == "contract":
        return False
    return importlib.util.find_spec(f"sellerguard.connectors.{marketplace}") is not None


@functools.cache
def _command_modules() -> frozenset[str]:
    """Names of the command modules in ``sellerguard/commands`` (found without importing them)."""
    import pkgutil

    from sellerguard import commands

    return frozenset(m.name.replace("_", "-") for m in pkgutil.iter_modules(commands.__path__)
                     if not m.name.startswith("_"))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class SellerguardGroup(click.Group):
    """Every failure, click's usage errors included, is one ``Error:`` line on stderr and exit 3.

    Besides the commands defined in this file, every module ``sellerguard/commands/<name>.py`` that defines a click
    command named ``command`` is the subcommand ``<name>`` (underscores become hyphens). Such modules are imported only
    when their command runs or help lists them, so a new command never slows ``--version`` or another command.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_command_modules()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in _command_modules():
            import importlib

            module = importlib.import_module(f"sellerguard.commands.{cmd_name.replace('-', '_')}")
            found = module.command
        return found

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx:  # click >= 8.2: the whole help as an error
                group = exc.ctx.command
                names = ", ".join(group.list_commands(exc.ctx)) if isinstance(group, click.Group) else ""
                where = " ".join(["sellerguard", *exc.ctx.command_path.split()[1:]])
                err_console.print(f"Error: {where}: missing command ({names}; see --help)", markup=False)
                sys.exit(3)
            where = None
            if isinstance(exc, click.UsageError) and exc.ctx:
                where = " ".join(["sellerguard", *exc.ctx.command_path.split()[1:]])
            hint = " (see --help)" if isinstance(exc, click.UsageError) else ""
            if isinstance(exc, click.NoSuchOption) and exc.ctx and exc.ctx.parent is not None:
                root = exc.ctx.find_root().command  # `init --config X`: a global option typed after the command
                if any(exc.option_name in p.opts for p in root.params):
                    hint = (f" ({exc.option_name} is a global option: put it before the command,"
                            f" e.g. sellerguard {exc.option_name} ... {exc.ctx.info_name})")
            message = _one_line(exc.format_message()).removesuffix(".")
            err_console.print(redact.current(f"Error: {where + ': ' if where else ''}{message}{hint}"), markup=False)
            sys.exit(3)
        except click.Abort:
            err_console.print("Error: aborted", markup=False)
            sys.exit(3)
        except Exception as exc:  # a bug: one line for cron and monitoring; the traceback at DEBUG
            log.debug("unexpected error", exc_info=True)
            if type(exc).__name__ == "OperationalError" and "database is locked" in str(exc):  # not a bug
                err_console.print("Error: database: locked by another process for over 10 s (a sync, backfill or "
                                  "migration?); the step it was on was rolled back: run it again when that one "
                                  "ends", markup=False)
                sys.exit(3)
            err_console.print(f"Error: internal error: {type(exc).__name__}: {redact.current(_one_line(exc))[:300]} "
                              "(a bug; --log-level DEBUG shows the traceback)", markup=False)
            sys.exit(3)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def _scale(value: float) -> float:
    """``sandbox --scale``: NaN passes click's FloatRange (every comparison is false), so check by hand."""
    if not (value == value and 0 < value <= 100):
        raise click.BadParameter(f"{value} is not a number above 0 and at most 100")
    return value


def handle_errors(fn: F) -> F:
    """Turn any SellerguardError into ``Error: <where>: <what>`` on stderr and exit 3."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SellerguardError as exc:
            err_console.print(f"Error: {redact.current(str(exc))}", markup=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("Interrupted.", markup=False)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


pass_ctx = click.make_pass_decorator(Ctx)


def fewer_collections(fn: F) -> F:
    """Run the command with the garbage collector's first threshold at 10,000 allocations instead of 700.

    A status run allocates millions of objects (imports, statements, rows) and almost no cyclic garbage: with the
    default thresholds the collector ran 258 young, 23 middle and 2 full collections, 0.15-0.19 s of CPU on the
    demo database (issue 21); with these 34, 3 and none, 0.07-0.11 s. Restored afterwards (tests run commands in
    process)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import gc

        before = gc.get_threshold()
        gc.set_threshold(10_000, 10, 10)
        try:
            return fn(*args, **kwargs)
        finally:
            gc.set_threshold(*before)

    return wrapper  # type: ignore[return-value]


def log_options(fn: F) -> F:
    """``--log-format`` and ``--log-level``, as ``run`` has them (logs go to stderr).

    Without either, only warnings and errors are logged, as bare lines (Python's last-resort handler).
    """
    fn = click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
                      help="INFO adds one line per account sync; DEBUG adds retries and tracebacks.")(fn)
    return click.option("--log-format", type=click.Choice(["human", "json"]),
                        help="human (default) or one JSON object per line.")(fn)  # type: ignore[return-value]


def setup_logging(log_format: str | None, log_level: str | None) -> None:
    if log_format or log_level:
        from sellerguard.logs import configure_logging

        configure_logging(log_format or "human", log_level or "INFO")  # type: ignore[arg-type]


class _ConfigPathOption(click.Option):
    """``--config`` whose help names the default path only when help is shown: finding the per-user directory
    imports platformdirs (with tempfile, shutil, bz2, lzma), which ``--version`` has no use for (issue 21)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = (self.help or "").replace("{default}", str(default_config_path()))
        return super().get_help_record(ctx)


@click.group(cls=SellerguardGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sellerguard")
@click.option(
    "--config",
    "config_path",
    cls=_ConfigPathOption,
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="SELLERGUARD_CONFIG",
    help="Config file (default: {default}).",
)
@click.option(
    "--db",
    "db_url",
    envvar="SELLERGUARD_DB",
    metavar="URL",
    help="SQLAlchemy database URL (default: SQLite in the per-user data directory).",
)
@click.pass_context
def cli(click_ctx: click.Context, config_path: Path | None, db_url: str | None) -> None:
    """sellerguard: know before a marketplace suspends or delists you.

    Pulls orders, shipments, cancellations, messages, ratings and claims from each marketplace,
    checks every channel's service thresholds, and warns before a breach.
    """
    click_ctx.obj = Ctx(config_path, db_url)


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option("--marketplace", help="Add one account of this marketplace (to the existing config, comments kept).")
@click.option("--id", "account_id", help="With --marketplace: the account id (default e.g. ebay-us).")
@click.option("--region", help="With --marketplace: region or site (e.g. EBAY_GB, MLB, eu).")
@click.option("--credential", "credentials", multiple=True, metavar="NAME=REF",
              help='With --marketplace: a credential reference, e.g. client_id=env:EBAY_CLIENT_ID (repeatable).')
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="With --marketplace: a connector option.")
@click.option("--base-url", help="With --marketplace: another API host (a test host, the loopback sandbox).")
@pass_ctx
@handle_errors
def init(ctx: Ctx, force: bool, marketplace: str | None, account_id: str | None, region: str | None,
         credentials: tuple[str, ...], options: tuple[str, ...], base_url: str | None) -> None:
    """Write a commented starter config file (a block per marketplace), or add one account with --marketplace.

    --marketplace asks for what the flags do not give when run in a terminal, and uses the defaults otherwise.
    """
    from sellerguard.starter import write_starter_config

    path = ctx.config_path or default_config_path()
    if marketplace is None:
        if account_id or region or credentials or options or base_url:
            raise click.UsageError("--id, --region, --credential, --option and --base-url need --marketplace")
        write_starter_config(path, force=force)
        click.echo(f"Wrote {path}. Add an account (`sellerguard init --marketplace NAME`), then `sellerguard connect"
                   " ID`, `sellerguard check ID` and `sellerguard sync`.")
        return
    _init_account(path, marketplace, account_id, region, credentials, options, base_url)


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=flag)
        out[key.strip()] = value.strip()
    return out


def _init_account(path: Path, marketplace: str, account_id: str | None, region: str | None,
                  credentials: tuple[str, ...], options: tuple[str, ...], base_url: str | None) -> None:
    from sellerguard.consent import provider
    from sellerguard.starter import DEFAULTS, account_block, add_account

    p = provider(marketplace)  # an unknown name: one line with the closest known one
    asking = sys.stdin.isatty()
    d = DEFAULTS[p.marketplace]
    if account_id is None:
        account_id = click.prompt("Account id", default=d["id"], err=True) if asking else d["id"]
    if region is None and p.regions != ("",):
        default = d.get("region") or p.regions[0]
        region = click.prompt(f"Region ({p.region_note})", default=default, err=True) if asking else default
    creds = _pairs(credentials, "--credential")
    known = dict.fromkeys([*p.credentials, *p.example_credentials, *([p.produces] if p.produces else [])])
    for name in creds:
        if name not in known:  # a misspelt name would be stored unused and the real one set to a default
            from sellerguard.consent import did_you_mean

            raise click.BadParameter(f"unknown credential '{name}' for {p.name}{did_you_mean(name, known)} (known: "
                                     f"{', '.join(known)})", param_hint="--credential")
        if not creds[name]:
            raise click.BadParameter(f"{name} is empty (give env:NAME, file:PATH or the value)",
                                     param_hint="--credential")
    for name in p.credentials:
        if name not in creds:
            default = p.example_credentials.get(name, f"env:{name.upper()}")
            creds[name] = click.prompt(f"{name} (env:NAME or file:PATH; {p.where})", default=default,
                                       err=True) if asking else default
    opts: dict[str, Any] = {k: int(v) if v.isdigit() else {"true": True, "false": False}.get(v, v)
                            for k, v in _pairs(options, "--option").items()}
    if p.marketplace == "shopify" and "shop" not in opts and not base_url:
        if not asking:  # a made-up default would send the consent to someone else's store
            raise click.BadParameter("Shopify needs your store: --option shop=NAME (NAME of NAME.myshopify.com)",
                                     param_hint="--option")
        opts["shop"] = click.prompt("Shop (your-store of your-store.myshopify.com)", err=True)
    block = account_block(p.marketplace, account_id=account_id, region=region, credentials=creds,
                          options=opts or None, base_url=base_url, commented=False)
    add_account(path, block)
    next_step = f"`sellerguard connect {account_id}`" if p.grant == "code" else f"`sellerguard check {account_id}`"
    click.echo(f"Added account {account_id} ({p.name}) to {path}. Next: {next_step}.")


@cli.command()
@pass_ctx
@handle_errors
def migrate(ctx: Ctx) -> None:
    """Create the database, or upgrade its schema to this version's (commands that write do it on their own;
    commands that only read never do)."""
    from sellerguard.store.db import redact_url

    store = ctx.store
    click.echo(f"Database {redact_url(store.url)} is at schema {store.schema_version()}.")


@cli.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--marketplace", help="Register the files' accounts that are neither configured nor known yet as "
                                    "accounts of this marketplace (or give them an 'account' line).")
@pass_ctx
@handle_errors
def import_(ctx: Ctx, files: tuple[Path, ...], marketplace: str | None) -> None:
    """Import canonical records from JSONL or CSV files (optionally .gz).

    Every line is validated first; one bad line imports nothing and names file:line:field.
    See docs/import-format.md.
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from sellerguard.importer import import_files

    paths = list(files)
    size = sum(p.stat().st_size for p in paths if p.is_file())
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        # two passes (validate, then write), so the bar spans twice the bytes
        task = bar.add_task("importing", total=size * 2)
        # the store opens (and is created) only after every line validated: a bad file creates nothing
        result = import_files(_LazyStore(ctx), paths, progress=lambda n: bar.advance(task, n),  # type: ignore[arg-type]
                              marketplaces={a.id: a.marketplace for a in ctx.config.accounts},
                              marketplace=marketplace)
    click.echo(
        f"Imported {result.records} records from {result.files} file(s): "
        f"{result.changed} new or changed, {result.records - result.changed} unchanged."
    )
    for account_id, market in sorted(result.registered.items()):
        click.echo(f"Registered account {account_id} ({market}): `sellerguard status --account {account_id}`.")
    for account_id in result.unregistered:
        err_console.print(f"Warning: account '{account_id}' is not registered (no marketplace): status cannot judge "
                          "it; import again with --marketplace NAME, or add an account line (docs/import-format.md)",
                          markup=False)


class _LazyStore:
    """Opens ``ctx.store`` at its first use."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx.store, name)


def _not_built(command: str, issue: int) -> NotBuiltError:
    return NotBuiltError(f"`sellerguard {command}` is not built yet (tracked in issue #{issue})")


@cli.command()
@click.option("--account", "accounts", multiple=True, help="Only this account id (repeatable).")
@log_options
@pass_ctx
@handle_errors
def sync(ctx: Ctx, accounts: tuple[str, ...], log_format: str | None, log_level: str | None) -> None:
    """Pull new data from every configured marketplace account.

    Exits 0 when every account synced, 3 when any failed (one line per failure on stderr).
    """
    from sellerguard.sync import sync_accounts

    setup_logging(log_format, log_level)

    config = ctx.sync_config
    if not config.accounts:
        raise ConfigError("no accounts configured (run `sellerguard init`, or try `sellerguard demo`)",
                          where=str(config.source or default_config_path()))
    with sync_progress() as progress:
        outcomes = sync_accounts(config, ctx.store, accounts=accounts or None, progress=progress, workers=4)
    report_sync(outcomes)
    if any(not o.ok for o in outcomes):
        sys.exit(3)


@contextmanager
def sync_progress() -> Iterator[Callable[..., None]]:
    """A progress bar per account/stream: pages done, and an ETA when the connector knows the total."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err_console, transient=True, disable=not err_console.is_terminal,
    ) as bar:
        tasks: dict[tuple[str, str], Any] = {}

        def advance(account: str, stream: str, batch: Any) -> None:
            key = (account, stream)
            if key not in tasks:
                tasks[key] = bar.add_task(f"{account} {stream}", total=batch.total)
            bar.update(tasks[key], advance=batch.progress or 1, total=batch.total)

        yield advance


def report_sync(outcomes: list[Any]) -> None:
    for o in outcomes:
        if o.ok:
            click.echo(f"{o.account}: {o.records} records ({o.changed} new or changed)")
        else:
            err_console.print(f"Error: {o.error}", markup=False)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json", "nagios", "csv"]), default="table",
              show_default=True, help="json: docs/status-json.md; nagios: the plugin format with performance data; "
              "csv: one row per metric (or deadline, with --deadlines) for spreadsheets.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--as-of", "as_of", metavar="TIMESTAMP", help="Evaluate as of this moment (ISO 8601 with offset).")
@click.option("--account", "accounts", multiple=True, help="Only this account id (repeatable).")
@click.option("--marketplace", "marketplaces", multiple=True, help="Only this marketplace (repeatable).")
@click.option("--horizon", "horizon_days", type=click.IntRange(1, 90), help="Days ahead for forecast and deadlines.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="Deadlines shown in the table.")
@click.option("--all", "all_deadlines", is_flag=True, help="Show every deadline in the table.")
@click.option("--deadlines", "csv_deadlines", is_flag=True, help="With --format csv: the deadline queue, not metrics.")
@click.option("--since", metavar="DURATION", help="Also list what changed since then (1d, 2d, 1w), from the history.")
@click.option("--record", is_flag=True, help="Write this evaluation into the metric history (one row per metric "
              "and day; the daemon does it after every evaluation).")
@log_options
@pass_ctx
@handle_errors
@fewer_collections
def status(ctx: Ctx, fmt: str, as_json: bool, as_of: str | None, accounts: tuple[str, ...],
           marketplaces: tuple[str, ...], horizon_days: int | None, limit: int, all_deadlines: bool,
           csv_deadlines: bool, since: str | None, record: bool, log_format: str | None, log_level: str | None,
           ) -> None:
    """Show every account's service metrics, headroom, forecast and deadlines (Nagios exit codes).

    Exit code: 0 all ok, 1 some warn, 2 some critical, 3 unknown or error. Reads the database only: a missing
    database is an error (exit 3), never created.
    """
    from sellerguard.clock import SystemClock
    from sellerguard.status import build_status, parse_as_of, render_nagios, report_json

    global _freeze_at_exit
    _freeze_at_exit = True  # a read: nothing of it needs the interpreter's final collections (main)
    setup_logging(log_format, log_level)
    if since and (as_json or fmt != "table"):
        raise click.UsageError("--since works with the table format")
    if csv_deadlines and fmt != "csv":
        raise click.UsageError("--deadlines goes with --format csv")
    try:
        moment = parse_as_of(as_of) if as_of else None
        _known_names(ctx.config, (), marketplaces)  # accounts may be in the store only: build_status names them
        since_delta = _since(since) if since else None
        config = ctx.config
        store = ctx.existing_store if record else ctx.read_store  # --record writes: migrate an older schema
        report = build_status(config, store, SystemClock(), as_of=moment, accounts=accounts,
                              marketplaces=marketplaces, horizon_days=horizon_days)
        if not report.accounts and (accounts or marketplaces):  # not "no accounts": the filters matched none
            given = " ".join([*(f"--account {a}" for a in accounts), *(f"--marketplace {m}" for m in marketplaces)])
            raise ConfigError(f"no account matches {given}", where="status")
        if record:
            from sellerguard.history.record import record as record_history

            record_history(store, report)
    except Exception as exc:
        if fmt != "nagios" or as_json:
            raise
        # a plugin's status line goes to stdout: Nagios 4 and Checkmk's MRPE show nothing of stderr
        if not isinstance(exc, SellerguardError):
            log.debug("unexpected error", exc_info=True)
            exc = SellerguardError(f"internal error: {type(exc).__name__}: {exc} (a bug)")
        click.echo(f"SELLERGUARD UNKNOWN - {redact.current(_one_line(exc)).replace('|', '/')[:300]}")
        sys.exit(3)
    if as_json or fmt == "json":
        click.echo(report_json(report))
    elif fmt == "nagios":
        click.echo(render_nagios(report))
    elif fmt == "csv":
        from sellerguard.status import render_csv_deadlines, render_csv_metrics

        click.echo(render_csv_deadlines(report) if csv_deadlines else render_csv_metrics(report), nl=False)
    else:
        print_report(report, deadline_limit=None if all_deadlines else limit)
        if since_delta is not None:
            _print_changes(store, report, since_delta, since or "")
    sys.exit(report.exit_code if report.accounts else 3)


def _since(text: str) -> Any:
    """``--since``: a duration of at least a day (the history has one row per day)."""
    from datetime import timedelta

    from sellerguard.config import parse_duration

    try:
        delta = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(str(exc), where="--since") from None
    if delta < timedelta(days=1):
        raise ConfigError(f"{text!r} is shorter than a day; the history keeps one row per day", where="--since")
    return delta


def _print_changes(store: Store, report: Any, since: Any, since_text: str) -> None:
    import os

    from rich.console import Console

    from sellerguard.history.changes import changes_since
    from sellerguard.status import render_changes

    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 140  # as print_report: a pipe or a log gets the wide table
    out.print(render_changes(changes_since(store, report, since), since_text))


def _known_names(config: Config, accounts: tuple[str, ...], marketplaces: tuple[str, ...],
                 where: str = "status") -> None:
    """An account id or marketplace that matches nothing is named with the closest one (a typo), never "No
    accounts"."""
    from sellerguard.consent import PROVIDERS, did_you_mean

    ids = [a.id for a in config.accounts]
    for account_id in accounts:
        if account_id not in ids:
            raise ConfigError(f"no account '{account_id}' in the config{did_you_mean(account_id, ids)}", where=where)
    for name in marketplaces:
        if name not in PROVIDERS:
            raise ConfigError(f"unknown marketplace '{name}'{did_you_mean(name, PROVIDERS)} (known: "
                              f"{', '.join(sorted(PROVIDERS))})", where=f"{where} --marketplace")


@cli.command()
@click.option("--once", is_flag=True, help="Run every job once (sync, evaluate, notify, digest) and exit.")
@click.option("--health-port", type=click.IntRange(1, 65535), help="Serve /healthz and Prometheus /metrics.")
@click.option("--health-host", default="127.0.0.1", show_default=True, help="Address for --health-port.")
@click.option("--log-format", type=click.Choice(["human", "json"]), default="human", show_default=True)
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              default="INFO", show_default=True)
@pass_ctx
@handle_errors
def run(ctx: Ctx, once: bool, health_port: int | None, health_host: str, log_format: str, log_level: str) -> None:
    """Run the daemon: sync on schedule, evaluate, notify (docs/deploy.md).

    One daemon per database: a second one refuses to start. SIGTERM or Ctrl-C finishes the current batch
    and exits within 10 s.
    """
    import os

    from sellerguard.clock import SystemClock
    from sellerguard.daemon import Daemon, serve
    from sellerguard.logs import configure_logging

    configure_logging(log_format, log_level)  # type: ignore[arg-type]
    daemon = Daemon(ctx.sync_config, ctx.store, clock=SystemClock())
    failed = serve(daemon, once=once, health_host=health_host, health_port=health_port, exit_fn=os._exit)
    if once and failed:  # a cron job must see that a channel failed (the daemon itself carries on)
        for name, error in failed.items():
            err_console.print(f"Error: {name}: {error}", markup=False)
        sys.exit(3)


@cli.command()
@click.argument("matcher", required=False, metavar="ACCOUNT[/METRIC]")
@click.option("--for", "duration", default="1d", show_default=True, help="How long: 2h, 2d, 1w ...")
@click.option("--reason", help="Why (required when adding a silence).")
@click.option("--list", "list_", is_flag=True, help="List active silences (the default with no ACCOUNT).")
@click.option("--all", "show_all", is_flag=True, help="With --list: include expired silences.")
@click.option("--expire", type=int, metavar="ID", help="End the silence ID now.")
@pass_ctx
@handle_errors
def silence(ctx: Ctx, matcher: str | None, duration: str, reason: str | None, list_: bool, show_all: bool,
            expire: int | None) -> None:
    """Mute alerts for ACCOUNT/METRIC (shell wildcards; ACCOUNT alone mutes the whole account)."""
    import getpass

    from sellerguard.alerts.silences import add_silence, check_matcher, expire_silence, list_silences
    from sellerguard.clock import SystemClock
    from sellerguard.config import parse_duration

    now = SystemClock().now()
    if expire is not None:
        s = expire_silence(ctx.existing_store, expire, now)
        click.echo(f"Silence {s.id} ({s.account}/{s.item}) ended.")
        return
    if matcher and not list_:
        check_matcher(ctx.config, matcher, ctx.db_url)  # config accounts, then the store's (imported) ones
        try:
            length = parse_duration(duration)
        except ValueError as exc:
            raise ConfigError(str(exc), where="silence --for") from None
        s = add_silence(ctx.store, matcher, duration=length, reason=reason or "", now=now,
                        created_by=getpass.getuser())
        click.echo(f"Silence {s.id}: {s.account}/{s.item} muted until {s.ends_at:%Y-%m-%d %H:%M} UTC.")
        return
    rows = list_silences(ctx.read_store, now, include_expired=show_all)
    if not rows:
        click.echo("No silences." if show_all else "No active silences.")
    for s in rows:
        state = "active" if s.active(now) else "expired"
        click.echo(f"{s.id}\t{s.account}/{s.item}\tuntil {s.ends_at:%Y-%m-%d %H:%M} UTC\t{state}\t"
                   f"{s.created_by or '-'}: {s.reason}")


@cli.command()
@click.option("--test", "test_", is_flag=True, help="Send a sample message to every target now.")
@click.option("--flush", is_flag=True, help="Deliver the queued messages that are due now.")
@click.option("--retry-failed", is_flag=True, help="Queue again the messages a target refused.")
@pass_ctx
@handle_errors
def notify(ctx: Ctx, test_: bool, flush: bool, retry_failed: bool) -> None:
    """Check notification targets and the outbox (queued, sent and failed messages)."""
    import time

    import requests

    from sellerguard.alerts import outbox
    from sellerguard.clock import SystemClock

    clock = SystemClock()
    if not ctx.config.notify:
        raise ConfigError("no [[notify]] targets in the config (see docs/alerts.md)", where=str(ctx.config.source
                                                                                               or "config"))
    if test_:
        results = outbox.send_test(ctx.config, requests.Session(), clock.now())
        for target, result in results:
            state = "sent" if result.status == "sent" else "failed"
            click.echo(f"{target.name} ({target.type}): {state}" + (f" ({result.error})" if result.error else ""))
        failed = sum(1 for _, r in results if r.status != "sent")
        if failed:
            raise SellerguardError(f"{failed} of {len(results)} target(s) did not accept the test message")
        return
    if retry_failed:
        click.echo(f"Queued again: {outbox.retry_failed(ctx.existing_store, clock.now())} message(s).")
    if flush:
        r = outbox.flush(ctx.existing_store, ctx.config, clock=clock, sleep=time.sleep, force=True)
        click.echo(f"Sent {r.sent}, to retry {r.retried}, failed {r.failed}, waiting {r.held}"
                   + (f" (paused: {', '.join(sorted(r.paused))})" if r.paused else "") + ".")
    counts = outbox.counts(ctx.read_store)
    click.echo(", ".join(f"{status}: {counts.get(status, 0)}" for status in ("pending", "sent", "failed")))


@cli.command()
@click.option("--port", default=0, type=click.IntRange(0, 65535), show_default="a free port",
              help="Port to listen on (127.0.0.1 only).")
@click.option("--seed", default=7, show_default=True, help="Seed of the generated world.")
@click.option("--scale", default=1.0, show_default=True, callback=lambda _c, _p, v: _scale(v),
              help="Multiply every account's orders per day (above 0, at most 100).")
@click.option("--accounts", "per_marketplace", type=click.IntRange(1, 100_000), metavar="N",
              help="Serve N generated accounts on each marketplace (<marketplace>-00001 ...), generated at first "
                   "request; default: the nine demo accounts.")
@click.option("--write-config", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a config pointing every connector at this sandbox, with its own [store] beside it.")
@click.option("--force", is_flag=True, help="With --write-config: overwrite an existing file.")
@handle_errors
def sandbox(port: int, seed: int, scale: float, per_marketplace: int | None, write_config: Path | None,
            force: bool) -> None:
    """Serve the built-in marketplace sandbox on 127.0.0.1 until interrupted."""
    import errno
    import socket
    import time

    from sellerguard.demo import check_writable, write_config_file
    from sellerguard.sandbox import Sandbox

    def port_error(exc: OSError) -> ConfigError:
        if exc.errno == errno.EADDRINUSE:
            reason = "is already in use (another sandbox or program listens there); pick another or 0 for any"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            reason = "needs privileges (ports below 1024); pick one above 1023, or 0 for any free port"
        else:
            reason = f"cannot be opened: {exc.strerror}"
        return ConfigError(f"port {port} {reason}", where="sandbox --port")

    if write_config:
        check_writable(write_config, force=force)  # before the port is taken or anything is written
    if port:
        try:  # fail at once, before the world is generated (seconds)
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
                probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise port_error(exc) from None
    world = None
    if per_marketplace:
        from sellerguard.clock import SystemClock
        from sellerguard.sandbox.world import World

        world = World.generated(SystemClock().now(), per_marketplace, seed=seed, scale=scale)
    box = Sandbox(world, port=port, seed=seed, scale=scale)
    try:
        box.start()
    except OSError as exc:  # taken between the probe and now
        raise port_error(exc) from None
    try:
        click.echo(f"Sandbox serving {len(box.world.accounts)} accounts on {', '.join(sorted(box.marketplaces))} at "
                   f"{box.url} (Ctrl-C to stop)")
        if write_config:
            write_config_file(box, write_config, force=True)
            click.echo(f"Wrote {write_config} (accounts sandbox-*, its own database beside it)")
        while True:
            time.sleep(3600)
    finally:
        box.stop()


@cli.group()
def account() -> None:
    """Accounts known to the database."""


@account.command()
@click.argument("account_id", metavar="ID")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
@handle_errors
def forget(ctx: Ctx, account_id: str, dry_run: bool, yes: bool) -> None:
    """Remove account ID and every record, cursor, token, sync run, alert state and silence it has.

    Refused while the config still lists the account (its next sync would bring it back).
    """
    from sellerguard.store.db import redact_url
    from sellerguard.store.forget import count_account_rows, forget_account

    if account_id in {a.id for a in ctx.config.accounts}:
        raise ConfigError(f"account '{account_id}' is still in the config; remove its [[accounts]] block first",
                          where="account forget")
    store = ctx.read_store if dry_run else ctx.existing_store
    counts = count_account_rows(store, account_id)
    total = sum(counts.values())
    if not total:
        raise ConfigError(f"no account '{account_id}' in the database {redact_url(store.url)}",
                          where="account forget")
    summary = ", ".join(f"{table} {n}" for table, n in sorted(counts.items()) if n)
    if dry_run:
        click.echo(f"Would remove {total} rows of '{account_id}': {summary}.")
        return
    if not yes:
        click.confirm(f"Remove {total} rows of '{account_id}' ({summary})? This cannot be undone", abort=True,
                      err=True)
    removed = forget_account(store, account_id)
    click.echo(f"Removed {sum(removed.values())} rows of '{account_id}'.")


@cli.command()
@click.option("--keep", is_flag=True, help="Keep the demo database (path printed at the end).")
@pass_ctx
@handle_errors
def demo(ctx: Ctx, keep: bool) -> None:
    """Run the whole product against the built-in sandbox: no marketplace account needed.

    Starts the sandbox on 127.0.0.1, points the real connectors at it, syncs every account with a progress
    bar, then prints the status table and the deadline queue.
    """
    import tempfile

    from sellerguard.demo import dashboard_hint, demo_config
    from sellerguard.sandbox import Sandbox
    from sellerguard.store import Store
    from sellerguard.sync import sync_accounts

    with tempfile.TemporaryDirectory(prefix="sellerguard-demo-") as tmp, Sandbox() as box:
        config = demo_config(box)
        if not config.accounts:
            raise NotBuiltError("no marketplace has both a connector and sandbox routes yet")
        url = ctx._db_url or f"sqlite:///{Path(tmp) / 'demo.db'}"
        if keep and not ctx._db_url:
            url = f"sqlite:///{Path.cwd() / 'sellerguard-demo.db'}"
        store = Store(url)
        click.echo(f"Sandbox at {box.url}: syncing {len(config.accounts)} accounts "
                   f"({', '.join(a.id for a in config.accounts)})")
        with sync_progress() as progress:
            outcomes = sync_accounts(config, store, progress=progress, workers=4)
        report_sync(outcomes)
        show_status(config, store)
        store.close()
        if keep:
            click.echo(f"Demo database kept: {url}")
        click.echo(dashboard_hint(url, kept=keep or bool(ctx._db_url)))


@cli.group(name="keys")
def keys_() -> None:
    """The store key that encrypts stored tokens (docs/deploy.md, "Secrets at rest")."""


@keys_.command()
@pass_ctx
@handle_errors
def seal(ctx: Ctx) -> None:
    """Encrypt stored values written in plain text by an older sellerguard."""
    from sellerguard.store.sealed import seal_all

    click.echo(f"Sealed {seal_all(ctx.keyed_store)} stored value(s).")


@keys_.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--key-lost", is_flag=True,
              help="The key file is lost for good: make a new key and drop the tokens sealed with the old one.")
@pass_ctx
@handle_errors
def rotate(ctx: Ctx, yes: bool, key_lost: bool) -> None:
    """Replace the store key file with a new key and re-encrypt every stored token under it.

    Stop the daemon first. The old key file is kept as <key file>.old; buyer keys made with the old key are
    cleared (per-buyer counts restart, docs/schema.md).
    """
    from sellerguard.daemon import LOCK_NAME
    from sellerguard.keys import key_location
    from sellerguard.store.sealed import rotate as rotate_key

    store = ctx.keyed_store
    release = store.try_lock(LOCK_NAME)
    if release is None:
        raise ConfigError("a daemon is running on this database; stop it first", where="keys rotate")
    try:
        if key_lost:
            if not yes:
                click.confirm(f"Make a new store key at {key_location(store)} and delete the tokens sealed with the "
                              "lost one? Every account must be reconnected", abort=True, err=True)
            count, _ = rotate_key(store, key_lost=True)
            click.echo(f"New store key at {key_location(store)}; {count} stored value(s) that only the lost key could "
                       "open were deleted: reconnect the accounts (`sellerguard sync` names them). Back up the new "
                       "key file with the database.")
            return
        if not yes:
            click.confirm(f"Replace the store key {key_location(store)} and re-encrypt stored tokens? Buyer keys "
                          "made with the old key are cleared", abort=True, err=True)
        count, backup = rotate_key(store)
    finally:
        release()
    click.echo(f"New store key at {key_location(store)}; {count} stored value(s) re-encrypted. The old key is "
               f"kept at {backup}: delete it once the new one works, and update your backups.")


def show_status(config: Config, store: Store) -> None:
    """Print the status table and deadline queue, as `sellerguard status` does."""
    from sellerguard.clock import SystemClock
    from sellerguard.status import build_status

    print_report(build_status(config, store, SystemClock()))


def print_report(report: Any, deadline_limit: int | None = 20) -> None:
    import os

    from rich.console import Console

    from sellerguard.status import render_status

    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 140  # a pipe or a log: do not squeeze the tables into 80 columns
    out.print(render_status(report, width=out.width, deadline_limit=deadline_limit))


# Set by commands that hold nothing to finalize when the process ends (status only reads; its output is flushed by the
# interpreter, a --record write is committed before it returns).
_freeze_at_exit = False


def main() -> None:
    """The console script (and ``python -m sellerguard``); tests call ``cli`` itself."""
    try:
        cli(prog_name="sellerguard")
    finally:
        if _freeze_at_exit:
            import gc

            # The interpreter's last garbage collections walk every object still alive (SQLAlchemy, pydantic, the
            # report): ~0.25 s of CPU at the end of a status run (issue 21). Frozen objects are skipped by them and
            # left to the OS; objects without reference cycles are still released (files, connections) as usual.
            gc.freeze()


if __name__ == "__main__":
    main()
