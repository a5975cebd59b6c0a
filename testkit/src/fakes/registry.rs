//! Registered functions in memory, by name.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use wharf_core::registry::{Function, Registry};
use wharf_core::Result;

#[derive(Default)]
pub struct MemoryRegistry {
    functions: Mutex<BTreeMap<String, Function>>,
}

#[async_trait]
impl Registry for MemoryRegistry {
    async fn put(&self, function: &Function) -> Result<()> {
        let mut functions = self.functions.lock().unwrap();
        functions.insert(function.name.clone(), function.clone());
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<Function>> {
        Ok(self.functions.lock().unwrap().get(name).cloned())
    }

    async fn delete(&self, name: &str) -> Result<bool> {
        Ok(self.functions.lock().unwrap().remove(name).is_some())
    }

    async fn list(&self) -> Result<Vec<Function>> {
        Ok(self.functions.lock().unwrap().values().cloned().collect())
    }
}
