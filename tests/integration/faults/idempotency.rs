//! 100 concurrent `POST /runs` with one idempotency key make one run.

use super::*;

async fn one_run_for_one_key(engine: Engine) {
    const REQUESTS: usize = 100;
    let db = TestDb::new(engine).await;
    let service = db.start().await;
    let mut request = decision_request();
    let key = format!("key-{}", Uuid::new_v4());
    request["execution"]["idempotencyKey"] = json!(key);
    let answers = futures::future::join_all((0..REQUESTS).map(|_| {
        let (client, request) = (&service.client, &request);
        async move { client.post("/runs", request).await.unwrap() }
    }))
    .await;
    let created = answers.iter().filter(|(status, _)| *status == 202).count();
    let repeated = answers.iter().filter(|(status, _)| *status == 200).count();
    let run_ids: HashSet<&str> = answers
        .iter()
        .filter_map(|(_, body)| body["runId"].as_str())
        .collect();
    let store = db.store().await;
    let recorded = store.count_events("RunRequested").await.unwrap();
    report(
        "same idempotency key",
        format!(
            "{engine:?}: {REQUESTS} concurrent requests → {created} created, {repeated} answered \
             with it, {} run ids, {recorded} runs recorded",
            run_ids.len()
        ),
    );
    assert_eq!((created, repeated), (1, REQUESTS - 1), "{answers:?}");
    assert_eq!(run_ids.len(), 1);
    assert_eq!(recorded, 1);
}

on_both_engines!(a_hundred_concurrent_requests_with_one_key_make_one_run => one_run_for_one_key);
