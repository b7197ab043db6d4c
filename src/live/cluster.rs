//! Hearing the other instances that share a PostgreSQL store: LISTEN for
//! their appends (to wake this instance's projectors, if it holds them) and
//! for the runs whose canonical events were indexed (to wake the live feeds
//! of this instance's SSE subscribers).

use super::LiveHub;
use crate::store::{EventStore, APPENDED_CHANNEL, INDEXED_CHANNEL};
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub fn spawn_listener(store: EventStore, live: LiveHub) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(error) = listen(&store, &live).await {
                tracing::warn!(%error, "listening to other instances failed; retrying");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Whatever was announced while not listening: look again.
            store.appended().notify_waiters();
            live.advance_all();
        }
    })
}

async fn listen(store: &EventStore, live: &LiveHub) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(store.url()).await?;
    listener
        .listen_all([APPENDED_CHANNEL, INDEXED_CHANNEL])
        .await?;
    loop {
        let notification = listener.recv().await?;
        if notification.channel() == APPENDED_CHANNEL {
            store.appended().notify_waiters();
            continue;
        }
        for run_id in notification
            .payload()
            .split(',')
            .filter_map(|id| Uuid::parse_str(id).ok())
        {
            live.advance(run_id);
        }
    }
}
