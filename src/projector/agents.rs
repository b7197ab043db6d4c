//! Per-participant metrics across runs (`GET /dashboard/agents/metrics`),
//! one `read_models` document per participant.

use super::{ModelCache, Projector};
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
use async_trait::async_trait;
use projections::AgentMetrics;
use std::collections::BTreeMap;

pub const AGENT_METRICS: &str = "agent_metrics";

pub struct AgentMetricsProjector;

#[async_trait]
impl Projector for AgentMetricsProjector {
    fn name(&self) -> &'static str {
        AGENT_METRICS
    }

    fn table(&self) -> ProjectionTable {
        ProjectionTable::Documents
    }

    fn per_run(&self) -> bool {
        false
    }

    async fn project(
        &self,
        store: &EventStore,
        events: &[StoredEvent],
        cache: &mut ModelCache,
    ) -> Result<Vec<ModelWrite>, StoreError> {
        let mut agents: BTreeMap<String, AgentMetrics> = BTreeMap::new();
        for stored in events {
            let Some(event) = stored.event.canonical() else {
                continue;
            };
            let Some(participant) = AgentMetrics::participant_of(event) else {
                continue;
            };
            if !agents.contains_key(participant) {
                let cached = cache.take::<AgentMetrics>(AGENT_METRICS, participant);
                let loaded = match cached {
                    Some(agent) => agent,
                    None => match store.read_model_by_key(AGENT_METRICS, participant).await? {
                        Some(doc) => serde_json::from_str(&doc).map_err(|e| {
                            StoreError::Corrupt(format!("stored agent metrics: {e}"))
                        })?,
                        None => AgentMetrics {
                            participant_id: participant.to_string(),
                            ..Default::default()
                        },
                    },
                };
                agents.insert(participant.to_string(), loaded);
            }
            if let Some(agent) = agents.get_mut(participant) {
                agent.apply(stored.position, event);
            }
        }
        let mut writes = Vec::new();
        for (participant, agent) in agents {
            let doc = serde_json::to_string(&agent)
                .map_err(|e| StoreError::Corrupt(format!("agent metrics: {e}")))?;
            writes.push(ModelWrite::Document {
                projection: AGENT_METRICS,
                key: participant.clone(),
                doc,
                position: agent.last_position,
            });
            cache.put(AGENT_METRICS, participant, agent);
        }
        Ok(writes)
    }
}
