use std::sync::Mutex;

use super::*;

/// One key's record in memory, versioned like the real one.
#[derive(Default)]
struct OneKey(Mutex<Option<(Places, u64)>>);

#[async_trait]
impl ConcurrencyStore for OneKey {
    async fn places(&self, _key: &str) -> Result<Option<(Places, u64)>> {
        Ok(self.0.lock().unwrap().clone())
    }

    async fn put_places(&self, _key: &str, places: &Places, read: Option<u64>) -> Result<()> {
        let mut stored = self.0.lock().unwrap();
        if stored.as_ref().map(|(_, version)| *version) != read {
            return Err(Error::Conflict("changed".into()));
        }
        *stored = Some((places.clone(), read.unwrap_or(0) + 1));
        Ok(())
    }
}

fn limited(key: &str, limit: u32) -> Concurrency {
    Concurrency {
        key: key.into(),
        limit,
    }
}

fn waiter(task: &str) -> Waiter {
    Waiter {
        task: task.into(),
        queue: "default".into(),
    }
}

const W: &str = "worker-1";

/// Attempt `attempt` of `task` on worker `W`.
fn holder(task: &str, attempt: u32) -> Holder<'_> {
    Holder {
        task,
        attempt,
        worker: W,
    }
}

fn later(seconds: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(seconds)
}

#[tokio::test]
async fn places_are_taken_up_to_the_limit_and_the_rest_wait_in_order() {
    let store = OneKey::default();
    let key = limited("customer-42", 2);
    assert_eq!(
        take(&store, &key, (holder("a", 1), "default"), later(30))
            .await
            .unwrap(),
        Taken::Place
    );
    assert_eq!(
        take(&store, &key, (holder("b", 1), "default"), later(30))
            .await
            .unwrap(),
        Taken::Place
    );
    for task in ["c", "d", "c"] {
        let taken = take(&store, &key, (holder(task, 1), "default"), later(30))
            .await
            .unwrap();
        assert_eq!(taken, Taken::Full { held: 2 });
    }
    let (places, _) = store.places("k").await.unwrap().unwrap();
    assert_eq!(
        places.waiting,
        [waiter("c"), waiter("d")],
        "each waits once, in order"
    );
    // A stale attempt gives back nothing, but the next waiting task wakes.
    let back = |attempt| give_back(&store, "customer-42", holder("a", attempt));
    assert_eq!(back(7).await.unwrap(), Some(waiter("c")));
    assert_eq!(back(1).await.unwrap(), Some(waiter("d")));
    assert_eq!(back(1).await.unwrap(), None);
    assert_eq!(
        take(&store, &key, (holder("c", 1), "default"), later(30))
            .await
            .unwrap(),
        Taken::Place
    );
}

#[tokio::test]
async fn a_lapsed_place_is_free_again_and_cannot_be_renewed_once_taken() {
    let store = OneKey::default();
    let key = limited("k", 1);
    assert_eq!(
        take(&store, &key, (holder("dead", 1), "default"), later(-1))
            .await
            .unwrap(),
        Taken::Place
    );
    assert_eq!(
        take(&store, &key, (holder("next", 1), "default"), later(30))
            .await
            .unwrap(),
        Taken::Place
    );
    assert!(!renew(&store, "k", holder("dead", 1), later(30))
        .await
        .unwrap());
    assert!(renew(&store, "k", holder("next", 1), later(60))
        .await
        .unwrap());
    let (places, _) = store.places("k").await.unwrap().unwrap();
    assert_eq!(places.live(Utc::now()), 1);
    assert_eq!(places.held.keys().collect::<Vec<_>>(), ["next"]);
}

#[test]
fn keys_and_limits_are_checked() {
    let mut errors = Vec::new();
    for (key, limit) in [("", 1), ("k", 0), ("k", MAX_LIMIT + 1), ("a\u{7}", 2)] {
        let concurrency = Concurrency {
            key: key.into(),
            limit,
        };
        check(Some(&concurrency), &mut errors);
    }
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "concurrency.key",
            "concurrency.limit",
            "concurrency.limit",
            "concurrency.key"
        ]
    );
    check(
        Some(&Concurrency {
            key: "ok".into(),
            limit: 1,
        }),
        &mut errors,
    );
    assert_eq!(errors.len(), 4);
}

#[tokio::test]
async fn a_place_passes_on_to_the_attempt_that_was_claimed() {
    let store = OneKey::default();
    let key = limited("k", 1);
    assert_eq!(
        take(&store, &key, (holder("t", 2), "default"), later(30))
            .await
            .unwrap(),
        Taken::Place
    );
    assert!(pass_on(&store, "k", holder("t", 2), (3, later(30)))
        .await
        .unwrap());
    assert!(
        !renew(&store, "k", holder("t", 2), later(60)).await.unwrap(),
        "no longer attempt 2's"
    );
    assert!(renew(&store, "k", holder("t", 3), later(60)).await.unwrap());
    assert_eq!(give_back(&store, "k", holder("t", 3)).await.unwrap(), None);
    let (places, _) = store.places("k").await.unwrap().unwrap();
    assert!(places.held.is_empty());
}

#[tokio::test]
async fn the_waiting_list_is_bounded() {
    let store = OneKey::default();
    let key = limited("k", 1);
    take(&store, &key, (holder("holder", 1), "default"), later(30))
        .await
        .unwrap();
    for i in 0..=MAX_WAITING {
        let taken = take(
            &store,
            &key,
            (holder(&format!("w{i}"), 1), "default"),
            later(30),
        )
        .await
        .unwrap();
        assert_eq!(taken, Taken::Full { held: 1 });
    }
    let (places, _) = store.places("k").await.unwrap().unwrap();
    assert_eq!(places.waiting.len(), MAX_WAITING);
}

#[tokio::test]
async fn a_worker_never_takes_or_frees_the_place_another_holds_for_the_same_task() {
    let store = OneKey::default();
    let key = limited("k", 1);
    let mine = (holder("t", 1), "default");
    assert_eq!(
        take(&store, &key, mine, later(30)).await.unwrap(),
        Taken::Place
    );
    let other = Holder {
        task: "t",
        attempt: 1,
        worker: "worker-2",
    };
    let taken = take(&store, &key, (other, "default"), later(30))
        .await
        .unwrap();
    assert_eq!(taken, Taken::Elsewhere);
    assert_eq!(give_back(&store, "k", other).await.unwrap(), None);
    let (places, _) = store.places("k").await.unwrap().unwrap();
    assert_eq!(places.held["t"].worker, W, "still the first worker's");
}
