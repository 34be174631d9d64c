"""Small server state that must survive a restart, as rows (the simulated clock's offset)."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from hsmsim.core.db import Base


class Setting(Base):
    """One named number (``clock_offset_seconds``)."""

    __tablename__ = "sim_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[float] = mapped_column(Float)
