//! Models a projector group folded recently, kept in memory between its
//! batches so that a busy run's model is not loaded and parsed from the
//! store again for every batch.
//!
//! Sound because the group holding a projector's lease is its only writer
//! and its folds are deterministic: a cached model is exactly what the
//! store holds. The cache lives as long as one `follow` call; anything that
//! moves a checkpoint under it (a rebuild's reset) ends that call or clears
//! the cache, so nothing stale outlives it.
//!
//! Past its capacity the least recently folded model goes (the `lru`
//! crate). It used to start over when full, which with about eight models
//! per run thrashed once some 512 runs were busy at once: every batch then
//! loaded and parsed every model again.

use lru::LruCache;
use std::any::Any;
use std::num::NonZeroUsize;

/// Models kept at most, across projections: every model of 4,096 busy runs
/// (a run has at most eight per-run models).
const CAPACITY: NonZeroUsize = match NonZeroUsize::new(8 * 4096) {
    Some(capacity) => capacity,
    None => panic!("the capacity is not zero"),
};

pub struct ModelCache {
    models: LruCache<(&'static str, String), Box<dyn Any + Send>>,
}

impl Default for ModelCache {
    fn default() -> Self {
        ModelCache::with_capacity(CAPACITY)
    }
}

impl ModelCache {
    fn with_capacity(capacity: NonZeroUsize) -> Self {
        ModelCache {
            models: LruCache::new(capacity),
        }
    }

    /// Takes the model of `projection` under `key` out of the cache.
    pub fn take<M: Any + Send>(&mut self, projection: &'static str, key: &str) -> Option<M> {
        let model = self.models.pop(&(projection, key.to_string()))?;
        model.downcast::<M>().ok().map(|model| *model)
    }

    /// Keeps `model` as the current model of `projection` under `key`,
    /// forgetting the least recently kept model if the cache is full.
    pub fn put<M: Any + Send>(&mut self, projection: &'static str, key: String, model: M) {
        self.models.put((projection, key), Box::new(model));
    }

    pub fn clear(&mut self) {
        self.models.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_comes_back_once_and_only_as_its_own_type() {
        let mut cache = ModelCache::default();
        cache.put("a", "run-1".into(), 7u32);
        assert_eq!(cache.take::<String>("a", "run-1"), None);
        cache.put("a", "run-1".into(), 7u32);
        assert_eq!(cache.take::<u32>("b", "run-1"), None);
        assert_eq!(cache.take::<u32>("a", "run-1"), Some(7));
        assert_eq!(cache.take::<u32>("a", "run-1"), None);
    }

    #[test]
    fn a_full_cache_forgets_the_least_recently_kept_model_only() {
        let mut cache = ModelCache::with_capacity(NonZeroUsize::MIN.saturating_add(2));
        for i in 0..3usize {
            cache.put("a", i.to_string(), i);
        }
        // Folded again: now the most recent.
        let zero = cache.take::<usize>("a", "0");
        cache.put("a", "0".into(), zero.unwrap_or_default());
        cache.put("a", "last".into(), 3usize);
        assert_eq!(cache.take::<usize>("a", "1"), None);
        assert_eq!(cache.take::<usize>("a", "0"), Some(0));
        assert_eq!(cache.take::<usize>("a", "2"), Some(2));
        assert_eq!(cache.take::<usize>("a", "last"), Some(3));
    }
}
