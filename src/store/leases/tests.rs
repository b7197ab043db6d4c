//! Tests of a lease's life in a store: taken, refused to another owner
//! while it lasts, renewed, released, taken once expired, and taken or
//! renewed in bursts.

use super::Lease;
use crate::store::EventStore;
use std::time::Duration;

async fn fresh_store(dir: &tempfile::TempDir) -> EventStore {
    let path = dir.path().join("leases.db");
    EventStore::open(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("opens a fresh store")
}

async fn holder(store: &EventStore, name: &str) -> Option<String> {
    let holder = store.lease_holder(name).await.expect("reads the lease");
    holder.map(|(owner, _)| owner)
}

#[tokio::test]
async fn one_owner_at_a_time_holds_a_lease_until_it_releases_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = fresh_store(&dir).await;
    let ttl = Duration::from_secs(60);
    let mine = Lease::new("role", "a", ttl);
    let theirs = Lease::new("role", "b", ttl);

    assert!(mine.try_take(&store).await.expect("takes a free lease"));
    assert!(mine.try_take(&store).await.expect("renews its own lease"));
    assert!(!theirs.try_take(&store).await.expect("is refused"));
    assert_eq!(holder(&store, "role").await.as_deref(), Some("a"));

    theirs
        .release(&store)
        .await
        .expect("releases nothing of a's");
    assert_eq!(holder(&store, "role").await.as_deref(), Some("a"));
    mine.release(&store).await.expect("releases");
    assert_eq!(holder(&store, "role").await, None);
    assert!(theirs
        .try_take(&store)
        .await
        .expect("takes a released lease"));
    assert_eq!(holder(&store, "role").await.as_deref(), Some("b"));
}

#[tokio::test]
async fn an_expired_lease_goes_to_the_next_owner_that_asks() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = fresh_store(&dir).await;
    let ttl = Duration::from_millis(10);
    let mine = Lease::new("role", "a", ttl);
    let theirs = Lease::new("role", "b", ttl);

    assert!(mine.try_take_at(&store, 1_000).await.expect("takes"));
    assert!(!theirs
        .try_take_at(&store, 1_005)
        .await
        .expect("not expired"));
    assert!(theirs.try_take_at(&store, 2_000).await.expect("expired"));
    let (owner, until) = store
        .lease_holder("role")
        .await
        .expect("reads the lease")
        .expect("a holder");
    assert_eq!((owner.as_str(), until), ("b", 2_010));
}

#[tokio::test]
async fn a_burst_of_leases_is_taken_and_renewed_together() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = fresh_store(&dir).await;
    let ttl = Duration::from_secs(60);
    assert!(Lease::new("run:held", "b", ttl)
        .try_take(&store)
        .await
        .expect("b takes one"));

    let burst: Vec<Lease> = ["run:1", "run:2", "run:held", "other"]
        .into_iter()
        .map(|name| Lease::new(name, "a", ttl))
        .collect();
    let mut taken: Vec<String> = Lease::try_take_all(&store, &burst)
        .await
        .expect("takes the burst")
        .into_iter()
        .collect();
    taken.sort();
    assert_eq!(taken, ["other", "run:1", "run:2"]);

    let mut renewed = Lease::renew_all(&store, "a", "run:", ttl)
        .await
        .expect("renews a's run leases");
    renewed.sort();
    assert_eq!(renewed, ["run:1", "run:2"]);
}
