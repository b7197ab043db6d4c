//! Tests of how a batch folds repeated writes.

use super::last_per_key;

#[test]
fn only_the_last_item_of_each_key_is_kept() {
    let items = vec![("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
    assert_eq!(
        last_per_key(items, |(key, _)| *key),
        vec![("a", 3), ("c", 4), ("b", 5)]
    );
}
