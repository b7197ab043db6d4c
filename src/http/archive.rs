//! `GET /runs/:id/archive`: the run's whole stream as one protobuf file
//! (`crate::archive`), for `macp-control-plane verify --archive`.

use super::body::run_id;
use super::error::{AppError, Problem};
use super::AppState;
use crate::archive;
use crate::queries::visible_summary;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use prost::Message;

#[utoipa::path(
    get,
    path = "/runs/{id}/archive",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    responses(
        (status = 200, description = "The run archive: a `macp.control_plane.archive.v1.RunArchive` protobuf message (schema in the repository's `proto/`), every event of the run's stream as stored, with its chain hash", content_type = "application/x-protobuf", body = Vec<u8>),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn archive(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let run_id = run_id(&id)?;
    visible_summary(&app.store, run_id).await?;
    let rows = app.store.chain_rows(run_id).await?;
    let bytes = archive::build(run_id, &rows).encode_to_vec();
    Ok((
        [
            (CONTENT_TYPE, archive::MEDIA_TYPE.to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", archive::file_name(run_id)),
            ),
        ],
        bytes,
    )
        .into_response())
}
