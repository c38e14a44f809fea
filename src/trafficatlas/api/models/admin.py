"""Logins, users, tokens, the audit log, GeoIP databases and lookups."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

RoleName = Literal["admin", "viewer", "peer"]


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64, description="User name.")
    password: str = Field(min_length=1, max_length=1024, description="Password.")
    totp_code: str | None = Field(
        default=None, max_length=16, description="Current TOTP code, for users with TOTP on."
    )


class SessionInfo(BaseModel):
    username: str = Field(description="Logged-in user.")
    role: RoleName = Field(description="Role of the user.")
    peer_id: str | None = Field(description="For role peer: the peer whose data it sees.")
    csrf_token: str = Field(
        description="Send it as X-CSRF-Token with every POST/PATCH/DELETE of this session."
    )
    expires_at: float = Field(description="Absolute end of the session (epoch seconds).")
    idle_expires_at: float = Field(description="End if no request comes before (epoch s).")
    totp_enabled: bool = Field(description="Whether logins need a TOTP code.")


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024, description="Current password.")
    new_password: str = Field(min_length=1, max_length=1024, description="New password.")


class TotpSetup(BaseModel):
    secret: str = Field(description="Base32 secret for the authenticator app.")
    uri: str = Field(description="otpauth:// URI (show as a QR code).")


class TotpCode(BaseModel):
    code: str = Field(min_length=1, max_length=16, description="Current 6-digit code.")


class TotpDisable(BaseModel):
    password: str = Field(min_length=1, max_length=1024, description="The account's password.")


class Done(BaseModel):
    ok: bool = Field(description="Whether the action happened.")


class UserInfo(BaseModel):
    username: str = Field(description="User name.")
    role: RoleName = Field(description="Role.")
    peer_id: str | None = Field(description="For role peer: its peer.")
    disabled: bool = Field(description="Disabled users cannot log in.")
    totp_enabled: bool = Field(description="Whether logins need a TOTP code.")
    created_at: float = Field(description="Epoch seconds.")
    updated_at: float = Field(description="Epoch seconds.")


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64, description="New user name.")
    password: str = Field(min_length=1, max_length=1024, description="Initial password.")
    role: RoleName = Field(default="viewer", description="Role.")
    peer_id: str | None = Field(default=None, max_length=200, description="For role peer.")


class UserUpdate(BaseModel):
    role: RoleName | None = Field(default=None, description="New role.")
    peer_id: str | None = Field(default=None, max_length=200, description="Peer for role peer.")
    disabled: bool | None = Field(default=None, description="Disable or enable the user.")
    password: str | None = Field(
        default=None, min_length=1, max_length=1024, description="Reset the password."
    )


class TokenInfo(BaseModel):
    id: str = Field(description="Public id (to list and revoke).")
    name: str = Field(description="What the token is for.")
    scope: Literal["read", "admin"] = Field(description="read or admin.")
    peer_id: str | None = Field(description="Peer tokens see only this peer's data.")
    created_by: str = Field(description="Who created it.")
    created_at: float = Field(description="Epoch seconds.")
    expires_at: float | None = Field(description="Epoch seconds; None never expires.")
    last_used_at: float | None = Field(description="Epoch seconds (updated once a minute).")
    revoked_at: float | None = Field(description="Epoch seconds when revoked.")


class TokenCreate(BaseModel):
    name: str = Field(default="", max_length=200, description="What the token is for.")
    scope: Literal["read", "admin"] = Field(default="read", description="read or admin.")
    peer_id: str | None = Field(default=None, max_length=200, description="Make a peer token.")
    expires_in_s: int | None = Field(
        default=None, ge=60, le=10 * 365 * 86400, description="Lifetime in seconds."
    )


class TokenCreated(BaseModel):
    token: str = Field(description="The token: shown this once, only its hash is stored.")
    info: TokenInfo


class AuditItem(BaseModel):
    id: int = Field(description="Entry number.")
    ts: float = Field(description="Epoch seconds.")
    actor: str = Field(description="User, token or 'system'/'cli:...'.")
    action: str = Field(description="e.g. login, logout, user.add, token.revoke.")
    target: str = Field(description="What the action was about.")
    client: str = Field(description="Client address.")
    success: bool = Field(description="Whether it succeeded.")
    detail: dict[str, Any] = Field(description="More about the action (never secrets).")


class AuditResponse(BaseModel):
    entries: list[AuditItem] = Field(description="Newest first.")


class GeoIPDatabaseInfo(BaseModel):
    name: str = Field(description="Database name.")
    path: str | None = Field(description="File (None for the bundled tables).")
    kind: str = Field(description="mmdb, csv or bundled.")
    roles: list[str] = Field(description="What it provides: location, city, asn.")
    schema_name: str = Field(description="Record schema detected.")
    database_type: str = Field(description="Type the file declares.")
    build_date: str | None = Field(description="Build date (YYYY-MM-DD).")
    age_days: float | None = Field(description="Days since the build.")
    networks: int = Field(description="Networks in the table.")
    size: int = Field(description="File size in bytes.")
    license: str = Field(description="License of the data.")
    source: str = Field(description="Where it came from.")


class GeoIPResponse(BaseModel):
    databases: list[GeoIPDatabaseInfo] = Field(description="First match wins, top to bottom.")
    attribution: str = Field(description="Attribution the data's licenses require.")


class GeoIPUpdateItem(BaseModel):
    name: str = Field(description="Configured source name.")
    status: Literal["updated", "up-to-date", "failed"] = Field(description="Outcome.")
    message: str = Field(description="Details.")
    bytes: int = Field(description="Bytes downloaded.")


class GeoIPUpdateResponse(BaseModel):
    results: list[GeoIPUpdateItem] = Field(description="One per configured source.")
    reloaded: bool = Field(description="Whether the running engine now uses the new files.")


class LookupItem(BaseModel):
    ip: str = Field(description="Address as given.")
    country: str | None = Field(default=None, description="ISO country code.")
    country_name: str | None = Field(default=None, description="Country name.")
    flag: str | None = Field(default=None, description="Flag emoji.")
    city: str | None = Field(default=None, description="City.")
    region: str | None = Field(default=None, description="Region.")
    latitude: float | None = Field(default=None, description="Latitude.")
    longitude: float | None = Field(default=None, description="Longitude.")
    asn: int | None = Field(default=None, description="AS number.")
    as_org: str | None = Field(default=None, description="AS organization.")
    network: str | None = Field(default=None, description="Matched network.")
    label: str | None = Field(default=None, description="Why not geolocated (PRIVATE...).")


class LookupResponse(BaseModel):
    results: list[LookupItem] = Field(description="One per address, in order.")
