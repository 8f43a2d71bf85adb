"""Declarative base with a naming convention, so that Alembic names constraints predictably."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


def import_all_models() -> None:
    """Import every models module so that Base.metadata knows every table (Alembic, tests)."""
    from hotline_api.audit import models as _audit  # noqa: F401
    from hotline_api.auth import models as _auth  # noqa: F401
    from hotline_api.calls import models as _calls  # noqa: F401
    from hotline_api.cases import models as _cases  # noqa: F401
    from hotline_api.privacy import models as _privacy  # noqa: F401
    from hotline_api.reference import models as _reference  # noqa: F401
    from hotline_api.reports import models as _reports  # noqa: F401
    from hotline_api.routing import models as _routing  # noqa: F401
    from hotline_api.telephony import models as _telephony  # noqa: F401
