"""`trafficatlas user ...` and `trafficatlas token ...`: accounts and API tokens.

They work on the metadata store (SQLite) directly, so they also work while the server runs;
changes take effect on the server's next request. Every change is audited as ``cli:<user>``.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trafficatlas.auth.models import Role, Scope
from trafficatlas.errors import ConfigError

if TYPE_CHECKING:
    from trafficatlas.auth.service import AuthService

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first stdin line.")
]
Generate = Annotated[
    bool, typer.Option("--generate", help="Generate a random password and print it once.")
]


@contextmanager
def _service(config: Path | None) -> Iterator[AuthService]:
    from trafficatlas.auth.service import AuthService
    from trafficatlas.cli.common import settings_from
    from trafficatlas.store.metadata import MetadataStore

    settings = settings_from(config)
    metadata = MetadataStore(settings.store.resolved_metadata_path(settings.data_dir))
    try:
        yield AuthService(settings.auth, metadata)
    finally:
        metadata.close()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _password(from_stdin: bool, generate: bool) -> tuple[str, bool]:
    """(password, whether it was generated)."""
    from trafficatlas.auth.secrets import new_password

    if from_stdin and generate:
        raise ConfigError("use either --password-stdin or --generate")
    if generate:
        return new_password(), True
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ConfigError("no password on stdin")
        return line, False
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to ask for a password: use --password-stdin or --generate")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat: "):
        raise ConfigError("the passwords differ")
    return first, False


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M")


def build_user() -> typer.Typer:
    """The `user` command group."""

    app = typer.Typer(help="User accounts of the web UI and API.", no_args_is_help=True)

    @app.command("add")
    def add(
        username: Annotated[str, typer.Argument(help="New user name.")],
        role: Annotated[Role, typer.Option(help="admin, viewer or peer.")] = Role.VIEWER,
        peer: Annotated[
            str | None, typer.Option("--peer", help="Peer id (role peer: sees only it).")
        ] = None,
        password_stdin: PasswordStdin = False,
        generate: Generate = False,
        config: ConfigOpt = None,
    ) -> None:
        """Create a user (asks for a password unless told otherwise)."""
        password, generated = _password(password_stdin, generate)
        with _service(config) as svc:
            svc.passwords.check_policy(password, username)
            svc.add_user(_actor(), username, password, role, peer)
        typer.echo(f"created user {username!r} ({role.value})", err=True)
        if generated:
            typer.echo(password)

    @app.command("passwd")
    def passwd(
        username: Annotated[str, typer.Argument(help="User name.")],
        password_stdin: PasswordStdin = False,
        generate: Generate = False,
        config: ConfigOpt = None,
    ) -> None:
        """Set a new password (ends the user's sessions and lifts a lockout)."""
        password, generated = _password(password_stdin, generate)
        with _service(config) as svc:
            user = svc.store.user(username)
            if user is None:
                raise ConfigError(f"no user {username!r}")
            svc.set_password(_actor(), user, password)
        typer.echo(f"password of {username!r} changed", err=True)
        if generated:
            typer.echo(password)

    def _set_disabled(username: str, disabled: bool, config: Path | None) -> None:
        with _service(config) as svc:
            user = svc.store.user(username)
            if user is None:
                raise ConfigError(f"no user {username!r}")
            svc.update_user(_actor(), user, disabled=disabled)
        typer.echo(f"user {username!r} {'disabled' if disabled else 'enabled'}", err=True)

    @app.command("disable")
    def disable(
        username: Annotated[str, typer.Argument(help="User name.")], config: ConfigOpt = None
    ) -> None:
        """Disable a user: its sessions end and it cannot log in."""
        _set_disabled(username, True, config)

    @app.command("enable")
    def enable(
        username: Annotated[str, typer.Argument(help="User name.")], config: ConfigOpt = None
    ) -> None:
        """Enable a disabled user again."""
        _set_disabled(username, False, config)

    @app.command("list")
    def list_users(
        as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
        config: ConfigOpt = None,
    ) -> None:
        """Every user with role, peer and state."""
        with _service(config) as svc:
            users = svc.store.users()
        _show(
            as_json,
            [
                {
                    "username": u.username,
                    "role": u.role.value,
                    "peer_id": u.peer_id,
                    "disabled": u.disabled,
                    "totp_enabled": u.totp_enabled,
                    "created_at": u.created_at,
                }
                for u in users
            ],
            "users",
            ("user", "role", "peer", "state", "TOTP", "created"),
            [
                (
                    u.username,
                    u.role.value,
                    u.peer_id or "-",
                    "disabled" if u.disabled else "active",
                    "on" if u.totp_enabled else "off",
                    _when(u.created_at),
                )
                for u in users
            ],
        )

    return app


def _show(
    as_json: bool,
    records: list[dict[str, Any]],
    title: str,
    columns: tuple[str, ...],
    rows: list[tuple[str, ...]],
) -> None:
    """A listing: JSON records on stdout, or a table for people."""
    if as_json:
        typer.echo(json.dumps(records))
        return
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def build_token() -> typer.Typer:
    """The `token` command group."""
    from trafficatlas.store.settings import parse_duration

    app = typer.Typer(help="API tokens (Authorization: Bearer).", no_args_is_help=True)

    @app.command("create")
    def create(
        scope: Annotated[Scope, typer.Option(help="read or admin.")] = Scope.READ,
        peer: Annotated[
            str | None, typer.Option("--peer", help="A peer token: sees only this peer.")
        ] = None,
        name: Annotated[str, typer.Option(help="What the token is for.")] = "",
        expires: Annotated[
            str | None, typer.Option(help="Lifetime (e.g. 90d); default: never expires.")
        ] = None,
        config: ConfigOpt = None,
    ) -> None:
        """Create a token and print it once on stdout (only its hash is stored)."""
        lifetime = None
        if expires:
            try:
                lifetime = parse_duration(expires)
            except ValueError as exc:
                raise ConfigError(f"--expires: {exc}") from None
        with _service(config) as svc:
            token, rec = svc.create_token(_actor(), name, scope, peer, lifetime)
        typer.echo(
            f"token {rec.id} ({rec.scope.value}{', peer ' + peer if peer else ''}) created; "
            "it is shown this once:",
            err=True,
        )
        typer.echo(token)

    @app.command("list")
    def list_tokens(
        as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
        config: ConfigOpt = None,
    ) -> None:
        """Every token: id, name, scope, peer, last use, revocation."""
        with _service(config) as svc:
            tokens = svc.store.tokens()
        _show(
            as_json,
            [
                {
                    "id": t.id,
                    "name": t.name,
                    "scope": t.scope.value,
                    "peer_id": t.peer_id,
                    "created_by": t.created_by,
                    "created_at": t.created_at,
                    "expires_at": t.expires_at,
                    "last_used_at": t.last_used_at,
                    "revoked_at": t.revoked_at,
                }
                for t in tokens
            ],
            "API tokens",
            ("id", "name", "scope", "peer", "created", "last used", "state"),
            [
                (
                    t.id,
                    t.name,
                    t.scope.value,
                    t.peer_id or "-",
                    _when(t.created_at),
                    _when(t.last_used_at),
                    "revoked" if t.revoked_at else "active",
                )
                for t in tokens
            ],
        )

    @app.command("revoke")
    def revoke(
        token_id: Annotated[str, typer.Argument(help="Token id (from `token list`).")],
        config: ConfigOpt = None,
    ) -> None:
        """Revoke a token: the server refuses it from the next request on."""
        with _service(config) as svc:
            if not svc.revoke_token(_actor(), token_id):
                raise ConfigError(f"no active token {token_id!r}")
        typer.echo(f"token {token_id} revoked", err=True)

    return app
