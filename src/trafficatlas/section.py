"""Base class of every settings section (kept apart so components can import it cheaply)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A settings section: unknown keys are errors (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid")
