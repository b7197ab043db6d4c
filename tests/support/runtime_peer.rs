//! Talking to the runtime directly, beside the control plane: agents that
//! send without it, the runtime's own view of a session's history, and a
//! TCP proxy that can cut every connection (a dropped gRPC stream).

#![allow(dead_code)]

use macp_control_plane::runtime::client::StreamItem;
use macp_control_plane::runtime::payloads::encode_payload;
use macp_control_plane::runtime::pb::Envelope;
use macp_control_plane::runtime::{Credentials, RuntimeClient, MACP_VERSION};
use macp_control_plane::store::EventStore;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The extension mode most of these tests play: JSON payloads, and a
/// session that stays open until its participants agree.
pub const MULTI_ROUND: &str = "ext.multi_round.v1";

/// A live `ext.multi_round.v1` run: initiator `coord`, participants
/// `alice` and `bob`.
pub fn multi_round_request(ttl_ms: u64) -> Value {
    serde_json::json!({"mode": "live", "runtime": {"kind": "rust"},
        "session": {"modeName": MULTI_ROUND, "modeVersion": "1.0.0",
                    "configurationVersion": "config.default", "ttlMs": ttl_ms,
                    "initiatorParticipantId": "coord",
                    "participants": [{"id": "alice"}, {"id": "bob"}]}})
}

pub fn direct_client(address: SocketAddr) -> RuntimeClient {
    RuntimeClient::connect_lazy(&address.to_string(), Credentials::Dev, None).unwrap()
}

/// Starts `session_id` straight on the runtime, as an agent that does not
/// go through the control plane would: `mode`, initiator `coord`,
/// participants `alice` and `bob`, a 60 s TTL, and `intent`.
pub async fn start_session_directly(
    client: &RuntimeClient,
    session_id: &str,
    mode: &str,
    intent: &str,
) {
    use macp_control_plane::runtime::pb::SessionStartPayload;
    use prost::Message;
    let start = SessionStartPayload {
        intent: intent.into(),
        participants: vec!["alice".into(), "bob".into()],
        mode_version: "1.0.0".into(),
        configuration_version: "config.default".into(),
        ttl_ms: 60_000,
        ..Default::default()
    };
    let envelope = Envelope {
        macp_version: MACP_VERSION.into(),
        mode: mode.into(),
        message_type: "SessionStart".into(),
        message_id: Uuid::new_v4().to_string(),
        session_id: session_id.into(),
        sender: "coord".into(),
        timestamp_unix_ms: aggregates::Timestamp::now().unix_ms(),
        payload: start.encode_to_vec(),
    };
    client.send("coord", envelope).await.expect("SessionStart");
}

/// Sends a message as `sender` straight to the runtime.
pub async fn send_direct(
    client: &RuntimeClient,
    session_id: &str,
    mode: &str,
    sender: &str,
    message_type: &str,
    payload: Value,
) {
    let envelope = Envelope {
        macp_version: MACP_VERSION.into(),
        mode: mode.into(),
        message_type: message_type.into(),
        message_id: Uuid::new_v4().to_string(),
        session_id: session_id.into(),
        sender: sender.into(),
        timestamp_unix_ms: aggregates::Timestamp::now().unix_ms(),
        payload: encode_payload(mode, message_type, Some(&payload), None, "payload")
            .unwrap()
            .bytes,
    };
    client
        .send(sender, envelope)
        .await
        .unwrap_or_else(|e| panic!("{sender} {message_type}: {e}"));
}

/// The two participants of [`multi_round_request`]'s session who
/// contribute.
const CONTRIBUTORS: [&str; 2] = ["alice", "bob"];

/// `sender` sends `Contribute {value}` straight to the runtime.
async fn contribute(client: &RuntimeClient, session_id: &str, sender: &str, value: String) {
    let payload = serde_json::json!({ "value": value });
    send_direct(
        client,
        session_id,
        MULTI_ROUND,
        sender,
        "Contribute",
        payload,
    )
    .await;
}

/// `rounds` contributions from each of alice and bob (values
/// `{sender}-{tag}-{round}`), never agreeing, so the session stays open;
/// straight to the runtime.
pub async fn contribute_rounds(client: &RuntimeClient, session_id: &str, tag: &str, rounds: usize) {
    for i in 0..rounds {
        for sender in CONTRIBUTORS {
            contribute(client, session_id, sender, format!("{sender}-{tag}-{i}")).await;
        }
    }
}

/// `alice` and `bob` each send `Contribute {value}` straight to the runtime.
pub async fn both_contribute(client: &RuntimeClient, session_id: &str, value: &str) {
    for sender in CONTRIBUTORS {
        contribute(client, session_id, sender, value.to_string()).await;
    }
}

/// The Commitment `commitment_id` that ends a multi-round session as
/// converged.
pub fn converged_commitment(commitment_id: &str) -> Value {
    serde_json::json!({"commitmentId": commitment_id, "action": "multi_round.converged",
        "authorityScope": "t", "reason": "r", "modeVersion": "1.0.0",
        "configurationVersion": "config.default", "policyVersion": "policy.default",
        "outcomePositive": true})
}

/// The message ids of every accepted envelope of the session, in order, as
/// the runtime itself replays them.
pub async fn runtime_history(
    client: &RuntimeClient,
    observer: &str,
    session_id: &str,
) -> Vec<String> {
    let mut subscription = client.subscribe(observer, session_id, 0).await.unwrap();
    let mut ids = Vec::new();
    while let Ok(Ok(Some(item))) =
        tokio::time::timeout(Duration::from_millis(500), subscription.next()).await
    {
        if let StreamItem::Envelope(envelope) = item {
            ids.push(envelope.message_id);
        }
    }
    ids
}

/// The message ids of the raw envelopes the control plane recorded, in
/// stream order, with their ordinals.
pub async fn recorded_history(store: &EventStore, run_id: Uuid) -> Vec<(u64, String)> {
    store
        .read_stream(run_id, 0)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            aggregates::RunEvent::RuntimeEnvelopeRecorded {
                ordinal, envelope, ..
            } => Some((ordinal, envelope.message_id)),
            _ => None,
        })
        .collect()
}

/// Asserts the control plane recorded exactly the runtime's history: every
/// envelope once, in order, ordinals 1..n.
pub async fn assert_recorded_exactly_once(
    client: &RuntimeClient,
    store: &EventStore,
    run_id: Uuid,
    observer: &str,
) -> usize {
    let runtime = runtime_history(client, observer, &run_id.to_string()).await;
    let recorded = recorded_history(store, run_id).await;
    let ordinals: Vec<u64> = recorded.iter().map(|(o, _)| *o).collect();
    assert_eq!(
        ordinals,
        (1..=recorded.len() as u64).collect::<Vec<_>>(),
        "ordinals are 1..n"
    );
    let recorded_ids: Vec<String> = recorded.into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        recorded_ids, runtime,
        "recorded envelopes = the runtime's history, one to one, in order"
    );
    runtime.len()
}

/// A TCP proxy to `upstream` whose connections can all be cut at once.
pub struct FaultProxy {
    pub address: SocketAddr,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let tracked = Arc::clone(&connections);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let forward = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                tracked.lock().unwrap().push(forward);
            }
        });
        FaultProxy {
            address,
            connections,
            accept,
        }
    }

    /// Drops every open connection (new ones are still accepted).
    pub fn sever(&self) -> usize {
        let mut connections = self.connections.lock().unwrap();
        let count = connections.len();
        for connection in connections.drain(..) {
            connection.abort();
        }
        count
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.sever();
    }
}
