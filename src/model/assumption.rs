//! What the model and its probes read of the schema, checked against the catalog before
//! any probe runs. A migration that renames or drops one of these breaks the harness's
//! reading, not the access model: it is reported as a schema error naming the object,
//! the column and the checks that read it, never as an invariant the policies broke.

use crate::catalog::Catalog;
use crate::config::Tenancy;

/// One thing the harness reads: an object, a column of it (or the object itself), and
/// the checks that read it.
struct Assumption {
    object: String,
    column: Option<&'static str>,
    readers: &'static str,
}

fn all(tenancy: &Tenancy) -> Vec<Assumption> {
    let mut needs = Vec::new();
    let mut need = |object: &str, columns: &[&'static str], readers: &'static str| {
        needs.push(Assumption {
            object: object.to_owned(),
            column: None,
            readers,
        });
        for column in columns {
            needs.push(Assumption {
                object: object.to_owned(),
                column: Some(column),
                readers,
            });
        }
    };
    need(
        &tenancy.tenants,
        &["id", "slug", "name", "type", "subscription_tier"],
        "the generated worlds and every tenancy check",
    );
    need(
        &tenancy.memberships,
        &["user_id", "tenant_id", "role"],
        "the generated worlds and the membership checks",
    );
    need(
        &tenancy.platform_roles,
        &["user_id", "role"],
        "the generated worlds and the platform-admin checks",
    );
    for table in super::Table::ALL {
        need(
            &format!("public.{}", table.name()),
            &[
                "id",
                "tenant_id",
                "name",
                "sharing_mode",
                "is_shared",
                "shared_with",
                "resource_type",
            ],
            "the resource reads and writes",
        );
    }
    need(
        "public.prompts",
        &["content"],
        "the generated worlds (a prompt needs its content)",
    );
    need(
        "public.resource_sharing_audit",
        &[
            "id",
            "table_name",
            "resource_id",
            "action",
            "actor_id",
            "tenant_id",
        ],
        "the audit-trail checks",
    );
    need(
        "public.mv_platform_shared_resources",
        &["resource_table", "id"],
        "the derived-containment checks of the shared view",
    );
    let mut functions = vec![
        (
            format!("{}(uuid)", tenancy.context_function),
            "every check made in a tenant context",
        ),
        (
            "public.grant_platform_admin(uuid)".to_owned(),
            "the no-escalation checks",
        ),
        (
            "public.assign_user_to_dh_startup(uuid, text)".to_owned(),
            "the membership checks",
        ),
    ];
    for table in super::Table::ALL {
        functions.push((
            format!("public.get_accessible_{}(uuid)", table.name()),
            "the function-guard and derived-containment checks",
        ));
    }
    for (function, readers) in functions {
        needs.push(Assumption {
            object: function,
            column: None,
            readers,
        });
    }
    needs
}

/// What the schema lacks of what the harness reads, one sentence each.
pub fn unmet(catalog: &Catalog, tenancy: &Tenancy) -> Vec<String> {
    let mut missing = Vec::new();
    for need in all(tenancy) {
        let short = need.object.strip_prefix("public.").unwrap_or(&need.object);
        match (catalog.relation(&need.object), need.column) {
            (Some(relation), Some(column)) if relation.column(column).is_none() => {
                missing.push(format!(
                    "{short} has no column {column}, which {} read",
                    need.readers
                ));
            }
            (Some(_), _) => {}
            (None, None) if catalog.function(&need.object).is_some() => {}
            (None, None) => {
                missing.push(format!("there is no {short}, which {} read", need.readers))
            }
            // The object itself is reported once, not once per column.
            (None, Some(_)) => {}
        }
    }
    missing
}
