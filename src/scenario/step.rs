//! One step of a scenario file checked: what it does (SQL as a principal, or a
//! migration the owner applies), its one expectation, and the control that keeps a
//! negative step from passing vacuously. Each mistake is located at its key.

use std::ops::Range;

use toml::Spanned;

use super::load::{placeholders_in, unknown_placeholder, Codes, RawStep, DENIALS};
use super::{Control, Expectation, ScenarioError};
use crate::actor::Denial;
use crate::located::{unknown, Reader};
use crate::rule::Invariant;

impl Reader<'_> {
    /// What a step does: its SQL as a principal, or a migration applied as the owner;
    /// and who acts (`as`, the owner for a migration).
    #[allow(clippy::type_complexity)]
    pub(super) fn action(
        &self,
        span: Range<usize>,
        step: &RawStep,
    ) -> Result<(Spanned<String>, Option<String>, Spanned<String>), ScenarioError> {
        match (&step.sql, &step.apply, &step.who) {
            (Some(_), Some(apply), _) => Err(self.at(
                apply,
                "a step either sends sql or applies a migration, not both",
            )),
            (None, None, _) => Err(self.error(
                span.start,
                "the step has neither sql nor apply: give the statement a principal sends, or \
                 apply = \"<migration version>\"",
            )),
            (Some(_), None, None) => Err(self.error(
                span.start,
                "the step has no `as`: say who sends it (anon, service_role, owner or a user)",
            )),
            (Some(sql), None, Some(who)) => Ok((sql.clone(), None, who.clone())),
            (None, Some(apply), who) => {
                if let Some(who) = who.as_ref().filter(|w| w.get_ref() != "owner") {
                    return Err(self.at(
                        who,
                        "migrations are applied by the owner: leave `as` out or say \"owner\"",
                    ));
                }
                if step.context.is_some() || !step.headers.is_empty() || step.transaction {
                    return Err(self.at(
                        apply,
                        "a migration is no request: it takes no context, headers or transaction",
                    ));
                }
                let owner = Spanned::new(apply.span(), "owner".to_owned());
                let sql = Spanned::new(apply.span(), String::new());
                Ok((sql, Some(apply.get_ref().clone()), owner))
            }
        }
    }

    pub(super) fn invariant(&self, name: &Spanned<String>) -> Result<Invariant, ScenarioError> {
        name.get_ref().parse().map_err(|()| {
            self.at(
                name,
                unknown("invariant", name.get_ref(), &Invariant::names()),
            )
        })
    }

    pub(super) fn expectation(
        &self,
        span: Range<usize>,
        step: &RawStep,
        placeholders: &[String],
    ) -> Result<Expectation, ScenarioError> {
        let given: Vec<&str> = [
            ("rows", step.rows.is_some()),
            ("count", step.count.is_some()),
            ("affected", step.affected.is_some()),
            ("denied", step.denied.is_some()),
            ("sqlstate", step.sqlstate.is_some()),
            ("notice", step.notice.is_some()),
            ("snapshot", step.snapshot.is_some()),
            ("nothing", step.nothing.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, present)| present.then_some(key))
        .collect();
        match given.as_slice() {
            [] => {
                return Err(self.error(span.start, "the step has no expectation: give one of rows, count, affected, denied, sqlstate, notice, snapshot or nothing"));
            }
            [_] => {}
            several => {
                return Err(self.error(
                    span.start,
                    format!(
                        "the step has {} expectations ({}); give exactly one",
                        several.len(),
                        several.join(", ")
                    ),
                ));
            }
        }
        if step.unordered && step.rows.is_none() {
            return Err(self.error(span.start, "unordered applies to rows only"));
        }
        Ok(if let Some(rows) = &step.rows {
            let mut expected = Vec::new();
            for row in rows.get_ref() {
                let mut values = Vec::new();
                for value in row {
                    let text = match value {
                        toml::Value::String(text) => text.clone(),
                        toml::Value::Integer(number) => number.to_string(),
                        toml::Value::Float(number) => number.to_string(),
                        toml::Value::Boolean(flag) => if *flag { "t" } else { "f" }.to_owned(),
                        other => {
                            return Err(self.at(
                                rows,
                                format!(
                                    "row values are strings, numbers or booleans, not {}",
                                    other.type_str()
                                ),
                            ));
                        }
                    };
                    for placeholder in placeholders_in(&text) {
                        if !placeholders.contains(&format!("${{{placeholder}}}")) {
                            return Err(
                                self.at(rows, unknown_placeholder(placeholder, placeholders))
                            );
                        }
                    }
                    values.push(text);
                }
                expected.push(values);
            }
            Expectation::Rows {
                rows: expected,
                ordered: !step.unordered,
            }
        } else if let Some(count) = step.count {
            Expectation::Count(count)
        } else if let Some(affected) = step.affected {
            Expectation::Affected(affected)
        } else if let Some(kind) = &step.denied {
            match kind.get_ref().as_str() {
                "policy" => Expectation::Denied(Denial::Policy),
                "privilege" => Expectation::Denied(Denial::Privilege),
                "guard" => Expectation::Denied(Denial::Guard),
                "any" => Expectation::Refused,
                other => return Err(self.at(kind, unknown("denial", other, &DENIALS))),
            }
        } else if let Some(codes) = &step.sqlstate {
            let list = match codes.get_ref() {
                Codes::One(code) => vec![code.clone()],
                Codes::Any(list) => list.clone(),
            };
            if list.is_empty() {
                return Err(self.at(codes, "give at least one SQLSTATE".to_owned()));
            }
            if let Some(text) = list.iter().find(|text| {
                text.len() != 5
                    || !text
                        .chars()
                        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            }) {
                return Err(self.at(
                    codes,
                    format!("\"{text}\" is not a SQLSTATE (five digits or capitals, like 23505)"),
                ));
            }
            // In a list, 42501 stands for a denial of any kind beside another outcome.
            if list == ["42501"] {
                return Err(self.at(
                    codes,
                    "for 42501 say which denial: denied = \"policy\", \"privilege\" or \"guard\"",
                ));
            }
            Expectation::SqlState(list)
        } else if let Some(text) = &step.notice {
            Expectation::Notice(text.clone())
        } else if let Some(nothing) = &step.nothing {
            if !nothing.get_ref() {
                return Err(self.at(
                    nothing,
                    "nothing = false expects nothing in particular: remove it, or give rows, count or affected",
                ));
            }
            Expectation::Nothing
        } else {
            let name = step.snapshot.as_ref().expect("one expectation is present");
            let valid = !name.get_ref().is_empty()
                && name
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid {
                return Err(self.at(
                    name,
                    "snapshot names use lowercase letters, digits, - and _",
                ));
            }
            Expectation::Snapshot(name.get_ref().clone())
        })
    }

    pub(super) fn control(
        &self,
        span: Range<usize>,
        step: &RawStep,
        expect: &Expectation,
        users: &[&str],
        find_tenant: &dyn Fn(&Spanned<String>) -> Result<uuid::Uuid, ScenarioError>,
    ) -> Result<Option<Control>, ScenarioError> {
        let asked =
            step.control.is_some() || step.control_context.is_some() || step.no_control.is_some();
        if !expect.is_negative() {
            return if asked {
                Err(self.error(
                    span.start,
                    "control and no_control apply only to steps that expect no rows or a denial",
                ))
            } else {
                Ok(None)
            };
        }
        if let Some(reason) = &step.no_control {
            if step.control.is_some() {
                return Err(self.error(span.start, "give either control or no_control, not both"));
            }
            if reason.trim().is_empty() {
                return Err(self.error(span.start, "no_control needs a reason"));
            }
            return Ok(Some(Control::Waived(reason.clone())));
        }
        match &step.control {
            None if step.control_context.is_some() => {
                Err(self.error(span.start, "control_context needs a control user"))
            }
            Some(name) if ["service_role", "owner"].contains(&name.get_ref().as_str()) => {
                if let Some(context) = &step.control_context {
                    return Err(self.at(
                        context,
                        format!(
                            "control_context is a control user's tenant context, and {} has none",
                            name.get_ref()
                        ),
                    ));
                }
                match name.get_ref().as_str() {
                    "owner" => Ok(Some(Control::Owner)),
                    _ => Ok(Some(Control::ServiceRole)),
                }
            }
            None => Ok(Some(Control::ServiceRole)),
            Some(name) if users.contains(&name.get_ref().as_str()) => {
                let context = step
                    .control_context
                    .as_ref()
                    .map(|slug| find_tenant(slug).map(|id| (slug.get_ref().clone(), id)))
                    .transpose()?;
                Ok(Some(Control::User {
                    name: name.get_ref().clone(),
                    context,
                }))
            }
            Some(name) => {
                let known: Vec<&str> = ["service_role", "owner"]
                    .into_iter()
                    .chain(users.iter().copied())
                    .collect();
                Err(self.at(name, unknown("control user", name.get_ref(), &known)))
            }
        }
    }

    /// The step's SQL as PostgREST sends a write with the `Prefer` header `prefer`:
    /// `return=representation` (supabase-js's `.insert(...).select()`) returns the
    /// written rows, so the SELECT policy must admit them too, and the harness adds the
    /// `RETURNING *` PostgREST adds; `return=minimal` returns nothing. A `resolution`
    /// is PostgREST's `ON CONFLICT`, which the step's INSERT must say itself.
    pub(super) fn preferred(
        &self,
        prefer: &Spanned<String>,
        sql: String,
    ) -> Result<String, ScenarioError> {
        let Some(form) = crate::script::write_form(&sql) else {
            return Err(self.at(
                prefer,
                "prefer is for a write: the step's SQL must be one INSERT, UPDATE or DELETE",
            ));
        };
        // Up to the last token: a trailing `-- comment` would swallow a RETURNING.
        let mut sent = crate::script::up_to_last_token(&sql).to_owned();
        for preference in prefer.get_ref().split(',').map(str::trim) {
            match preference {
                "return=representation" if !form.returns_rows => sent.push_str(" returning *"),
                "return=representation" => {}
                "return=minimal" if form.returns_rows => {
                    return Err(self.at(
                        prefer,
                        "return=minimal returns no rows, and the SQL has a RETURNING: drop one",
                    ))
                }
                "return=minimal" => {}
                "resolution=merge-duplicates" | "resolution=ignore-duplicates" => {
                    let wanted = if preference.ends_with("merge-duplicates") {
                        "DO UPDATE"
                    } else {
                        "DO NOTHING"
                    };
                    if form.on_conflict != Some(wanted) {
                        return Err(self.at(
                            prefer,
                            format!(
                                "{preference} is PostgREST's INSERT ... ON CONFLICT ... {wanted}: \
                                 write that clause in the step's SQL"
                            ),
                        ));
                    }
                }
                other => {
                    return Err(self.at(
                        prefer,
                        format!(
                            "unknown preference \"{other}\": a step sends return=minimal or \
                             return=representation, and resolution=merge-duplicates or \
                             resolution=ignore-duplicates"
                        ),
                    ))
                }
            }
        }
        Ok(sent)
    }
}
