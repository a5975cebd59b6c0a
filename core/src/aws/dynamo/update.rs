//! The update expression of a conditional replace (`UpdateItem`).

use std::collections::HashMap;

use super::{Item, KEY};

/// An update expression turning one task item into the next: it sets the
/// attributes whose value changes and removes those the next lacks, so a
/// claim or a renewal sends only what it changes. With its placeholders.
pub(super) struct Update {
    pub(super) expression: String,
    pub(super) names: HashMap<String, String>,
    pub(super) values: Item,
}

impl Update {
    pub(super) fn between(before: &Item, after: &Item) -> Update {
        let removed: Vec<String> = before
            .keys()
            .filter(|name| *name != KEY && !after.contains_key(*name))
            .cloned()
            .collect();
        let mut names = HashMap::from([
            ("#version".to_owned(), "version".to_owned()),
            ("#task".to_owned(), "task".to_owned()),
        ]);
        let mut values = HashMap::new();
        let mut set = Vec::new();
        let changed = after
            .iter()
            .filter(|(name, value)| before.get(*name) != Some(*value));
        for (i, (name, value)) in changed.enumerate() {
            set.push(format!("#a{i} = :a{i}"));
            values.insert(format!(":a{i}"), value.clone());
            names.insert(format!("#a{i}"), name.clone());
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !removed.is_empty() {
            let placeholders: Vec<String> = (0..removed.len()).map(|i| format!("#r{i}")).collect();
            expression.push_str(&format!(" REMOVE {}", placeholders.join(", ")));
            for (placeholder, name) in placeholders.into_iter().zip(removed) {
                names.insert(placeholder, name);
            }
        }
        Update {
            expression,
            names,
            values,
        }
    }
}
