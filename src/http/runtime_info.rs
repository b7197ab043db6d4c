//! `/runtime/*`: what the connected runtime is and offers (manifest, modes,
//! roots, health) and a proxy of its policy registry.

use super::access::Caller;
use super::body::parse_json;
use super::body::Params;
use super::error::{AppError, Problem};
use super::AppState;
use crate::commands::operations::NewPolicy;
use crate::runtime::payloads::message_to_json;
use crate::runtime::pb::PolicyDescriptor;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

#[utoipa::path(
    get,
    path = "/runtime/manifest",
    tag = "runtime",
    responses(
        (status = 200, description = "The runtime manifest", body = serde_json::Value),
        (status = 502, description = "The runtime refused (its code in `errors`; other codes answer by what they mean, see `Problem`)", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
    )
)]
pub async fn manifest(State(app): State<AppState>) -> Result<Json<Value>, AppError> {
    let manifest = app.runtime.get_manifest().await?;
    Ok(Json(message_to_json("macp.v1.AgentManifest", &manifest)))
}

/// Standard and extension modes, as `[{mode, modeVersion, title, …}]`.
#[utoipa::path(
    get,
    path = "/runtime/modes",
    tag = "runtime",
    responses(
        (status = 200, description = "Modes the runtime supports", body = serde_json::Value),
        (status = 502, description = "The runtime refused (its code in `errors`; other codes answer by what they mean, see `Problem`)", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
    )
)]
pub async fn modes(State(app): State<AppState>) -> Result<Json<Vec<Value>>, AppError> {
    let modes = app.runtime.list_modes().await?;
    Ok(Json(
        modes
            .iter()
            .map(|m| message_to_json("macp.v1.ModeDescriptor", m))
            .collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/runtime/roots",
    tag = "runtime",
    responses(
        (status = 200, description = "The runtime roots", body = serde_json::Value),
        (status = 502, description = "The runtime refused (its code in `errors`; other codes answer by what they mean, see `Problem`)", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
    )
)]
pub async fn roots(State(app): State<AppState>) -> Result<Json<Vec<Value>>, AppError> {
    let roots = app.runtime.list_roots().await?;
    Ok(Json(
        roots
            .iter()
            .map(|r| message_to_json("macp.v1.Root", r))
            .collect(),
    ))
}

/// `{ok, runtimeKind, detail?, manifest?}`; `ok: false` with the reason
/// when the runtime cannot be reached.
#[utoipa::path(
    get,
    path = "/runtime/health",
    tag = "runtime",
    responses(
        (status = 200, description = "`{ok, runtimeKind, detail?, manifest?}`", body = serde_json::Value),
    )
)]
pub async fn health(State(app): State<AppState>) -> Json<Value> {
    let runtime = &app.runtime;
    let kind = app.runtime_kind.clone();
    match runtime.handshake().await {
        Ok(init) => {
            let info = init.runtime_info.unwrap_or_default();
            let manifest = runtime
                .get_manifest()
                .await
                .ok()
                .map(|m| message_to_json("macp.v1.AgentManifest", &m));
            Json(json!({
                "ok": true,
                "runtimeKind": kind,
                "detail": format!("{} {} at {} (protocol {})", info.name, info.version, runtime.address(),
                                  init.selected_protocol_version),
                "manifest": manifest,
            }))
        }
        Err(error) => Json(json!({"ok": false, "runtimeKind": kind, "detail": error.to_string()})),
    }
}

/// `list_policies`'s query: text, each value checked by the handler.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PoliciesParams {
    /// Only policies of this mode
    mode: Option<String>,
}

#[utoipa::path(
    get,
    path = "/runtime/policies",
    tag = "runtime",
    params(PoliciesParams),
    responses(
        (status = 200, description = "Registered policies", body = serde_json::Value),
        (status = 502, description = "The runtime refused (its code in `errors`; other codes answer by what they mean, see `Problem`)", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
    )
)]
pub async fn list_policies(
    State(app): State<AppState>,
    Params(params): Params<PoliciesParams>,
) -> Result<Json<Vec<Value>>, AppError> {
    let mode = params.mode.as_deref().unwrap_or_default();
    let policies = app.runtime.list_policies(mode).await?;
    Ok(Json(policies.iter().map(policy_json).collect()))
}

#[utoipa::path(
    get,
    path = "/runtime/policies/{policy_id}",
    tag = "runtime",
    params(
        ("policy_id" = String, Path, description = "Policy id"),
    ),
    responses(
        (status = 200, description = "The policy", body = serde_json::Value),
        (status = 404, description = "No such run", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
    )
)]
pub async fn get_policy(
    State(app): State<AppState>,
    Path(policy_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let policy = app.runtime.get_policy(&policy_id).await?;
    Ok(Json(policy_json(&policy)))
}

#[utoipa::path(
    post,
    path = "/runtime/policies",
    tag = "runtime",
    request_body = NewPolicy,
    responses(
        (status = 201, description = "The registered policy", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 502, description = "The runtime refused or failed", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
    )
)]
pub async fn register_policy(
    State(app): State<AppState>,
    Caller(actor): Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let policy: NewPolicy = parse_json(&body)?;
    let stored = app.commands.register_policy(&actor, policy).await?;
    Ok((StatusCode::CREATED, Json(policy_json(&stored))))
}

#[utoipa::path(
    delete,
    path = "/runtime/policies/{policy_id}",
    tag = "runtime",
    params(
        ("policy_id" = String, Path, description = "Policy id"),
    ),
    responses(
        (status = 204, description = "Unregistered"),
        (status = 404, description = "No such run", body = Problem),
        (status = 502, description = "The runtime refused or failed", body = Problem),
        (status = 503, description = "The runtime is unavailable", body = Problem),
    )
)]
pub async fn delete_policy(
    State(app): State<AppState>,
    Caller(actor): Caller,
    Path(policy_id): Path<String>,
) -> Result<StatusCode, AppError> {
    app.commands.unregister_policy(&actor, &policy_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A policy descriptor with its rules as JSON rather than a string.
fn policy_json(policy: &PolicyDescriptor) -> Value {
    let mut value = message_to_json("macp.v1.PolicyDescriptor", policy);
    if let Ok(rules) = serde_json::from_str::<Value>(&policy.rules) {
        value["rules"] = rules;
    }
    value
}
