"""The console's pages and actions, under ``/console``.

Pages are rendered on the server from the database (Jinja2); a page's live parts are fetched
again every second by a small script while the page is visible (``?part=NAME`` renders one
block of the page's template), so nothing shown is more than a couple of seconds stale, and a
pause button stops it. Actions are form POSTs with the session's CSRF token; a read-only key
sees no buttons and its POSTs are refused. Keys other than admin ones see their own tenant
only: another tenant's job, preview or bulk action is 404, as on /v1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from tilework.api.console import views
from tilework.api.console.actions import (
    BULK_ACTIONS,
    BulkRunner,
    cancel,
    resend,
    retry_job,
)
from tilework.api.console.sessions import (
    COOKIE,
    PRE_COOKIE,
    PRE_SECONDS,
    SESSION_SECONDS,
    Session,
    Signer,
    new_nonce,
)
from tilework.api.dependencies import AppServices
from tilework.core.errors import TileworkError
from tilework.core.jobs import JobRecord, JobStatus
from tilework.core.keys import ApiKey
from tilework.service.services import Services
from tilework.store.audit import audit
from tilework.store.console import (
    JobFilter,
    bulk_action,
    find_jobs,
    job_ledger,
    job_tasks,
    overview,
)
from tilework.store.previews import preview, preview_names, previews_of
from tilework.store.workers import listed

HERE = Path(__file__).parent
PAGE_SIZE = 50
PREFIX = "/console"
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(prefix=PREFIX, include_in_schema=False)
templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
templates.filters.update(views.FILTERS)
static = StaticFiles(directory=HERE / "static")


class SignInNeededError(Exception):
    """No valid session: the browser goes to the sign-in page."""


class RefusedError(Exception):
    """A POST without the session's CSRF token, from a key that may not change things, or
    about a job it cannot see (404, as on /v1)."""

    def __init__(self, why: str, status: int = 403) -> None:
        super().__init__(why)
        self.why = why
        self.status = status


class Console:
    """The console's state in an API process: its cookie signer and its bulk actions."""

    def __init__(self, services: Services) -> None:
        self.signer = Signer(services.database)
        self.bulk = BulkRunner(services)


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


Held = Annotated[Console, Depends(_console)]


class Visitor:
    """The signed-in key of a console request, its session and what it may see."""

    def __init__(self, key: ApiKey, session: Session, csrf: str) -> None:
        self.key = key
        self.session = session
        self.csrf = csrf

    @property
    def tenant(self) -> str | None:
        """The tenant it is held to; None for an admin, who sees every tenant."""
        return None if self.key.admin else self.key.tenant


async def visitor(request: Request, services: AppServices, console: Held) -> Visitor:
    signer = console.signer
    session = signer.session(request.cookies.get(COOKIE))
    if session is None:
        raise SignInNeededError()
    key = services.keys.get(session.key_id)
    if key is None or key.revoked_at is not None:
        raise SignInNeededError()
    return Visitor(key, session, signer.csrf_token(session.nonce))


Signed = Annotated[Visitor, Depends(visitor)]


async def changer(request: Request, who: Signed, console: Held) -> Visitor:
    """A signed-in key that may change things, with this session's CSRF token in the form."""
    form = await request.form()
    token = form.get("csrf")
    if not console.signer.csrf_ok(who.session.nonce, token if isinstance(token, str) else None):
        raise RefusedError(
            "the form's CSRF token is missing or not this session's: reload the page"
        )
    if not who.key.may_change:
        raise RefusedError("this key is read-only: it may look, not change anything")
    return who


Changer = Annotated[Visitor, Depends(changer)]


def page(
    request: Request,
    name: str,
    who: Visitor | None,
    status: int = 200,
    final: frozenset[str] = frozenset(),
    **context: Any,
) -> Response:
    """The page ``name``, or with ``?part=BLOCK`` only that live block of it; a part in
    ``final`` will not change again, and the page's script stops fetching it."""
    template = templates.get_template(name)
    values = {"request": request, "who": who, "prefix": PREFIX, "now": time.time(), **context}
    part = request.query_params.get("part")
    if part:
        if part not in template.blocks:
            return Response("no such part", status_code=404)
        html = "".join(template.blocks[part](template.new_context(values)))
        headers = {**NO_STORE, "X-Live": "stop"} if part in final else NO_STORE
        return HTMLResponse(html, headers=headers)
    return HTMLResponse(template.render(values), status_code=status, headers=NO_STORE)


def install_console(app: FastAPI, services: Services) -> None:
    """Mount the console: its routes, static files, redirects to sign-in and refusals."""
    app.state.console = Console(services)
    app.mount(f"{PREFIX}/static", static, name="console-static")

    async def to_sign_in(request: Request, _: Exception) -> Response:
        if request.query_params.get("part"):
            return Response("signed out", status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/login?{urlencode({'next': target})}", 303)

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, RefusedError)
        return page(request, "refused.html", None, error.status, why=error.why)

    app.add_exception_handler(SignInNeededError, to_sign_in)
    app.add_exception_handler(RefusedError, refused)

    app.include_router(router)


# Sign-in and out.


@router.get("/login")
def login_form(request: Request, console: Held, next: str = PREFIX) -> Response:
    nonce = request.cookies.get(PRE_COOKIE) or new_nonce()
    token = console.signer.csrf_token(nonce)
    response = page(request, "login.html", None, csrf=token, next=_local(next), error=None)
    _set_cookie(response, request, PRE_COOKIE, nonce, PRE_SECONDS)
    return response


@router.post("/login")
async def login(
    request: Request,
    services: AppServices,
    console: Held,
    key: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = PREFIX,
) -> Response:
    signer = console.signer
    nonce = request.cookies.get(PRE_COOKIE)
    if not signer.csrf_ok(nonce, csrf):
        raise RefusedError("the sign-in form's CSRF token is missing or stale: reload the page")
    try:
        found = await services.authenticator.authenticate(f"Bearer {key.strip()}")
    except TileworkError:
        return page(
            request,
            "login.html",
            None,
            401,
            csrf=csrf,
            next=_local(next),
            error="That key is not a valid API key.",
        )
    cookie, _ = signer.session_cookie(found.id)
    audit(services.database, found.id, found.tenant, "console.sign_in", found.id, {})
    response = RedirectResponse(_local(next), 303)
    _set_cookie(response, request, COOKIE, cookie, SESSION_SECONDS)
    response.delete_cookie(PRE_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
def logout(who: Signed, request: Request) -> Response:
    response = RedirectResponse(f"{PREFIX}/login", 303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


def _set_cookie(response: Response, request: Request, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _local(target: str) -> str:
    """Only the console's own paths: a sign-in never sends the browser elsewhere."""
    if target.startswith(PREFIX) and not target.startswith("//"):
        return target
    return PREFIX


# Pages.


@router.get("")
def overview_page(request: Request, who: Signed, services: AppServices) -> Response:
    tenant = who.tenant
    queues = [q for q in services.queue.tenant_queues() if tenant is None or q.tenant == tenant]
    oldest = min((q.oldest_queued_at for q in queues if q.oldest_queued_at), default=None)
    hosts = [host for host in listed(services.database) if views.alive(host)]
    return page(
        request,
        "overview.html",
        who,
        numbers=overview(services.database, tenant),
        queues=queues,
        oldest=oldest,
        hosts=hosts,
    )


@router.get("/jobs")
def jobs_page(
    request: Request,
    who: Signed,
    services: AppServices,
    filter: Annotated[JobFilter, Depends(views.job_filter)],
    before: str = "",
) -> Response:
    conditions = _conditions(filter, who)
    found = find_jobs(services.database, conditions, PAGE_SIZE + 1, before or None)
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    shown = preview_names(services.database, [job.id for job in found])
    next_page = (
        f"{PREFIX}/jobs?{urlencode({**filter.query(), 'before': found[-1].id})}" if more else None
    )
    return page(
        request,
        "jobs.html",
        who,
        jobs=found,
        filter=filter,
        previews=shown,
        next_page=next_page,
        statuses=[status.value for status in JobStatus],
        operations=services.registry.names(),
        bulk_actions=BULK_ACTIONS,
    )


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str, who: Signed, services: AppServices) -> Response:
    job = _job(services, who, job_id)
    tasks = job_tasks(services.database, job.id)
    previews = {p.name: p for p in previews_of(services.database, job.id)}
    # An ended job's stages no longer move, nor its pictures once made; deliveries may.
    final = frozenset({"progress", "pictures"} if job.status.terminal and previews else set())
    return page(
        request,
        "job.html",
        who,
        final=final,
        job=job,
        tasks=tasks,
        stages=views.stages(job, tasks),
        timeline=views.timeline(job, services.events.after(job.id), tasks),
        grid=views.tile_grid(job, tasks),
        previews=previews,
        swatches=views.swatches(job),
        deliveries=services.deliveries.for_job(job.id),
        ledger=job_ledger(services.database, job.id),
    )


@router.get("/jobs/{job_id}/previews/{name}")
def job_preview(job_id: str, name: str, who: Signed, services: AppServices) -> Response:
    found = preview(services.database, job_id, who.tenant, name)
    if found is None:
        return Response("no such preview", status_code=404)
    # Never kept by the browser: the next key signed in there may be another tenant's.
    return Response(found.data, media_type=found.media_type, headers=NO_STORE)


@router.get("/bulk/{bulk_id}")
def bulk_page(request: Request, bulk_id: str, who: Signed, services: AppServices) -> Response:
    found = bulk_action(services.database, bulk_id, who.tenant)
    if found is None:
        return page(request, "refused.html", who, 404, why=f"no bulk action {bulk_id}")
    return page(request, "bulk.html", who, bulk=found)


# Actions.


@router.post("/jobs/{job_id}/cancel")
def cancel_action(job_id: str, who: Changer, services: AppServices) -> Response:
    cancel(services, who.key, _job(services, who, job_id))
    return RedirectResponse(f"{PREFIX}/jobs/{job_id}", 303)


@router.post("/jobs/{job_id}/retry")
def retry_action(job_id: str, who: Changer, services: AppServices) -> Response:
    try:
        made = retry_job(services, who.key, _job(services, who, job_id))
    except TileworkError as error:
        raise RefusedError(error.message) from error
    return RedirectResponse(f"{PREFIX}/jobs/{made.id}", 303)


@router.post("/jobs/{job_id}/deliveries/{delivery_id}/send-again")
def send_again_action(
    job_id: str, delivery_id: str, who: Changer, services: AppServices
) -> Response:
    resend(services, who.key, _job(services, who, job_id), delivery_id)
    return RedirectResponse(f"{PREFIX}/jobs/{job_id}#deliveries", 303)


@router.post("/bulk")
async def bulk_start(request: Request, who: Changer, console: Held) -> Response:
    form = await request.form()
    action = str(form.get("action", ""))
    if action not in BULK_ACTIONS:
        raise RefusedError(f"no bulk action {action!r}: one of {', '.join(BULK_ACTIONS)}")
    filter = views.job_filter(**{name: str(form.get(name, "")) for name in views.FILTER_FIELDS})
    conditions = _conditions(filter, who)
    started = console.bulk.start(who.key, who.tenant, action, filter.query(), conditions)
    return RedirectResponse(f"{PREFIX}/bulk/{started.id}", 303)


def _conditions(filter: JobFilter, who: Visitor) -> list[Any]:
    try:
        return views.conditions(filter, who.tenant)
    except TileworkError as error:
        raise RefusedError(error.message, 400) from error


def _job(services: Services, who: Visitor, job_id: str) -> JobRecord:
    job = services.queue.get_job(job_id, who.tenant)
    if job is None:
        raise RefusedError(f"no job {job_id}", 404)
    return job
