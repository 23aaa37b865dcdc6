"""Dependencies shared by the API's routes: the caller, the purpose it acts for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query

from canal.ingest.defaults import parse_purpose
from canal.model.handling import Purpose
from canal.model.org import Principal
from canal.web.auth import current_principal

PURPOSE_HELP = (
    "The processing purpose of this request (criminal-investigation, threat-analysis, warning, "
    "...); records whose source does not permit it are not returned. Default: the role's."
)


#: The purpose as a query parameter or a header; routes that read it themselves (the lookup,
#: after authenticating its caller) declare these two.
PurposeQuery = Annotated[str | None, Query(description=PURPOSE_HELP)]
PurposeHeader = Annotated[str | None, Header(description=PURPOSE_HELP)]


async def request_purpose(
    purpose: PurposeQuery = None, x_canal_purpose: PurposeHeader = None
) -> Purpose | None:
    # async: a plain function would take a trip through the thread pool for a parse.
    return parse_purpose(purpose or x_canal_purpose)


CallerDep = Annotated[Principal, Depends(current_principal)]
PurposeDep = Annotated[Purpose | None, Depends(request_purpose)]
