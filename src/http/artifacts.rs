//! `GET|POST /runs/:id/artifacts`: what was produced for a run. Registering
//! one is a command on the run (it records `artifact.created`).

use super::access::Caller;
use super::body::{parse_json, run_id};
use super::error::{AppError, Problem};
use super::AppState;
use crate::commands::artifacts::NewArtifact;
use crate::queries::read_model;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use projections::artifacts::Artifact;
use projections::RunArtifacts;

#[utoipa::path(
    get,
    path = "/runs/{id}/artifacts",
    tag = "read models",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "The run artifacts", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Artifact>>, AppError> {
    let run_id = run_id(&id)?;
    Ok(Json(
        read_model::<RunArtifacts>(&app.store, run_id)
            .await?
            .artifacts,
    ))
}

#[utoipa::path(
    post,
    path = "/runs/{id}/artifacts",
    tag = "read models",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = NewArtifact,
    responses(
        (status = 201, description = "The recorded artifact", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn register(
    State(app): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Artifact>), AppError> {
    let run_id = run_id(&id)?;
    let artifact: NewArtifact = parse_json(&body)?;
    let created = app
        .commands
        .register_artifact(&actor, run_id, artifact)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}
