//! The schema as the checks see it, in one place: the profile in use (with the SQL it
//! writes), PostgREST in front of the schema, the rows the migrations seeded, read from
//! the template, and the objects beyond the model. Every other module gets what it
//! knows of the schema from here, as data.

use uuid::Uuid;

use crate::actor::{Api, ContextApi};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::connection::qualified_ident;
use crate::error::{Error, Result};
use crate::harness::{Harness, Template};
use crate::model::World;
use crate::profile::{callable, Profile, Sql};
use crate::subject::{Subjects, Unprobed};

/// What the checks know of the migrated schema.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The profile in use and the SQL it writes; `None` without a profile.
    pub sql: Option<Sql>,
    /// PostgREST in front of the schema: how each request is made.
    pub api: Api,
    /// The world the migrations left: the seeded tenants, users, resources and audit
    /// rows, as the model sees them (empty without a profile).
    pub seeded: World,
    /// The objects the model does not name, which the generic probes check.
    pub subjects: Subjects,
    /// Tables no fixture row could be made for in the seeded world, and what needed
    /// their rows: taken out of `subjects`, failed by name, never silently skipped.
    pub unprobed: Vec<Unprobed>,
}

impl Schema {
    /// Reads the seeded rows from a leased clone of `template`, through the profile of
    /// `config`.
    pub async fn read(harness: &Harness, template: &Template, config: &Config) -> Result<Schema> {
        let lease = harness.lease(template).await?;
        let owner = lease.owner().await?;
        let catalog = &template.catalog;
        let seeded = match &config.profile {
            Some(profile) => crate::profile::read_seed(&owner, profile).await?,
            None => World::default(),
        };
        let mut schema = Schema {
            sql: config.profile.as_ref().map(|p| Sql::new(p, catalog)),
            api: api(catalog, config.profile.as_ref()),
            seeded,
            subjects: subjects(catalog, config),
            unprobed: Vec::new(),
        };
        let failed = crate::subject::try_fill(
            &owner,
            &schema.subjects,
            schema.tenants_table(),
            &schema.seeded,
        )
        .await?;
        schema.unprobed = schema.subjects.without(failed);
        Ok(schema)
    }

    /// The profile in use, if any.
    pub fn profile(&self) -> Option<&Profile> {
        self.sql.as_ref().map(Sql::profile)
    }

    /// The SQL of the profile, or why `what` needs a profile.
    pub fn sql_for(&self, what: &str) -> Result<&Sql> {
        self.sql.as_ref().ok_or_else(|| Error::Config {
            name: what.into(),
            message: "the config has no [profile], and the model needs the schema's tenants \
                      and memberships tables at least (README.md, \"The profile\")"
                .into(),
        })
    }

    /// The tenants table and its key; empty names without a profile (then no table
    /// is a tenant table, and nothing reads it).
    pub fn tenants_table(&self) -> crate::subject::Tenants<'_> {
        match self.profile() {
            Some(p) => crate::subject::Tenants {
                table: &p.tenants.table.name,
                key: &p.tenants.key.name,
            },
            None => crate::subject::Tenants { table: "", key: "" },
        }
    }

    /// The seeded tenants by slug, which scenario files use without declaring them.
    pub fn seeded_tenants(&self) -> Vec<(String, Uuid)> {
        self.seeded
            .tenants
            .iter()
            .map(|t| (t.slug.clone(), t.id))
            .collect()
    }
}

/// The objects of `catalog` the model does not name that the probes can check; the
/// survey reports the others (`unprobed-object`).
pub fn subjects(catalog: &Catalog, config: &Config) -> Subjects {
    let classes = crate::class::classify(catalog, config);
    crate::subject::plan(catalog, &classes, config).0
}

/// PostgREST as Supabase configures it in front of `catalog`: the `public` and
/// `extensions` schemas on the search path, the profile's pre-request function and
/// context header, the API roles' own settings, and the volatility of every function
/// the API exposes.
fn api(catalog: &Catalog, profile: Option<&Profile>) -> Api {
    let context = profile.and_then(|p| p.context.as_ref());
    Api {
        search_path: "public, extensions".into(),
        pre_request: context
            .and_then(|c| c.pre_request.as_ref())
            .map(|p| qualified_ident(callable(&p.name))),
        context: context.map(|c| ContextApi {
            header: c.header.name.clone(),
            function: qualified_ident(callable(&c.function.name)),
            setting: c.setting.name.clone(),
        }),
        role_settings: catalog
            .request_settings
            .iter()
            .filter(|(_, name, _)| name != "default_transaction_isolation")
            .cloned()
            .collect(),
        isolation: catalog
            .request_settings
            .iter()
            .filter(|(_, name, _)| name == "default_transaction_isolation")
            .map(|(role, _, level)| (role.clone(), level.clone()))
            .collect(),
        volatility: catalog
            .exposed_functions()
            .map(|f| (format!("{}.{}", f.schema, f.name), f.volatility))
            .collect(),
        deferrable: catalog.deferrable,
    }
}

#[cfg(test)]
impl Schema {
    /// VITAL's schema as the shipped profile describes it, in front of `seeded`, for
    /// tests that need no database.
    pub fn vital(seeded: World) -> Schema {
        let profile = crate::profile::fixture::vital();
        Schema {
            api: api(&Catalog::default(), Some(&profile)),
            sql: Some(Sql::new(&profile, &Catalog::default())),
            seeded,
            subjects: Subjects::default(),
            unprobed: Vec::new(),
        }
    }
}
