//! A run's stream read through postgres-es: its `PostgresEventRepository`
//! over our `events` table (which has its layout), for the write side's
//! load on PostgreSQL.
//!
//! postgres-es reads with a native PostgreSQL pool (not sqlx's `Any`), so
//! this keeps a small one of its own. Appends stay ours: postgres-es
//! inserts one row per statement, our store many.

use super::log::parse_schema_version;
use super::StoreError;
use aggregates::{RunEvent, RunState};
use cqrs_es::persist::PersistedEventRepository;
use postgres_es::PostgresEventRepository;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;
use uuid::Uuid;

/// Connections of the loader's pool: loads are one short read per run not
/// in the repository's cache.
const LOADER_CONNECTIONS: u32 = 4;

pub(crate) struct AggregateRepository {
    events: PostgresEventRepository,
}

impl AggregateRepository {
    /// Connects to the PostgreSQL database at `database_url`, whose
    /// migrations the store has applied.
    pub(crate) async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(LOADER_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect(database_url)
            .await?;
        Ok(AggregateRepository {
            events: PostgresEventRepository::new(pool),
        })
    }

    /// The run's events after `after_version` with their versions, each
    /// upcast and loaded as our store loads it.
    pub(crate) async fn events_after(
        &self,
        run_id: Uuid,
        after_version: u64,
    ) -> Result<Vec<(u64, RunEvent)>, StoreError> {
        let after = usize::try_from(after_version)
            .map_err(|_| StoreError::Corrupt("stream version overflow".into()))?;
        let rows = self
            .events
            .get_last_events::<RunState>(&run_id.to_string(), after)
            .await?;
        rows.into_iter()
            .map(|row| {
                let event = RunEvent::from_stored(
                    &row.event_type,
                    parse_schema_version(&row.event_version),
                    row.payload,
                )?;
                Ok((row.sequence as u64, event))
            })
            .collect()
    }
}
