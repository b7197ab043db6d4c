//! Checks a decision receipt (`macp-receipt/1`, RFC-MACP-0013 §13) the way
//! an auditor would: macp-core's verifier (Appendix A.4: the Commitment's
//! hash, then each attestation against the runtime's published keys),
//! and that the Commitment it carries is, byte for byte, the Commitment
//! envelope this control plane recorded. Pure: the same checks run when a
//! receipt is recorded, in `verify`, and offline on an archive.

use super::COMMITMENT;
use aggregates::receipt::ReceiptChecks;
use aggregates::RunEvent;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use macp_core::commitment_hash::commitment_hash_of_wire;
use macp_core::receipt::{add_jwks, verify, AttestationOutcome, Integrity, TrustedKeys};
use serde_json::Value;

/// How a failure to fetch the runtime's receipt keys opens, among a
/// receipt's problems: it is about the fetch, not the receipt's bytes.
pub const KEYS_UNFETCHED: &str = "the runtime's receipt keys could not be fetched";

/// The modes whose resolved sessions have receipts (the standards-track
/// modes; extension modes, `ext.*`, have none).
pub fn has_receipts(mode: &str) -> bool {
    mode.starts_with("macp.mode.")
}

/// Checks `receipt_json` against the keys of `keys_json` and the recorded
/// Commitment payload `commitment` (its wire bytes; `None` when the run
/// recorded no Commitment envelope).
pub fn check(
    receipt_json: &str,
    keys_json: Option<&str>,
    commitment: Option<&[u8]>,
) -> ReceiptChecks {
    let mut checks = ReceiptChecks::default();
    let receipt: Value = match serde_json::from_str(receipt_json) {
        Ok(receipt) => receipt,
        Err(e) => {
            checks
                .problems
                .push(format!("the receipt is not JSON: {e}"));
            return checks;
        }
    };
    let text = |name: &str| receipt.get(name).and_then(Value::as_str);
    checks.issuer = text("issuer").map(str::to_string);
    checks.signed = receipt
        .get("attestations")
        .and_then(Value::as_array)
        .is_some_and(|attestations| !attestations.is_empty());

    let mut trusted = TrustedKeys::new();
    if let Some(keys) = keys_json {
        match serde_json::from_str::<Value>(keys).map(|doc| add_jwks(&doc, &mut trusted)) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => checks
                .problems
                .push(format!("the published keys do not load: {e}")),
            Err(e) => checks
                .problems
                .push(format!("the published keys are not JSON: {e}")),
        }
    }
    let verification = verify(&receipt, &trusted);
    checks.verdict = Some(verification.verdict.as_str().to_string());
    match verification.integrity {
        Some(Integrity::Match) => {}
        None => checks
            .problems
            .push("the receipt's format is not macp-receipt/1".into()),
        Some(_) => checks.problems.push(
            "the receipt's commitment_hash is not the hash of the Commitment it carries".into(),
        ),
    }
    if !checks.signed && !trusted.is_empty() {
        // A runtime that publishes keys signs its receipts: an unsigned
        // one from it had its signature taken away.
        checks.problems.push(
            "the runtime publishes signing keys, but the receipt carries no signature".into(),
        );
    }
    if checks.signed {
        let valid = verification
            .attestations
            .contains(&AttestationOutcome::Valid);
        checks.signature_valid = Some(valid);
        if !valid {
            checks
                .problems
                .push("no attestation verifies against the runtime's published keys".into());
        }
    }

    checks.commitment_matches = match commitment {
        None => {
            checks
                .problems
                .push("the run recorded no Commitment envelope to compare".into());
            false
        }
        Some(wire) => {
            let carried = text("commitment_wire_b64").and_then(|b64| STANDARD.decode(b64).ok());
            let bytes_match = carried.as_deref() == Some(wire);
            let hash_match = commitment_hash_of_wire(wire)
                .is_ok_and(|hash| Some(hash.as_str()) == text("commitment_hash"));
            if !bytes_match {
                checks.problems.push(
                    "the receipt's Commitment bytes are not the recorded Commitment envelope's"
                        .into(),
                );
            }
            if !hash_match {
                checks.problems.push(
                    "the receipt's commitment_hash is not the recorded Commitment's hash".into(),
                );
            }
            bytes_match && hash_match
        }
    };
    checks
}

/// The payload bytes of the last Commitment envelope among a run's
/// `events` (the one that resolved its session).
pub fn recorded_commitment<'a>(events: impl IntoIterator<Item = &'a RunEvent>) -> Option<Vec<u8>> {
    let last = events
        .into_iter()
        .filter_map(|event| {
            let RunEvent::RuntimeEnvelopeRecorded { envelope, .. } = event else {
                return None;
            };
            (envelope.message_type == COMMITMENT).then_some(envelope)
        })
        .last()?;
    // One whose payload does not decode matches no receipt.
    STANDARD.decode(&last.payload_base64).ok()
}

/// The recorded receipt of a run, checked again from its recorded bytes
/// against the run's recorded Commitment: what the record says now,
/// whatever was found when it was recorded. `None` when the run has no
/// receipt event.
pub fn recheck<'a>(
    events: impl IntoIterator<Item = &'a RunEvent> + Clone,
) -> Option<ReceiptReport> {
    let recorded = events.clone().into_iter().find_map(|event| {
        let RunEvent::DecisionReceiptRecorded { receipt, .. } = event else {
            return None;
        };
        Some(receipt)
    })?;
    let Some(receipt_json) = &recorded.receipt_json else {
        return Some(ReceiptReport {
            present: false,
            unavailable: recorded.unavailable.clone(),
            checks: recorded.checks.clone(),
            as_recorded: true,
        });
    };
    let commitment = recorded_commitment(events);
    let checks = check(
        receipt_json,
        recorded.keys_json.as_deref(),
        commitment.as_deref(),
    );
    let mut as_recorded_checks = recorded.checks.clone();
    // A failure to fetch the keys is about the fetch, not the bytes.
    as_recorded_checks
        .problems
        .retain(|problem| !problem.starts_with(KEYS_UNFETCHED));
    Some(ReceiptReport {
        present: true,
        unavailable: None,
        as_recorded: as_recorded_checks == checks,
        checks,
    })
}

/// A receipt checked again (see [`recheck`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptReport {
    /// The runtime served a receipt.
    pub present: bool,
    /// Why it served none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// The checks, run again on the recorded bytes.
    pub checks: ReceiptChecks,
    /// They found what was recorded when the receipt was recorded.
    pub as_recorded: bool,
}

impl ReceiptReport {
    /// A receipt is present, every check passes, and the recorded
    /// findings are the ones the bytes give.
    pub fn verified(&self) -> bool {
        self.present && self.checks.problems.is_empty() && self.as_recorded
    }

    /// A receipt is present and does not verify: what fails a run's
    /// verification (one the runtime did not serve fails nothing).
    pub fn fails(&self) -> bool {
        self.present && !self.verified()
    }
}

#[cfg(test)]
mod tests {
    //! The failure paths a real runtime does not produce on demand: a
    //! receipt signed by another key, a receipt changed after signing, a
    //! receipt for another Commitment. Receipts are built by macp-core,
    //! the runtime's own builder.
    use super::*;
    use crate::runtime::pb::CommitmentPayload;
    use macp_core::receipt::{build, KeySet, ReceiptInputs, ReceiptSigner};
    use prost::Message;

    fn wire(action: &str) -> Vec<u8> {
        CommitmentPayload {
            commitment_id: "c-1".into(),
            action: action.into(),
            authority_scope: "payments".into(),
            reason: "policy".into(),
            mode_version: "1.0.0".into(),
            policy_version: "policy.default".into(),
            configuration_version: "config.default".into(),
            outcome_positive: true,
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn signer(seed: u8) -> ReceiptSigner {
        ReceiptSigner::from_seed(&[seed; 32], format!("key-{seed}")).unwrap()
    }

    fn receipt(wire: &[u8], signer: Option<&ReceiptSigner>) -> String {
        let inputs = ReceiptInputs::new(
            "s-1",
            "macp.mode.decision.v1",
            wire,
            "runtime:test",
            "2026-11-30T12:00:00Z",
        );
        String::from_utf8(build(&inputs, signer).unwrap()).unwrap()
    }

    fn keys(signer: &ReceiptSigner) -> String {
        KeySet::new().with_active(signer).unwrap().to_jwks_json()
    }

    #[test]
    fn a_signed_receipt_of_the_recorded_commitment_checks() {
        let wire = wire("approve");
        let key = signer(7);
        let checks = check(&receipt(&wire, Some(&key)), Some(&keys(&key)), Some(&wire));
        assert_eq!(checks.problems, Vec::<String>::new());
        assert!(checks.signed);
        assert_eq!(checks.signature_valid, Some(true));
        assert!(checks.commitment_matches);
        assert_eq!(checks.issuer.as_deref(), Some("runtime:test"));
        assert_eq!(checks.verdict.as_deref(), Some("attested"));
    }

    #[test]
    fn an_unsigned_receipt_checks_without_a_signature() {
        let wire = wire("approve");
        let checks = check(&receipt(&wire, None), Some(r#"{"keys":[]}"#), Some(&wire));
        assert_eq!(checks.problems, Vec::<String>::new());
        assert!(!checks.signed);
        assert_eq!(checks.signature_valid, None);
        assert_eq!(checks.verdict.as_deref(), Some("integrity_only"));
    }

    #[test]
    fn a_receipt_signed_by_another_key_fails() {
        let wire = wire("approve");
        let forged = receipt(&wire, Some(&signer(8)));
        // Published: key-7 only; the forger signed with its own key-8.
        let checks = check(&forged, Some(&keys(&signer(7))), Some(&wire));
        assert_eq!(checks.signature_valid, Some(false));
        assert_eq!(checks.problems.len(), 1, "{:?}", checks.problems);
    }

    #[test]
    fn a_receipt_changed_after_signing_fails() {
        let wire = wire("approve");
        let key = signer(7);
        let changed = receipt(&wire, Some(&key)).replace("runtime:test", "runtime:other");
        let checks = check(&changed, Some(&keys(&key)), Some(&wire));
        assert_eq!(checks.signature_valid, Some(false));
        assert!(!checks.problems.is_empty());
    }

    #[test]
    fn a_receipt_stripped_of_its_signature_fails() {
        let wire = wire("approve");
        let key = signer(7);
        let mut signed: Value = serde_json::from_str(&receipt(&wire, Some(&key))).unwrap();
        signed["attestations"] = serde_json::json!([]);
        let checks = check(&signed.to_string(), Some(&keys(&key)), Some(&wire));
        assert!(!checks.signed);
        assert!(checks.commitment_matches);
        assert_eq!(checks.problems.len(), 1, "{:?}", checks.problems);
        assert!(checks.problems[0].contains("carries no signature"));
    }

    #[test]
    fn a_receipt_of_another_commitment_fails() {
        let key = signer(7);
        let issued = receipt(&wire("approve"), Some(&key));
        let recorded = wire("decline");
        let checks = check(&issued, Some(&keys(&key)), Some(&recorded));
        // Genuine and well signed, but not for the decision this run recorded.
        assert_eq!(checks.signature_valid, Some(true));
        assert!(!checks.commitment_matches);
        assert_eq!(checks.problems.len(), 2, "{:?}", checks.problems);
        let none = check(&issued, Some(&keys(&key)), None);
        assert!(!none.commitment_matches);
    }

    #[test]
    fn a_hash_that_is_not_the_commitments_fails() {
        let wire = wire("approve");
        let issued = receipt(&wire, None);
        let value: Value = serde_json::from_str(&issued).unwrap();
        let hash = value["commitment_hash"].as_str().unwrap();
        let wrong = issued.replace(hash, &"0".repeat(hash.len()));
        let checks = check(&wrong, None, Some(&wire));
        assert!(!checks.commitment_matches);
        assert!(checks
            .problems
            .iter()
            .any(|p| p.contains("commitment_hash is not the hash of the Commitment")));
        assert!(check("not json", None, Some(&wire)).problems[0].contains("not JSON"));
    }
}
