"""Every domain's tables on one MetaData, for Alembic."""

from openrevox.assistants import tables as _assistants  # noqa: F401
from openrevox.campaigns import tables as _campaigns  # noqa: F401
from openrevox.db.types import metadata
from openrevox.orders import tables as _orders  # noqa: F401
from openrevox.orgs import tables as _orgs  # noqa: F401
from openrevox.phone_numbers import tables as _phone_numbers  # noqa: F401
from openrevox.postcall import tables as _postcall  # noqa: F401
from openrevox.scheduling import tables as _scheduling  # noqa: F401
from openrevox.telephony import tables as _telephony  # noqa: F401

__all__ = ["metadata"]
