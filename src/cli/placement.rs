//! The placement flags `skiff service deploy` and `skiff task run` share.

use clap::Args;
use serde_json::{json, Map, Value};

#[derive(Args)]
pub struct PlacementFlags {
    /// Where copies go: spread (default), spread:ATTRIBUTE, binpack or random.
    #[arg(long)]
    placement_strategy: Option<String>,
    /// A placement constraint, repeatable: distinct-node, or member-of
    /// "attribute:NAME == VALUE" (also !=, in [A, B], not_in [A, B]).
    #[arg(long = "placement-constraint")]
    placement_constraints: Vec<String>,
}

impl PlacementFlags {
    /// Sets the request body's `placement` fields the flags give.
    pub fn apply(self, body: &mut Map<String, Value>) {
        if let Some(strategy) = self.placement_strategy {
            body.entry("placement").or_insert_with(|| json!({}))["strategy"] = strategy.into();
        }
        if !self.placement_constraints.is_empty() {
            body.entry("placement").or_insert_with(|| json!({}))["constraints"] = self.placement_constraints.into();
        }
    }
}
