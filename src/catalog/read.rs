//! The catalog's queries: a handful of round trips, each for one kind of fact about
//! every relation or function at once.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    ApiRole, Argument, Catalog, Check, Column, Command, ForeignKey, Function, Partition, Policy,
    Privilege, Relation, RelationKind, View, Widening, NOT_OURS,
};
use crate::connection::Connection;
use crate::error::Result;
use crate::origin::{History, ObjectKind, Origins};

const SCHEMAS: &str = "
select n.nspname::text from pg_catalog.pg_namespace n
 where (pg_catalog.has_schema_privilege('anon', n.oid, 'USAGE')
        or pg_catalog.has_schema_privilege('authenticated', n.oid, 'USAGE'))
   and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
   and not n.nspname = any ($1)
 order by 1";

const RELATIONS: &str = "
select c.oid, n.nspname::text, c.relname::text, c.relkind::text,
       pg_catalog.pg_get_userbyid(c.relowner)::text, c.relrowsecurity, c.relforcerowsecurity,
       coalesce(c.reloptions, '{}')::text[],
       array(select p from unnest(array['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) p
              where pg_catalog.has_table_privilege('anon', c.oid, p)),
       array(select p from unnest(array['SELECT','INSERT','UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) p
              where pg_catalog.has_table_privilege('authenticated', c.oid, p)),
       array(select distinct a.privilege_type::text
               from pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
              where a.grantee = 0),
       pn.nspname::text || '.' || pc.relname::text,
       case when c.relispartition then pg_catalog.pg_get_expr(c.relpartbound, c.oid) end,
       array(select a.attname::text
               from pg_catalog.pg_partitioned_table pt
               cross join lateral unnest(pt.partattrs::int2[]) with ordinality u(num, i)
               join pg_catalog.pg_attribute a on a.attrelid = pt.partrelid and a.attnum = u.num
              where pt.partrelid = i.inhparent
              order by u.i)
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  left join pg_catalog.pg_inherits i on i.inhrelid = c.oid and c.relispartition
  left join pg_catalog.pg_class pc on pc.oid = i.inhparent
  left join pg_catalog.pg_namespace pn on pn.oid = pc.relnamespace
 where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname = any ($1)
 order by 2, 3";

const COLUMNS: &str = "
select a.attrelid, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid),
                case when a.attidentity <> '' then 'generated as identity' end,
                case when a.attgenerated <> '' then 'generated' end),
       array(select e.enumlabel::text from pg_catalog.pg_enum e
              where e.enumtypid = case when t.typtype = 'd' then t.typbasetype else a.atttypid end
              order by e.enumsortorder)
  from pg_catalog.pg_attribute a
  join pg_catalog.pg_type t on t.oid = a.atttypid
  left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
 where a.attrelid = any ($1) and a.attnum > 0 and not a.attisdropped
 order by a.attrelid, a.attnum";

const CONSTRAINTS: &str = "
select k.conrelid, k.contype::text, k.conname::text,
       array(select a.attname::text from unnest(k.conkey) with ordinality u(num, i)
               join pg_catalog.pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.num
              order by u.i),
       fn.nspname::text || '.' || fc.relname::text,
       array(select a.attname::text from unnest(k.confkey) with ordinality u(num, i)
               join pg_catalog.pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.num
              order by u.i),
       pg_catalog.pg_get_constraintdef(k.oid)
  from pg_catalog.pg_constraint k
  left join pg_catalog.pg_class fc on fc.oid = k.confrelid
  left join pg_catalog.pg_namespace fn on fn.oid = fc.relnamespace
 where k.conrelid = any ($1) and k.contype in ('p', 'f', 'c')
 order by k.conrelid, k.conname";

const POLICIES: &str = "
select p.polrelid, p.polname::text, p.polcmd::text, p.polpermissive,
       array(select case when r = 0 then 'public' else pg_catalog.pg_get_userbyid(r)::text end
               from unnest(p.polroles) r),
       pg_catalog.pg_get_expr(p.polqual, p.polrelid),
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
  from pg_catalog.pg_policy p
 where p.polrelid = any ($1)
 order by p.polrelid, p.polname";

/// Every relation each view or materialized view reads, through other views too, with
/// the depth (1: directly), whether that relation has row security, and its name.
const VIEW_BASES: &str = "
with recursive reads(view, base, depth) as (
    select rw.ev_class, d.refobjid, 1
      from pg_catalog.pg_rewrite rw
      join pg_catalog.pg_depend d on d.objid = rw.oid
       and d.classid = 'pg_catalog.pg_rewrite'::regclass
       and d.refclassid = 'pg_catalog.pg_class'::regclass
     where rw.ev_class = any ($1) and d.refobjid <> rw.ev_class
    union
    select reads.view, d.refobjid, reads.depth + 1
      from reads
      join pg_catalog.pg_rewrite rw on rw.ev_class = reads.base
      join pg_catalog.pg_depend d on d.objid = rw.oid
       and d.classid = 'pg_catalog.pg_rewrite'::regclass
       and d.refclassid = 'pg_catalog.pg_class'::regclass
     where d.refobjid <> rw.ev_class and reads.depth < 16
)
select reads.view, min(reads.depth), n.nspname::text || '.' || c.relname::text, c.relrowsecurity
  from reads
  join pg_catalog.pg_class c on c.oid = reads.base
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'v', 'm', 'f')
 group by reads.view, n.nspname, c.relname, c.relrowsecurity";

/// The roles that lift an API role past row security: itself, or a role it is a
/// member of, directly or through others, that bypasses row security or is a superuser.
const WIDENED_ROLES: &str = "
with recursive member_of(api, role) as (
    select r.rolname::text, r.oid from pg_catalog.pg_roles r
     where r.rolname in ('anon', 'authenticated')
    union
    select m.api, a.roleid
      from member_of m join pg_catalog.pg_auth_members a on a.member = m.role
)
select m.api, g.rolname::text, g.rolsuper
  from member_of m join pg_catalog.pg_roles g on g.oid = m.role
 where g.rolsuper or g.rolbypassrls
 order by 1, 2";

/// The API roles' own settings (`alter role authenticated set statement_timeout = ...`),
/// cluster-wide or for this database, whoever may apply them: what the migrations said
/// of the roles, for the lints.
const ROLE_SETTINGS: &str = "
select r.rolname::text, split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)
  from pg_catalog.pg_db_role_setting s
  join pg_catalog.pg_roles r on r.oid = s.setrole
 cross join lateral unnest(s.setconfig) c
 where r.rolname in ('anon', 'authenticated', 'service_role')
   and s.setdatabase in (0, (select oid from pg_catalog.pg_database where datname = current_database()))
 order by 1, 2";

/// The settings PostgREST applies to the requests of each role it switches to, read as
/// PostgREST reads them when it starts: the cluster-wide settings (not those `in
/// database`) of the roles `authenticator` is a member of, those of context `user` or
/// that `authenticator` was granted SET on (PostgreSQL 15 on), and, apart, the
/// role's `default_transaction_isolation`. Any other (`session_preload_libraries` on
/// Supabase's `authenticated`) PostgREST leaves out, so it never reaches a request.
fn request_settings_sql(server_version: u32) -> String {
    let granted = if server_version >= 150_000 {
        "or pg_catalog.has_parameter_privilege(m.member, p.name, 'SET')"
    } else {
        ""
    };
    format!(
        "select r.rolname::text, split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)
           from pg_catalog.pg_auth_members m
           join pg_catalog.pg_roles r on r.oid = m.roleid
          cross join lateral unnest(r.rolconfig) c
           join pg_catalog.pg_settings p on p.name = split_part(c, '=', 1)
          where m.member = (select oid from pg_catalog.pg_roles where rolname = 'authenticator')
            and (p.context = 'user' {granted})
          order by 1, 2"
    )
}

const FUNCTIONS: &str = "
select n.nspname::text, p.proname::text,
       coalesce(p.proargnames, '{}')::text[],
       coalesce(p.proargmodes::text[], '{}'),
       array(select pg_catalog.format_type(u.t, null)
               from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality u(t, i)
              order by u.i),
       coalesce(pg_catalog.pg_get_function_result(p.oid), ''),
       p.proretset,
       case when rt.typtype = 'c' and rt.typrelid <> 0
            then rn.nspname::text || '.' || rc.relname::text end,
       p.prokind = 'p',
       coalesce(rt.typname in ('trigger', 'event_trigger'), false),
       p.prosecdef,
       (select substr(c, 13) from unnest(p.proconfig) c where c like 'search_path=%' limit 1),
       p.provolatile::text,
       l.lanname::text,
       pg_catalog.pg_get_userbyid(p.proowner)::text,
       pg_catalog.has_function_privilege('anon', p.oid, 'EXECUTE'),
       pg_catalog.has_function_privilege('authenticated', p.oid, 'EXECUTE'),
       coalesce(p.prosrc ~* 'auth[[:space:]]*\\.[[:space:]]*\"?users', false)
  from pg_catalog.pg_proc p
  join pg_catalog.pg_namespace n on n.oid = p.pronamespace
  join pg_catalog.pg_language l on l.oid = p.prolang
  left join pg_catalog.pg_type rt on rt.oid = p.prorettype
  left join pg_catalog.pg_class rc on rc.oid = rt.typrelid
  left join pg_catalog.pg_namespace rn on rn.oid = rc.relnamespace
 where n.nspname = any ($1) and p.prokind in ('f', 'p')
 order by 1, 2";

fn history(origins: &Origins, kind: ObjectKind, name: &str) -> History {
    origins
        .get(&(kind, name.to_owned()))
        .cloned()
        .unwrap_or_default()
}

fn privileges(names: Vec<String>) -> BTreeSet<Privilege> {
    names
        .iter()
        .filter_map(|name| Privilege::from_name(name))
        .collect()
}

/// Reads the catalog of the database `connection` is on; `origins` says where the
/// migrations made each object.
pub async fn read(connection: &Connection, origins: &Origins) -> Result<Catalog> {
    let not_ours: Vec<String> = NOT_OURS.iter().map(|s| (*s).to_owned()).collect();
    let exposed_schemas: Vec<String> = connection
        .query(SCHEMAS, &[&not_ours])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();

    let mut relations = Vec::new();
    let mut oids: Vec<u32> = Vec::new();
    for row in connection.query(RELATIONS, &[&exposed_schemas]).await? {
        let (schema, name): (String, String) = (row.get(1), row.get(2));
        let kind = match row.get::<_, String>(3).as_str() {
            "r" => RelationKind::Table,
            "p" => RelationKind::PartitionedTable,
            "v" => RelationKind::View,
            "m" => RelationKind::MaterializedView,
            _ => RelationKind::ForeignTable,
        };
        let options: Vec<String> = row.get(7);
        let option = |key: &str| {
            options.iter().any(|o| {
                o.eq_ignore_ascii_case(&format!("{key}=true")) || o == &format!("{key}=on")
            })
        };
        let view =
            matches!(kind, RelationKind::View | RelationKind::MaterializedView).then(|| View {
                security_invoker: option("security_invoker"),
                security_barrier: option("security_barrier"),
                ..View::default()
            });
        let qualified = format!("{schema}.{name}");
        let partition = row
            .get::<_, Option<String>>(11)
            .zip(row.get::<_, Option<String>>(12))
            .map(|(parent, bound)| Partition {
                parent,
                bound,
                key: row.get(13),
            });
        oids.push(row.get(0));
        relations.push(Relation {
            partition,
            history: history(origins, ObjectKind::Relation, &qualified),
            schema,
            name,
            kind,
            owner: row.get(4),
            rls_enabled: row.get(5),
            rls_forced: row.get(6),
            policies: Vec::new(),
            privileges: vec![
                (ApiRole::Anon, privileges(row.get(8))),
                (ApiRole::Authenticated, privileges(row.get(9))),
            ],
            public_privileges: privileges(row.get(10)),
            columns: Vec::new(),
            primary_key: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            view,
        });
    }
    let index: BTreeMap<u32, usize> = oids.iter().enumerate().map(|(i, oid)| (*oid, i)).collect();
    let at = |oid: u32| index.get(&oid).copied();

    for row in connection.query(COLUMNS, &[&oids]).await? {
        if let Some(i) = at(row.get(0)) {
            relations[i].columns.push(Column {
                name: row.get(1),
                type_name: row.get(2),
                not_null: row.get(3),
                default: row.get(4),
                enum_labels: row.get(5),
            });
        }
    }
    for row in connection.query(CONSTRAINTS, &[&oids]).await? {
        let Some(i) = at(row.get(0)) else { continue };
        let (kind, name, columns): (String, String, Vec<String>) =
            (row.get(1), row.get(2), row.get(3));
        let relation = &mut relations[i];
        match kind.as_str() {
            "p" => relation.primary_key = columns,
            "f" => relation.foreign_keys.push(ForeignKey {
                name,
                columns,
                target: row.get::<_, Option<String>>(4).unwrap_or_default(),
                target_columns: row.get(5),
            }),
            _ => relation.checks.push(Check {
                name,
                definition: row.get(6),
            }),
        }
    }
    for row in connection.query(POLICIES, &[&oids]).await? {
        let Some(i) = at(row.get(0)) else { continue };
        let name: String = row.get(1);
        let command = match row.get::<_, String>(2).as_str() {
            "r" => Command::Select,
            "a" => Command::Insert,
            "w" => Command::Update,
            "d" => Command::Delete,
            _ => Command::All,
        };
        let key = format!("{}.{name}", relations[i].qualified());
        relations[i].policies.push(Policy {
            history: history(origins, ObjectKind::Policy, &key),
            name,
            command,
            roles: row.get(4),
            permissive: row.get(3),
            using: row.get(5),
            check: row.get(6),
        });
    }
    let views: Vec<u32> = oids
        .iter()
        .zip(&relations)
        .filter(|(_, r)| r.view.is_some())
        .map(|(oid, _)| *oid)
        .collect();
    for row in connection.query(VIEW_BASES, &[&views]).await? {
        let Some(i) = at(row.get(0)) else { continue };
        let (depth, base, rls): (i32, String, bool) = (row.get(1), row.get(2), row.get(3));
        if let Some(view) = &mut relations[i].view {
            if depth == 1 {
                view.bases.push(base.clone());
            }
            view.reads_rls_table |= rls;
            view.reads_auth_users |= base == "auth.users";
        }
    }

    let mut functions = Vec::new();
    for row in connection.query(FUNCTIONS, &[&exposed_schemas]).await? {
        let (names, modes, types): (Vec<String>, Vec<String>, Vec<String>) =
            (row.get(2), row.get(3), row.get(4));
        // Without modes every argument is an input; with them, only i, b and v are.
        let arguments = types
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                modes
                    .get(*i)
                    .is_none_or(|m| matches!(m.as_str(), "i" | "b" | "v"))
            })
            .map(|(i, type_name)| Argument {
                name: names.get(i).cloned().unwrap_or_default(),
                type_name: type_name.clone(),
            })
            .collect();
        let mut executable_by = Vec::new();
        if row.get::<_, bool>(15) {
            executable_by.push(ApiRole::Anon);
        }
        if row.get::<_, bool>(16) {
            executable_by.push(ApiRole::Authenticated);
        }
        let mut function = Function {
            schema: row.get(0),
            name: row.get(1),
            arguments,
            result: row.get(5),
            returns_set: row.get(6),
            returns_relation: row.get(7),
            is_procedure: row.get(8),
            is_trigger: row.get(9),
            security_definer: row.get(10),
            search_path: row.get(11),
            volatility: row.get::<_, String>(12).chars().next().unwrap_or('v'),
            language: row.get(13),
            owner: row.get(14),
            executable_by,
            reads_auth_users: row.get(17),
            history: History::default(),
        };
        function.history = history(origins, ObjectKind::Function, &function.qualified());
        functions.push(function);
    }
    let role_settings = connection
        .query(ROLE_SETTINGS, &[])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let server_version: u32 = connection
        .query_one("select current_setting('server_version_num')", &[])
        .await?
        .get::<_, String>(0)
        .parse()
        .unwrap_or_default();
    let request_settings = connection
        .query(&request_settings_sql(server_version), &[])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let widened_roles = connection
        .query(WIDENED_ROLES, &[])
        .await?
        .iter()
        .map(|row| Widening {
            role: row.get(0),
            through: row.get(1),
            superuser: row.get(2),
        })
        .collect();
    let role_histories = ApiRole::ALL
        .iter()
        .map(|role| {
            let name = role.name().to_owned();
            (name.clone(), history(origins, ObjectKind::Role, &name))
        })
        .collect();
    // Any deferrable constraint or trigger of the database, which the API's writes
    // could set off: without one, a probe's `SET CONSTRAINTS ALL IMMEDIATE` does nothing.
    let deferrable = connection
        .query_one(
            "select exists (select from pg_catalog.pg_constraint where condeferrable) \
             or exists (select from pg_catalog.pg_trigger where tgdeferrable)",
            &[],
        )
        .await?
        .get(0);
    Ok(Catalog {
        deferrable,
        exposed_schemas,
        relations,
        functions,
        role_settings,
        request_settings,
        widened_roles,
        role_histories,
    })
}
