"""Output destinations: an admin saves a tenant's bucket (credentials kept sealed, never shown
again); any key of the tenant lists them, to name one in its jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import Admin, AppServices, Caller
from tilework.api.v1 import schemas
from tilework.core.destinations import Credentials, Destination
from tilework.core.errors import ErrorCode, TileworkError
from tilework.service.destinations import described, save
from tilework.store.destinations import delete_destination, tenant_destinations

router = APIRouter(prefix="/v1", tags=["destinations"])
Tenant = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Name = Annotated[str, Path(min_length=1, max_length=64, pattern=schemas.NAME_PATTERN)]


@router.put(
    "/tenants/{tenant}/destinations/{name}",
    response_model=schemas.DestinationOut,
    responses={201: {"model": schemas.DestinationOut}, 422: {"model": schemas.ErrorBody}},
)
async def put_destination(
    tenant: Tenant,
    name: Name,
    body: schemas.DestinationIn,
    response: Response,
    services: AppServices,
    _: Admin,
) -> schemas.DestinationOut:
    """Create or replace a destination, once tilework wrote and deleted a probe object in it
    with these credentials (a refusal is 422 naming ``credentials``)."""
    credentials = (
        None
        if body.access_key_id is None or body.secret_access_key is None
        else Credentials(body.access_key_id, body.secret_access_key, body.session_token)
    )
    destination = Destination(
        tenant=tenant,
        name=name,
        bucket=body.bucket,
        prefix=body.prefix.strip("/"),
        path_template=body.path_template,
        endpoint=None if body.endpoint is None else str(body.endpoint).rstrip("/"),
        region=body.region,
        public=body.public,
        public_url=None if body.public_url is None else str(body.public_url).rstrip("/"),
        render_projects=body.render_projects,
        credentials=credentials,
    )
    created = await run_in_threadpool(save, services, destination)
    if created:
        response.status_code = 201
    return schemas.DestinationOut(**described(destination, credentials is not None))


@router.get("/tenants/{tenant}/destinations", response_model=schemas.DestinationList)
async def tenant_list(tenant: Tenant, services: AppServices, _: Admin) -> schemas.DestinationList:
    return await _listed(services, tenant)


@router.get("/destinations", response_model=schemas.DestinationList)
async def own_list(services: AppServices, key: Caller) -> schemas.DestinationList:
    """The caller's tenant's destinations, without credentials."""
    return await _listed(services, key.tenant)


@router.delete(
    "/tenants/{tenant}/destinations/{name}",
    status_code=204,
    responses={404: {"model": schemas.ErrorBody}},
)
async def remove_destination(tenant: Tenant, name: Name, services: AppServices, _: Admin) -> None:
    """Jobs that name it and have not delivered yet fail with ``upload_failed``; what was
    delivered stays in the bucket."""
    if not await run_in_threadpool(delete_destination, services.database, tenant, name):
        raise TileworkError(ErrorCode.NOT_FOUND, f"no destination {name}", {"destination": name})


async def _listed(services: AppServices, tenant: str) -> schemas.DestinationList:
    found = await run_in_threadpool(tenant_destinations, services.database, tenant)
    return schemas.DestinationList(
        items=[schemas.DestinationOut(**described(each, has)) for each, has in found]
    )
