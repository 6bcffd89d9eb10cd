//! The tables seam: named keyed tables that enrichment and routing read
//! (a compacted topic is a table). A table answers point lookups by key
//! with a JSON value; [`MemoryTable`] holds one in memory, and a loader
//! (from a compacted topic, in a later change) fills it. Readers see the
//! registry [`Tables`], never how a table is filled.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::value::RawValue;

/// A keyed table of JSON values.
pub trait Table: Send + Sync + 'static {
    /// The current value for `key`, if any.
    fn get(&self, key: &str) -> Option<Arc<RawValue>>;

    /// How many keys the table holds.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A table held in memory: upserts and deletes (tombstones) by key.
#[derive(Default)]
pub struct MemoryTable {
    rows: RwLock<HashMap<String, Arc<RawValue>>>,
}

impl MemoryTable {
    /// Sets `key` to `value`, or deletes it when `value` is `None`.
    pub fn apply(&self, key: &str, value: Option<Box<RawValue>>) {
        let mut rows = self.rows.write().unwrap_or_else(|p| p.into_inner());
        match value {
            Some(v) => {
                rows.insert(key.to_owned(), Arc::from(v));
            }
            None => {
                rows.remove(key);
            }
        }
    }
}

impl Table for MemoryTable {
    fn get(&self, key: &str) -> Option<Arc<RawValue>> {
        let rows = self.rows.read().unwrap_or_else(|p| p.into_inner());
        rows.get(key).cloned()
    }

    fn len(&self) -> usize {
        self.rows.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The named tables of one process; cheap to clone.
#[derive(Clone, Default)]
pub struct Tables {
    by_name: Arc<HashMap<String, Arc<dyn Table>>>,
}

impl Tables {
    /// A registry of the given tables.
    pub fn new(tables: impl IntoIterator<Item = (String, Arc<dyn Table>)>) -> Self {
        Self {
            by_name: Arc::new(tables.into_iter().collect()),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Table>> {
        self.by_name.get(name)
    }

    /// Looks `key` up in table `name`.
    pub fn lookup(&self, name: &str, key: &str) -> Option<Arc<RawValue>> {
        self.get(name)?.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("json")
    }

    #[test]
    fn upserts_and_tombstones_by_key() {
        let products = Arc::new(MemoryTable::default());
        products.apply("sku-1", Some(json(r#"{"category":"shoes"}"#)));
        products.apply("sku-2", Some(json(r#"{"category":"hats"}"#)));
        products.apply("sku-1", Some(json(r#"{"category":"boots"}"#)));
        products.apply("sku-2", None);
        let tables = Tables::new([("products".to_owned(), products as Arc<dyn Table>)]);
        let row = tables.lookup("products", "sku-1").expect("present");
        assert_eq!(row.get(), r#"{"category":"boots"}"#);
        assert!(tables.lookup("products", "sku-2").is_none(), "tombstoned");
        assert!(tables.lookup("stores", "sku-1").is_none(), "no such table");
        assert_eq!(tables.get("products").map(|t| t.len()), Some(1));
    }
}
