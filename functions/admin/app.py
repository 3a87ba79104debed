"""The admin function: networks, ensembles, training jobs and stats. Every route needs an admin key."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from drcaptcha import admins, ensemble_admin, sites
from drcaptcha.config import requires_settings
from drcaptcha.http import create_resolver, json_response
from drcaptcha.models.api.admin import (
    ENSEMBLE_ID_PATTERN,
    NETWORK_ID_PATTERN,
    SITE_KEY_PATTERN,
    ActivationResponse,
    CreateEnsembleRequest,
    CreateSiteRequest,
    CrowdStats,
    EnsembleDetail,
    EnsembleList,
    NetworkDetail,
    NetworkList,
    NewSiteResponse,
    SiteSettings,
    TrainingJobList,
    TrainingJobRequest,
    UpdateEnsembleRequest,
    UpdateSiteRequest,
)

logger = Logger()
# What this function cannot start without (a signing key, where one is needed, is checked when it is used).
REQUIRED_SETTINGS = (
    "admins_table",
    "networks_table",
    "ensembles_table",
    "glyphs_table",
    "challenges_table",
    "votes_table",
    "bucket_name",
    "sites_table",
)
app = create_resolver()
EnsembleId = Annotated[str, Path(pattern=ENSEMBLE_ID_PATTERN)]


def require_admin(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    # A CORS preflight carries no credentials by design; the request it announces does.
    if app.current_event.http_method == "OPTIONS":
        return next_middleware(app)
    admin = admins.authenticate(app.current_event.headers.get("authorization"))
    app.context["admin"] = admin.name
    return next_middleware(app)


app.use(middlewares=[require_admin])


def admin_name() -> str:
    return str(app.context.get("admin", ""))


@app.get("/admin/networks", summary="Trained networks, with metrics and presigned plot URLs")
def list_networks() -> NetworkList:
    return admins.list_networks()


@app.get("/admin/networks/<network_id>", summary="One network, with its full metrics.json")
def get_network(network_id: Annotated[str, Path(pattern=NETWORK_ID_PATTERN)]) -> NetworkDetail:
    return admins.get_network(network_id)


@app.post("/admin/ensembles", summary="Create an ensemble: normalise, evaluate with LiteRT, write its manifest")
def create_ensemble(body: CreateEnsembleRequest) -> Response[str]:
    detail = ensemble_admin.create_ensemble(body.name, body.members, created_by=admin_name())
    return json_response(201, detail.model_dump())


@app.patch("/admin/ensembles/<ensemble_id>", summary="Change weights or members; normalise and re-evaluate")
def update_ensemble(ensemble_id: EnsembleId, body: UpdateEnsembleRequest) -> EnsembleDetail:
    return ensemble_admin.update_ensemble(ensemble_id, body.name, body.members)


@app.post("/admin/ensembles/<ensemble_id>/activate", summary="Make an ensemble the one that serves")
def activate_ensemble(ensemble_id: EnsembleId) -> ActivationResponse:
    return ensemble_admin.activate_ensemble(ensemble_id, by=admin_name())


@app.get("/admin/ensembles", summary="Every ensemble, and which one is active")
def list_ensembles() -> EnsembleList:
    return ensemble_admin.list_ensembles()


@app.delete("/admin/ensembles/<ensemble_id>", summary="Delete an ensemble that is not active")
def delete_ensemble(ensemble_id: EnsembleId) -> Response[str]:
    ensemble_admin.delete_ensemble(ensemble_id)
    return json_response(200, {"deleted": ensemble_id})


@app.post("/admin/training-jobs", summary="Start a training job on AWS Batch")
def start_training_job(body: TrainingJobRequest) -> Response[str]:
    job = admins.submit_training_job(body.network, body.epochs)
    return json_response(202, job.model_dump())


@app.get("/admin/training-jobs", summary="Training jobs on the Batch queue")
def list_training_jobs() -> TrainingJobList:
    return admins.list_training_jobs()


@app.get("/admin/stats", summary="Crowd labelling and captcha counts")
def stats() -> CrowdStats:
    return admins.crowd_stats()


@app.post(
    "/admin/sites",
    summary="Register a site: its key, its secret (shown once) and its proof-of-work settings",
    responses={201: {"description": "the new site", "content": {"application/json": {"model": NewSiteResponse}}}},
)
def create_site(body: CreateSiteRequest) -> Response[str]:
    new = sites.create_site(body.domain, pow_difficulty=body.pow_difficulty, accessible=body.accessible)
    reply = NewSiteResponse(
        site_key=new.site_key,
        domain=new.domain,
        secret=new.secret,
        pow_difficulty=body.pow_difficulty,
        accessible=body.accessible,
        test_mode=False,
    )
    return json_response(201, reply.model_dump())


@app.patch("/admin/sites/<site_key>", summary="Change a site's proof-of-work base or accessible-path flag")
def update_site(site_key: Annotated[str, Path(pattern=SITE_KEY_PATTERN)], body: UpdateSiteRequest) -> SiteSettings:
    site = sites.update_site(site_key, pow_difficulty=body.pow_difficulty, accessible=body.accessible)
    return SiteSettings(
        site_key=site.site_key,
        domain=site.domain,
        pow_difficulty=site.pow_difficulty,
        accessible=site.accessible,
        test_mode=site.test_mode,
    )


@logger.inject_lambda_context
@requires_settings("admin", *REQUIRED_SETTINGS)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
