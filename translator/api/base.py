"""One base class for every model: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class APIModel(BaseModel):
    """Shared configuration (after hera's ``APIBaseModel``).

    Fields are written in camelCase, read by either name, and serialised without the
    fields that were never set, so a round trip through the API server is lossless.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase, nulls dropped."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
