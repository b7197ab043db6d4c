//! The runtime's policy registry: list, read, register and unregister
//! policies, as the service identity.

use super::auth::Caller;
use super::RuntimeClient;
use crate::runtime::error::{RefusalCode, RuntimeError};
use crate::runtime::pb;

impl RuntimeClient {
    pub async fn list_policies(
        &self,
        mode: &str,
    ) -> Result<Vec<pb::PolicyDescriptor>, RuntimeError> {
        self.call(
            "list_policies",
            Caller::Service,
            pb::ListPoliciesRequest { mode: mode.into() },
            |mut grpc, request| async move { grpc.list_policies(request).await },
            |response| Ok(response.descriptors),
        )
        .await
    }

    pub async fn get_policy(&self, policy_id: &str) -> Result<pb::PolicyDescriptor, RuntimeError> {
        let request = pb::GetPolicyRequest {
            policy_id: policy_id.into(),
        };
        self.call(
            "get_policy",
            Caller::Service,
            request,
            |mut grpc, request| async move { grpc.get_policy(request).await },
            |response| {
                response.policy_descriptor.ok_or_else(|| {
                    RuntimeError::refused(
                        RefusalCode::UnknownPolicyVersion,
                        format!("no policy {policy_id:?}"),
                    )
                })
            },
        )
        .await
    }

    pub async fn register_policy(
        &self,
        descriptor: pb::PolicyDescriptor,
    ) -> Result<(), RuntimeError> {
        let request = pb::RegisterPolicyRequest {
            policy_descriptor: Some(descriptor),
        };
        self.call(
            "register_policy",
            Caller::Service,
            request,
            |mut grpc, request| async move { grpc.register_policy(request).await },
            |response| registry_answer(response.ok, response.error),
        )
        .await
    }

    pub async fn unregister_policy(&self, policy_id: &str) -> Result<(), RuntimeError> {
        let request = pb::UnregisterPolicyRequest {
            policy_id: policy_id.into(),
        };
        self.call(
            "unregister_policy",
            Caller::Service,
            request,
            |mut grpc, request| async move { grpc.unregister_policy(request).await },
            |response| registry_answer(response.ok, response.error),
        )
        .await
    }
}

/// The policy registry answers `{ok, error}`; its error text starts with
/// the runtime's code when it has one.
fn registry_answer(ok: bool, error: String) -> Result<(), RuntimeError> {
    if ok {
        return Ok(());
    }
    let code = error
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .next()
        .filter(|c| c.len() > 3)
        .map_or(RefusalCode::PolicyRegistryRefused, RefusalCode::from);
    Err(RuntimeError::refused(code, error))
}
