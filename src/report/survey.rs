//! The survey for people: every object the API roles reach with its class and what
//! checks it, then every lint finding with its migration line and remedy (or the reason
//! the config allows it).

use std::fmt::Write;

use crate::record::{Item, Kind, SurveyRecord};

/// The objects the API roles reach, each with its class and what checks it, then the
/// lint findings among `items`, each with its migration line and remedy.
pub fn survey(survey: &SurveyRecord, items: &[Item]) -> String {
    let mut out = String::new();
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut unclassified = 0;
    for object in &survey.objects {
        match &object.class {
            // A class's name is its first word: `tenant (by clinic_id)`.
            Some(class) => {
                *counts
                    .entry(class.split([' ', '(']).next().unwrap_or(class))
                    .or_default() += 1
            }
            None => unclassified += 1,
        }
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(class, n)| format!("{n} {class}"))
        .collect();
    let _ = writeln!(
        out,
        "\nobjects the API roles reach ({}; {unclassified} unclassified)",
        summary.join(", ")
    );
    let width = survey
        .objects
        .iter()
        .map(|o| o.name.chars().count())
        .max()
        .unwrap_or(0);
    for object in &survey.objects {
        let name = &object.name;
        match (&object.class, &object.source) {
            (Some(class), source) => {
                let _ = writeln!(
                    out,
                    "  {:<17} {name:<width$}  {class} ({})",
                    object.kind,
                    source.as_deref().unwrap_or_default()
                );
                let _ = writeln!(
                    out,
                    "  {:<17} {:<width$}  checked by {}",
                    "", "", object.checked_by
                );
            }
            (None, _) => {
                let _ = writeln!(
                    out,
                    "  {:<17} {name:<width$}  UNCLASSIFIED: fits no class and is declared nowhere",
                    object.kind
                );
            }
        }
    }
    let _ = writeln!(out, "\nlints");
    let findings: Vec<&Item> = items.iter().filter(|i| i.kind == Kind::Lint).collect();
    if findings.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for item in findings {
        let Some(lint) = &item.lint else { continue };
        let status = match (lint.level.as_str(), &lint.allowed) {
            (_, Some(_)) => "allowed",
            ("error", None) => "ERROR",
            (level, None) => level,
        };
        let place = item.location.as_ref().map_or_else(
            || "(not made by a migration)".to_owned(),
            ToString::to_string,
        );
        let _ = writeln!(
            out,
            "  {status:<7} {} {place}: {}",
            item.rule.as_deref().unwrap_or_default(),
            item.message.as_deref().unwrap_or_default()
        );
        match (&lint.allowed, &lint.remedy) {
            (Some(reason), _) => {
                let _ = writeln!(out, "          allowed in the config: {reason}");
            }
            (None, Some(remedy)) => {
                let _ = writeln!(out, "          {remedy}");
            }
            (None, None) => {}
        }
    }
    out
}

/// Whether the survey's findings let the gate pass.
pub(super) fn passed(items: &[Item]) -> bool {
    items
        .iter()
        .filter(|i| i.kind == Kind::Lint)
        .all(|i| !i.outcome.fails())
}
