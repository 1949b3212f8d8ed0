//! The schema as the checks see it, in one place: the tenancy mechanism the config
//! names, and the rows the migrations seeded, read from the template. Every other
//! module gets what it knows of the schema from here, as data: the property engine its
//! starting world, the scenarios the seeded tenants and the tenancy tables they write,
//! the actors the function that sets a tenant context.

use uuid::Uuid;

use crate::actor::Api;
use crate::catalog;
use crate::config::{Config, Tenancy};
use crate::error::{Error, Result};
use crate::harness::{Harness, Template};
use crate::model::{Table, World};
use crate::subject::Subjects;

/// The audit trail the model reads.
const AUDIT: &str = "public.resource_sharing_audit";

/// What the checks know of the migrated schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub tenancy: Tenancy,
    /// PostgREST in front of the schema: how each request is made.
    pub api: Api,
    /// The world the migrations left: the seeded tenants, users, resources and audit
    /// rows, as the model sees them.
    pub seeded: World,
    /// The objects the model does not name, which the generic probes check.
    pub subjects: Subjects,
}

impl Schema {
    /// Reads the seeded rows from a leased clone of `template`, with the tenancy of
    /// `config`.
    pub async fn read(harness: &Harness, template: &Template, config: &Config) -> Result<Schema> {
        let lease = harness.lease(template).await?;
        let owner = lease.owner().await?;
        let resources: Vec<String> = Table::ALL
            .iter()
            .map(|t| format!("public.{}", t.name()))
            .collect();
        let seed = catalog::read_seed(&owner, &config.tenancy, &resources, Some(AUDIT)).await?;
        let seeded = World::from_seed(&seed).map_err(|message| Error::Config {
            name: "the seeded rows".into(),
            message,
        })?;
        let schema = Schema {
            tenancy: config.tenancy.clone(),
            api: api(&template.catalog, &config.tenancy),
            seeded,
            subjects: subjects(&template.catalog, config)?,
        };
        crate::subject::try_fill(
            &owner,
            &schema.subjects,
            &schema.tenancy.tenants,
            &schema.seeded,
        )
        .await?;
        Ok(schema)
    }

    /// A schema with the default tenancy and API in front of `seeded`, for tests that
    /// need no database.
    pub fn without_catalog(seeded: World) -> Schema {
        let tenancy = Tenancy::default();
        Schema {
            api: api(&crate::catalog::Catalog::default(), &tenancy),
            tenancy,
            seeded,
            subjects: Subjects::default(),
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

/// The objects of `catalog` the model does not name, or why some cannot be checked.
pub fn subjects(catalog: &catalog::Catalog, config: &Config) -> Result<Subjects> {
    let classes = crate::class::classify(catalog, config, &crate::model::modelled(&config.tenancy));
    let (subjects, errors) = crate::subject::plan(catalog, &classes, config);
    if errors.is_empty() {
        Ok(subjects)
    } else {
        Err(Error::Config {
            name: "objects the probes cannot check".into(),
            message: errors.join("\n  "),
        })
    }
}

/// PostgREST as Supabase configures it in front of `catalog`: the `public` and
/// `extensions` schemas on the search path, the config's pre-request function and
/// context header, the API roles' own settings, and the volatility of every function
/// the API exposes.
fn api(catalog: &crate::catalog::Catalog, tenancy: &Tenancy) -> Api {
    Api {
        search_path: "public, extensions".into(),
        pre_request: tenancy.pre_request.clone(),
        context_header: tenancy.context_header.clone(),
        context_function: tenancy.context_function.clone(),
        context_setting: tenancy.context_setting.clone(),
        role_settings: catalog.role_settings.clone(),
        volatility: catalog
            .exposed_functions()
            .map(|f| (format!("{}.{}", f.schema, f.name), f.volatility))
            .collect(),
    }
}
