//! What the probes cannot check, as findings rather than a stopped run: an object no
//! fixture row can be made for or whose rows map to no base, and whatever needs the
//! rows of one of those (a silent skip would be a false green).

use std::collections::BTreeSet;

use super::{Fill, Held, Rule, Subjects};
use crate::catalog::Object;
use crate::origin::Location;

/// An object the probes cannot check (no row can be made for it, no base to map it to):
/// the gate fails on it by name, at the line that made it, and still probes the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unprobed {
    /// `schema.name`, or `schema.name(types)` for a function.
    pub object: String,
    pub location: Option<Location>,
    /// Why, and what to declare.
    pub message: String,
}

impl Unprobed {
    pub(super) fn of(object: &Object<'_>, message: String) -> Unprobed {
        let location = object.history().origin().cloned();
        // The plan's messages lead with the location when they know it; it is kept
        // apart here.
        let message = match &location {
            Some(at) => message
                .strip_prefix(&format!("{at}: "))
                .map(str::to_owned)
                .unwrap_or(message),
            None => message,
        };
        Unprobed {
            object: object.qualified(),
            location,
            message,
        }
    }
}

impl Subjects {
    /// Takes out the tables in `failed` (no row could be made for them) and whatever
    /// depends on their rows: tables that point at them or sit under them, views and
    /// functions that map to them. Probes of those would pass on no rows, which proves
    /// nothing, so each is returned as unprobed, with the table it waited for.
    pub fn without(&mut self, failed: Vec<Unprobed>) -> Vec<Unprobed> {
        let mut gone: BTreeSet<String> = failed.iter().map(|u| u.object.clone()).collect();
        let mut unprobed = failed;
        let because = |base: &str| {
            format!("its rows come from {base}, for which no fixture row could be made")
        };
        // A table goes when one it needs goes, and so on down (fill order: parents first).
        let mut kept = Vec::new();
        for table in std::mem::take(&mut self.tables) {
            if gone.contains(&table.name) {
                continue;
            }
            let needs = table.fills.iter().find_map(|(_, fill)| match fill {
                Fill::Reference { target, .. } if gone.contains(target) => Some(target.clone()),
                _ => None,
            });
            let parent = match &table.rule {
                Rule::Child { parent, .. } if gone.contains(parent) => Some(parent.clone()),
                _ => None,
            };
            match needs.or(parent) {
                Some(base) => {
                    gone.insert(table.name.clone());
                    unprobed.push(Unprobed {
                        object: table.name.clone(),
                        location: table.location.clone(),
                        message: because(&base),
                    });
                }
                None => kept.push(table),
            }
        }
        self.tables = kept;
        let mut lost = |name: &str, location: &Option<Location>, bases: Vec<&str>| {
            let base = bases.into_iter().find(|b| gone.contains(*b));
            if let Some(base) = base {
                unprobed.push(Unprobed {
                    object: name.to_owned(),
                    location: location.clone(),
                    message: because(base),
                });
            }
            base.is_none()
        };
        self.views.retain(|v| {
            lost(
                &v.name,
                &v.location,
                v.mappings.iter().map(|m| m.base.as_str()).collect(),
            )
        });
        self.functions.retain(|f| match &f.held {
            Held::Derived(mapping) => lost(&f.name, &f.location, vec![mapping.base.as_str()]),
            _ => true,
        });
        unprobed
    }
}
