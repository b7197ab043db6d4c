//! Liveness: the process is up and serving.

use axum::Json;
use serde_json::{json, Value};

pub async fn healthz() -> Json<Value> {
    Json(json!({"ok": true, "service": "macp-control-plane"}))
}
