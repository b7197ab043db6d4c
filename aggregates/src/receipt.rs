//! A decision receipt as the control plane recorded it: the `macp-receipt/1`
//! document the runtime served for a resolved session (`GetDecisionReceipt`,
//! RFC-MACP-0013 §13), the key set it published (`GetReceiptKeys`), and what
//! the control plane's checks found when it recorded them (the checks are
//! `src/runtime/receipts.rs`; `verify` runs them again from these bytes).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionReceipt {
    /// The receipt's JSON text exactly as served (its JCS bytes, UTF-8);
    /// `None` when the runtime served none.
    pub receipt_json: Option<String>,
    /// The runtime's JWKS text as served, when it was fetched.
    pub keys_json: Option<String>,
    /// Why there is no receipt: the runtime's refusal, or that it does not
    /// serve receipts.
    pub unavailable: Option<String>,
    pub checks: ReceiptChecks,
}

/// What checking a receipt found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptChecks {
    /// The receipt's `issuer` (`runtime:<id>`).
    pub issuer: Option<String>,
    /// It carries an attestation (a detached EdDSA JWS).
    pub signed: bool,
    /// An attestation verifies against the published keys; `None` when
    /// the receipt is unsigned.
    pub signature_valid: Option<bool>,
    /// The receipt's Commitment bytes (`commitment_wire_b64`) are the
    /// recorded Commitment envelope's payload, and its `commitment_hash`
    /// is theirs.
    pub commitment_matches: bool,
    /// macp-core's verdict (RFC-MACP-0013 A.4): `attested`,
    /// `integrity_only`, `unverified` or `refused`.
    pub verdict: Option<String>,
    /// Every check that failed, in words; empty when none did.
    pub problems: Vec<String>,
}

impl DecisionReceipt {
    /// A receipt is present and every check passed.
    pub fn verified(&self) -> bool {
        self.receipt_json.is_some() && self.checks.problems.is_empty()
    }

    /// What the run's `run.completed` canonical event says of it (as
    /// `data.decisionReceipt`), and so what the run state shows
    /// (`decision.current.receipt`).
    pub fn summary(&self) -> ReceiptSummary {
        ReceiptSummary {
            present: self.receipt_json.is_some(),
            signed: self.checks.signed,
            verified: self.verified(),
            issuer: self.checks.issuer.clone(),
            signature_valid: self.checks.signature_valid,
            commitment_matches: self.checks.commitment_matches,
            verdict: self.checks.verdict.clone(),
            problems: self.checks.problems.clone(),
            unavailable: self.unavailable.clone(),
        }
    }
}

/// A decision receipt in short, as the run state shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptSummary {
    /// The runtime served a receipt.
    pub present: bool,
    /// It carries an attestation.
    pub signed: bool,
    /// Present, and every check passed (see `problems`).
    pub verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_valid: Option<bool>,
    pub commitment_matches: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    pub problems: Vec<String>,
    /// Why there is none, when the runtime served none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}
