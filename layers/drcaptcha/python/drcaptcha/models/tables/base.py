"""The base of every pynamodb model: the table name and endpoint come from Settings, at first use.

pynamodb reads a model's `Meta` when it opens a connection, so binding lazily lets the same classes serve AWS,
the moto server and LocalStack, whichever `AWS_ENDPOINT_URL` names.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pynamodb.connection.table import TableConnection
from pynamodb.models import Model

from drcaptcha.config import get_settings


class TableModel(Model):
    """A model whose table name is the Settings field named by `table_setting`."""

    table_setting: ClassVar[str]

    @classmethod
    def _get_connection(cls) -> TableConnection:
        settings = get_settings()
        wanted: dict[str, Any] = {
            "table_name": getattr(settings, cls.table_setting),
            "host": settings.aws_endpoint_url,
            "region": settings.aws_region,
            "aws_access_key_id": settings.aws_access_key_id,
            "aws_secret_access_key": settings.aws_secret_access_key,
        }
        if any(getattr(cls.Meta, name, None) != value for name, value in wanted.items()):
            for name, value in wanted.items():
                setattr(cls.Meta, name, value)
            cls._connection = None
        return super()._get_connection()
