//! `GET|POST /runs/:id/artifacts`: what was produced for a run. Registering
//! one is a command on the run (it records `artifact.created`).

use super::body::{parse_json, run_id};
use super::error::{ApiError, Problem};
use super::runs::{read_model, visible_summary};
use super::AppState;
use aggregates::{FieldError, RunCommand, Timestamp};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use projections::artifacts::Artifact;
use projections::RunArtifacts;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

const KINDS: [&str; 5] = ["trace", "json", "report", "log", "bundle"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewArtifact {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub inline: Option<Value>,
}

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
) -> Result<Json<Vec<Artifact>>, ApiError> {
    let run_id = run_id(&id)?;
    Ok(Json(
        read_model::<RunArtifacts>(&app, run_id).await?.artifacts,
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
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Artifact>), ApiError> {
    let run_id = run_id(&id)?;
    let artifact: NewArtifact = parse_json(&body)?;
    let mut errors = Vec::new();
    if !KINDS.contains(&artifact.kind.as_str()) {
        errors.push(FieldError::new("kind", format!("must be one of {KINDS:?}")));
    }
    if artifact.label.trim().is_empty() {
        errors.push(FieldError::new("label", "must not be empty"));
    }
    if artifact.uri.is_none() && artifact.inline.is_none() {
        errors.push(FieldError::new(
            "uri",
            "an artifact needs a uri or inline content",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    visible_summary(&app, run_id).await?;
    let artifact_id = Uuid::new_v4().to_string();
    let at = Timestamp::now();
    let command = RunCommand::RegisterArtifact {
        artifact_id: artifact_id.clone(),
        kind: artifact.kind.clone(),
        label: artifact.label.clone(),
        uri: artifact.uri.clone(),
        inline: artifact.inline.clone(),
        at,
    };
    app.repo.execute(run_id, command).await?;
    let created = Artifact {
        id: artifact_id,
        run_id,
        kind: artifact.kind,
        label: artifact.label,
        uri: artifact.uri,
        inline: artifact.inline,
        created_at: at,
    };
    Ok((StatusCode::CREATED, Json(created)))
}
