//! `keygate actions`: the catalog.

use keygate_core::Catalog;
use serde::Serialize;

use crate::output;

#[derive(Serialize)]
struct ActionRow<'a> {
    category: &'a str,
    action: &'a str,
    custom: bool,
}

/// Lists actions, optionally of one category.
pub fn run(catalog: &Catalog, category: Option<&str>, json: bool) -> anyhow::Result<()> {
    let category = match category {
        Some(name) => Some(catalog.find_category(name).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown category {name:?}; categories: {}",
                catalog.categories().join(", ")
            )
        })?),
        None => None,
    };
    let rows: Vec<ActionRow> = catalog
        .actions()
        .filter(|(_, a)| category.is_none_or(|c| a.category == c))
        .map(|(_, a)| ActionRow {
            category: &a.category,
            action: &a.name,
            custom: a.custom,
        })
        .collect();
    if json {
        return output::json(&rows);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![r.category.to_string(), r.action.to_string()])
        .collect();
    output::table(&["CATEGORY", "ACTION"], &table);
    if category.is_none() {
        for (alias, target) in catalog.aliases() {
            println!("alias: {alias} -> {}", target.name);
        }
    }
    Ok(())
}
