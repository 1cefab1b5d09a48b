"""Replicate's response bodies as models, for the OpenAPI document (and a check on every
answer: FastAPI validates each against its model)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class PredictionUrls(BaseModel):
    get: str
    cancel: str
    stream: str


class Prediction(BaseModel):
    id: str
    model: str
    version: str
    input: dict[str, Any]
    # A file's URL, or a list of them; for predict, the hosted model's own answer.
    output: str | list[Any] | dict[str, Any] | None
    logs: str | None
    error: str | None
    status: Literal["starting", "processing", "succeeded", "failed", "canceled"]
    created_at: str
    started_at: str | None
    completed_at: str | None
    data_removed: bool
    deadline: str | None
    source: str
    webhook: str | None = None
    metrics: dict[str, float]
    urls: PredictionUrls


class PredictionPage(BaseModel):
    previous: str | None
    next: str | None
    results: list[Prediction]


class FileUrls(BaseModel):
    get: str


class File(BaseModel):
    id: str
    name: str
    content_type: str
    size: int
    etag: str
    checksums: dict[str, str]
    metadata: dict[str, Any]
    created_at: str
    expires_at: str
    urls: FileUrls


class FilePage(BaseModel):
    previous: str | None
    next: str | None
    results: list[File]


class Account(BaseModel):
    type: Literal["user", "organization"]
    username: str
    name: str


class ReleaseConfiguration(BaseModel):
    hardware: str
    min_instances: int
    max_instances: int
    params: dict[str, Any]


class Release(BaseModel):
    number: int
    model: str
    version: str
    created_at: str
    created_by: Account
    configuration: ReleaseConfiguration


class Deployment(BaseModel):
    owner: str
    name: str
    current_release: Release


class DeploymentPage(BaseModel):
    previous: str | None
    next: str | None
    results: list[Deployment]


class WebhookSecret(BaseModel):
    key: str
