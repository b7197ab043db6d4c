//! Models a projector group folded recently, kept in memory between its
//! batches so that a busy run's model is not loaded and parsed from the
//! store again for every batch.
//!
//! Sound because the group holding a projector's lease is its only writer
//! and its folds are deterministic: a cached model is exactly what the
//! store holds. The cache lives as long as one `follow` call; anything that
//! moves a checkpoint under it (a rebuild's reset) ends that call or clears
//! the cache, so nothing stale outlives it.

use std::any::Any;
use std::collections::HashMap;

/// Models kept at most, across projections; past it the cache starts over
/// (a cold model is one load away).
const CAPACITY: usize = 4096;

#[derive(Default)]
pub struct ModelCache {
    models: HashMap<(&'static str, String), Box<dyn Any + Send>>,
}

impl ModelCache {
    /// Takes the model of `projection` under `key` out of the cache.
    pub fn take<M: Any + Send>(&mut self, projection: &'static str, key: &str) -> Option<M> {
        let model = self.models.remove(&(projection, key.to_string()))?;
        model.downcast::<M>().ok().map(|model| *model)
    }

    /// Keeps `model` as the current model of `projection` under `key`.
    pub fn put<M: Any + Send>(&mut self, projection: &'static str, key: String, model: M) {
        if self.models.len() >= CAPACITY {
            self.models.clear();
        }
        self.models.insert((projection, key), Box::new(model));
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
    fn a_full_cache_starts_over() {
        let mut cache = ModelCache::default();
        for i in 0..CAPACITY {
            cache.put("a", i.to_string(), i);
        }
        cache.put("a", "last".into(), 1usize);
        assert_eq!(cache.take::<usize>("a", "0"), None);
        assert_eq!(cache.take::<usize>("a", "last"), Some(1));
    }
}
