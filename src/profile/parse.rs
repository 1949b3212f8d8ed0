//! The `[profile]` tables of `rls-harness.toml` as written, and the checks that need no
//! catalog: every name given and not empty, every role a key names ranked, a role column
//! exactly when there are roles. Each mistake is located at its key.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{
    Admins, AssignFunction, At, Audit, Key, Memberships, Profile, SharedView, Sharing,
    TenantContext, Tenants,
};
use crate::located::{unknown, FileError, Reader};
use crate::model::{Creators, Editors, MembershipRules};

type Name = Spanned<String>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    tenants: RawTenants,
    memberships: RawMemberships,
    admins: Option<RawAdmins>,
    context: Option<RawContext>,
    sharing: Option<RawSharing>,
    refusals: Option<Vec<Name>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenants {
    table: Name,
    key: Name,
    slug: Name,
    primary_owner: Option<Name>,
    personal: Option<Name>,
    creators: Option<Name>,
    editors: Option<Name>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMemberships {
    table: Name,
    user: Name,
    tenant: Name,
    role: Option<Name>,
    #[serde(default)]
    roles: Vec<Name>,
    writers: Option<Vec<Name>>,
    managers: Option<Vec<Name>>,
    #[serde(default)]
    protected: Vec<Name>,
    assign: Option<RawAssign>,
    #[serde(default)]
    teammates: bool,
    managed: Option<Vec<Name>>,
    #[serde(default)]
    own: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssign {
    function: Name,
    tenant: Name,
    roles: Vec<Name>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmins {
    table: Name,
    user: Name,
    role: Name,
    value: Name,
    grant: Option<Name>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    setting: Name,
    function: Name,
    header: Name,
    pre_request: Option<Name>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSharing {
    tables: Vec<Name>,
    key: Name,
    tenant: Name,
    name: Name,
    mode: Name,
    flag: Name,
    shared_with: Name,
    kind: Name,
    lists: Option<Name>,
    view: Option<RawView>,
    audit: Option<RawAudit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawView {
    view: Name,
    table: Name,
    id: Name,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    table: Name,
    resource_table: Name,
    resource: Name,
    action: Name,
    actor: Name,
    tenant: Name,
    order: Name,
}

/// Turns spanned names into keys, collecting a located error for each empty one.
struct Keys<'r> {
    reader: &'r Reader<'r>,
    errors: Vec<FileError>,
}

impl Keys<'_> {
    fn at(&self, offset: usize) -> At {
        let (line, column) = crate::script::line_column(self.reader.source, offset);
        At { line, column }
    }

    fn key(&mut self, name: &Name) -> Key {
        let key = Key {
            name: name.get_ref().trim().to_owned(),
            at: self.at(name.span().start),
        };
        if key.name.is_empty() {
            self.errors.push(
                self.reader
                    .at(name, "an empty name: give the object or column"),
            );
        }
        if key.name.contains('"') {
            self.errors.push(self.reader.at(
                name,
                "write the name as PostgreSQL shows it, without double quotes",
            ));
        }
        key
    }

    fn keys(&mut self, names: &[Name]) -> Vec<Key> {
        names.iter().map(|n| self.key(n)).collect()
    }

    fn qualified(&mut self, name: &Name, what: &str) -> Key {
        let key = self.key(name);
        if !key.name.is_empty() && !super::callable(&key.name).contains('.') {
            self.errors.push(self.reader.at(
                name,
                format!("write the {what} with its schema: \"public.{}\"", key.name),
            ));
        }
        key
    }

    fn error(&mut self, at: &Name, message: String) {
        self.errors.push(self.reader.at(at, message));
    }

    /// The value of a key that takes one of `choices`, the first when it is absent.
    fn choice<T: Copy>(&mut self, name: Option<&Name>, choices: &[(&str, T)]) -> T {
        let Some(name) = name else {
            return choices[0].1;
        };
        match choices.iter().find(|(word, _)| word == name.get_ref()) {
            Some((_, value)) => *value,
            None => {
                let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
                let message = unknown("value", name.get_ref(), &words);
                self.error(name, message);
                choices[0].1
            }
        }
    }
}

impl RawProfile {
    /// The checked profile, or every mistake of it, located in `path`.
    pub fn check(self, path: &Path, source: &str) -> Result<Profile, Vec<FileError>> {
        let reader = Reader { path, source };
        let mut keys = Keys {
            reader: &reader,
            errors: Vec::new(),
        };
        let raw = &self.tenants;
        let tenants = Tenants {
            table: keys.qualified(&raw.table, "tenants table"),
            key: keys.key(&raw.key),
            slug: keys.key(&raw.slug),
            primary_owner: raw.primary_owner.as_ref().map(|k| keys.key(k)),
            personal: raw.personal.as_ref().map(|k| keys.key(k)),
            creators: keys.choice(
                raw.creators.as_ref(),
                &[
                    ("platform-admins", Creators::PlatformAdmins),
                    ("signed-in", Creators::SignedIn),
                ],
            ),
            editors: keys.choice(
                raw.editors.as_ref(),
                &[
                    ("platform-admins", Editors::PlatformAdmins),
                    ("writers", Editors::Writers),
                ],
            ),
        };
        let refusals = match &self.refusals {
            Some(codes) => codes
                .iter()
                .map(|code| {
                    let key = keys.key(code);
                    let sqlstate = key.name.len() == 5
                        && key
                            .name
                            .bytes()
                            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
                    if !sqlstate {
                        keys.error(
                            code,
                            format!(
                                "\"{}\" is not a SQLSTATE: give five digits or capital letters, \
                                 such as \"42501\" or \"P0001\"",
                                key.name
                            ),
                        );
                    }
                    key.name
                })
                .collect(),
            None => vec!["42501".to_owned()],
        };
        let memberships = memberships(&mut keys, &self.memberships);
        let admins = self.admins.as_ref().map(|raw| Admins {
            table: keys.qualified(&raw.table, "platform-admin table"),
            user: keys.key(&raw.user),
            role: keys.key(&raw.role),
            value: keys.key(&raw.value),
            grant: raw.grant.as_ref().map(|g| keys.qualified(g, "function")),
        });
        let context = self.context.as_ref().map(|raw| {
            let header = keys.key(&raw.header);
            TenantContext {
                setting: keys.key(&raw.setting),
                function: keys.qualified(&raw.function, "function"),
                header: Key {
                    name: header.name.to_ascii_lowercase(),
                    ..header
                },
                pre_request: raw
                    .pre_request
                    .as_ref()
                    .map(|p| keys.qualified(p, "function")),
            }
        });
        let sharing = self.sharing.as_ref().map(|raw| sharing(&mut keys, raw));
        if keys.errors.is_empty() {
            Ok(Profile {
                file: path.to_owned(),
                tenants,
                memberships,
                admins,
                context,
                sharing,
                refusals,
            })
        } else {
            // In the order a person reads the file.
            let mut errors = keys.errors;
            errors.sort_by_key(|e| (e.line, e.column));
            Err(errors)
        }
    }
}

fn memberships(keys: &mut Keys<'_>, raw: &RawMemberships) -> Memberships {
    let roles = keys.keys(&raw.roles);
    match (&raw.role, raw.roles.first()) {
        (Some(column), None) => keys.error(
            column,
            "a role column needs its values: roles = [\"owner\", ...], highest rights first".into(),
        ),
        (None, Some(first)) => keys.error(
            first,
            "roles need the column that holds them: role = \"<column>\"".into(),
        ),
        _ => {}
    }
    let names: Vec<String> = roles.iter().map(|r| r.name.clone()).collect();
    for (i, role) in raw.roles.iter().enumerate() {
        if names[..i].contains(&names[i]) {
            keys.error(role, format!("role \"{}\" is ranked twice", names[i]));
        }
    }
    let ranked = |keys: &mut Keys<'_>, list: &[Name]| -> Vec<Key> {
        let known: Vec<&str> = names.iter().map(String::as_str).collect();
        for name in list {
            if !known.contains(&name.get_ref().as_str()) {
                let message = unknown("role", name.get_ref(), &known);
                keys.error(name, format!("{message}: list it in roles first"));
            }
        }
        keys.keys(list)
    };
    // Without a say, the highest role writes, and writers manage.
    let writers = match &raw.writers {
        Some(list) => ranked(keys, list),
        None => roles.first().cloned().into_iter().collect(),
    };
    let managers = match &raw.managers {
        Some(list) => ranked(keys, list),
        None => writers.clone(),
    };
    let protected = ranked(keys, &raw.protected);
    let mut managed = MembershipRules {
        teammates_read: raw.teammates,
        own: raw.own,
        ..MembershipRules::default()
    };
    if let Some(changes) = &raw.managed {
        managed.add = false;
        managed.change = false;
        managed.remove = false;
        for change in changes {
            match change.get_ref().as_str() {
                "add" => managed.add = true,
                "change" => managed.change = true,
                "remove" => managed.remove = true,
                other => {
                    let message = unknown("change", other, &["add", "change", "remove"]);
                    keys.error(change, message);
                }
            }
        }
    }
    let assign = raw.assign.as_ref().map(|raw| AssignFunction {
        function: keys.qualified(&raw.function, "function"),
        tenant: keys.key(&raw.tenant),
        roles: ranked(keys, &raw.roles),
    });
    Memberships {
        table: keys.qualified(&raw.table, "memberships table"),
        user: keys.key(&raw.user),
        tenant: keys.key(&raw.tenant),
        role: raw.role.as_ref().map(|r| keys.key(r)),
        roles,
        writers,
        managers,
        protected,
        assign,
        rules: managed,
    }
}

fn sharing(keys: &mut Keys<'_>, raw: &RawSharing) -> Sharing {
    let tables: Vec<Key> = raw
        .tables
        .iter()
        .map(|t| keys.qualified(t, "table"))
        .collect();
    if tables.len() > usize::from(u8::MAX) {
        keys.error(&raw.tables[0], "at most 255 resource tables".into());
    }
    let lists = raw.lists.as_ref().map(|l| {
        let key = keys.qualified(l, "function");
        if !key.name.contains("{table}") {
            keys.error(
                l,
                "the list function's name needs {table} where each table's name goes".into(),
            );
        }
        key
    });
    Sharing {
        tables,
        key: keys.key(&raw.key),
        tenant: keys.key(&raw.tenant),
        name: keys.key(&raw.name),
        mode: keys.key(&raw.mode),
        flag: keys.key(&raw.flag),
        shared_with: keys.key(&raw.shared_with),
        kind: keys.key(&raw.kind),
        lists,
        view: raw.view.as_ref().map(|v| SharedView {
            view: keys.qualified(&v.view, "view"),
            table: keys.key(&v.table),
            id: keys.key(&v.id),
        }),
        audit: raw.audit.as_ref().map(|a| Audit {
            table: keys.qualified(&a.table, "audit table"),
            resource_table: keys.key(&a.resource_table),
            resource: keys.key(&a.resource),
            action: keys.key(&a.action),
            actor: keys.key(&a.actor),
            tenant: keys.key(&a.tenant),
            order: keys.key(&a.order),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Profile, Vec<String>> {
        #[derive(Deserialize)]
        struct Document {
            profile: RawProfile,
        }
        let path = Path::new("rls-harness.toml");
        let document: Document = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        document.profile.check(path, text).map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
                .collect()
        })
    }

    const MINIMAL: &str = r#"
[profile.tenants]
table = "basejump.accounts"
key = "id"
slug = "slug"

[profile.memberships]
table = "basejump.account_user"
user = "user_id"
tenant = "account_id"
role = "account_role"
roles = ["owner", "member"]
"#;

    /// A profile of another tenancy reads as it is: no platform admins, no context, no
    /// sharing, and by default the highest role writes and manages.
    #[test]
    fn a_minimal_profile_reads_with_its_defaults() {
        let profile = check(MINIMAL).unwrap();
        assert!(profile.admins.is_none() && profile.context.is_none());
        assert!(profile.sharing.is_none());
        let shape = profile.shape(None);
        assert_eq!((shape.tables, shape.roles.len()), (0, 2));
        assert!(shape.roles[0].writes && shape.roles[0].manages);
        assert!(!shape.roles[1].writes && !shape.roles[1].manages);
        assert!(!shape.admins && !shape.context);
        assert_eq!(profile.role("member"), Some(crate::model::Role(1)));
    }

    /// An accounts-style tenancy says who opens and edits tenants, which memberships
    /// members read and which writes managers make; each value is checked at its key.
    #[test]
    fn the_tenancy_rules_read_as_written_and_are_checked() {
        let accounts = format!(
            "[profile]\nrefusals = [\"42501\", \"P0001\"]\n{}",
            MINIMAL
                .replace(
                    "slug = \"slug\"",
                    "slug = \"slug\"\nprimary_owner = \"primary_owner_user_id\"\n\
                     creators = \"signed-in\"\neditors = \"writers\"",
                )
                .replace(
                    "roles = [\"owner\", \"member\"]",
                    "roles = [\"owner\", \"member\"]\nteammates = true\nmanaged = [\"remove\"]",
                )
        );
        let profile = check(&accounts).unwrap();
        let shape = profile.shape(None);
        assert_eq!(shape.creators, Creators::SignedIn);
        assert_eq!(shape.editors, Editors::Writers);
        assert!(shape.primary_owner && !shape.personal);
        let rules = shape.memberships;
        assert!(rules.teammates_read && rules.remove && !rules.add && !rules.change);
        assert_eq!(profile.refusals, ["42501", "P0001"]);
        // The defaults are VITAL's rules.
        let vital = check(MINIMAL).unwrap().shape(None);
        assert_eq!(vital.creators, Creators::PlatformAdmins);
        assert_eq!(vital.memberships, MembershipRules::default());

        let wrong = accounts
            .replace("\"P0001\"", "\"oops\"")
            .replace("signed-in", "anyone")
            .replace("[\"remove\"]", "[\"kick\"]");
        assert_eq!(
            check(&wrong).unwrap_err(),
            [
                "2:22: \"oops\" is not a SQLSTATE: give five digits or capital letters, such as \"42501\" or \"P0001\"",
                "9:12: unknown value \"anyone\" (known: platform-admins, signed-in)",
                "19:12: unknown change \"kick\" (known: add, change, remove)",
            ]
        );
    }

    #[test]
    fn every_mistake_is_located_at_its_key() {
        let text = MINIMAL
            .replace("key = \"id\"", "key = \"\"")
            .replace(
                "roles = [\"owner\", \"member\"]",
                "roles = [\"owner\", \"member\", \"owner\"]\nwriters = [\"admin\"]",
            )
            .replace("table = \"basejump.accounts\"", "table = \"accounts\"");
        assert_eq!(
            check(&text).unwrap_err(),
            [
                "3:9: write the tenants table with its schema: \"public.accounts\"",
                "4:7: an empty name: give the object or column",
                "12:29: role \"owner\" is ranked twice",
                "13:12: unknown role \"admin\" (known: owner, member, owner): list it in roles first",
            ]
        );
        let columnless = MINIMAL.replace("role = \"account_role\"\n", "");
        assert_eq!(
            check(&columnless).unwrap_err(),
            ["11:10: roles need the column that holds them: role = \"<column>\""]
        );
    }
}
