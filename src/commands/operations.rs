//! Changes to what is not a run: the runtime's policies and the circuit
//! breaker in front of the runtime. Each is recorded in the operation
//! audit with who made it.

use super::{Actor, Commands};
use crate::audit::record_operation;
use crate::error::AppError;
use crate::runtime::breaker::BreakerReport;
use crate::runtime::pb::PolicyDescriptor;
use aggregates::{FieldError, Timestamp};
use serde::Deserialize;
use serde_json::Value;

/// The resource of policy commands' audit entries.
const POLICY: &str = "policy";

/// A policy to register. `rules` is the runtime's rule document: a JSON
/// object here (or a string holding one).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewPolicy {
    #[serde(default)]
    pub policy_id: String,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub rules: Value,
    #[serde(default)]
    pub schema_version: Option<u32>,
}

impl Commands {
    /// Registers a policy on the runtime and answers it as stored there.
    pub async fn register_policy(
        &self,
        actor: &Actor,
        policy: NewPolicy,
    ) -> Result<PolicyDescriptor, AppError> {
        let mut errors = Vec::new();
        if policy.policy_id.trim().is_empty() {
            errors.push(FieldError::new("policyId", "must not be empty"));
        }
        if policy.mode.trim().is_empty() {
            errors.push(FieldError::new(
                "mode",
                "must not be empty (a mode name, or \"*\")",
            ));
        }
        let rules = rules_text(&policy.rules).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "rules",
                "must be a JSON object (or a string holding one)",
            ));
            String::new()
        });
        if !errors.is_empty() {
            return Err(AppError::validation(errors));
        }
        let descriptor = PolicyDescriptor {
            policy_id: policy.policy_id.clone(),
            mode: policy.mode,
            description: policy.description,
            rules,
            schema_version: policy.schema_version.unwrap_or(1),
            registered_at_unix_ms: Timestamp::now().unix_ms(),
        };
        let runtime = self.runtime();
        runtime.register_policy(descriptor).await?;
        record_operation(
            self.store(),
            actor,
            "policy.register",
            POLICY,
            Some(&policy.policy_id),
        )
        .await;
        Ok(runtime.get_policy(&policy.policy_id).await?)
    }

    /// Unregisters a policy from the runtime.
    pub async fn unregister_policy(&self, actor: &Actor, policy_id: &str) -> Result<(), AppError> {
        self.runtime().unregister_policy(policy_id).await?;
        record_operation(
            self.store(),
            actor,
            "policy.delete",
            POLICY,
            Some(policy_id),
        )
        .await;
        Ok(())
    }

    /// Closes the circuit breaker in front of the runtime.
    pub async fn reset_breaker(&self, actor: &Actor) -> BreakerReport {
        tracing::info!("circuit breaker reset by an operator");
        let report = self
            .runtime()
            .breaker()
            .reset("reset by an operator (POST /admin/circuit-breaker/reset)");
        record_operation(
            self.store(),
            actor,
            "circuit_breaker.reset",
            "circuit-breaker",
            Some("runtime"),
        )
        .await;
        report
    }
}

/// A policy's rules as the runtime takes them, a JSON text: a string as
/// it is, an object as its JSON; `None` for any other JSON value.
// serde_json's `Value`: a string or an object, and nothing else.
#[allow(clippy::wildcard_enum_match_arm)]
fn rules_text(rules: &Value) -> Option<String> {
    match rules {
        Value::String(text) => Some(text.clone()),
        Value::Object(_) => Some(rules.to_string()),
        _ => None,
    }
}
