//! Schema fingerprints: a sorted, textual description of everything a migration can
//! change in `public`, for comparing database states (rollback, idempotency).
//!
//! The fingerprint names objects and roles, never oids, so two databases built the
//! same way have equal fingerprints. Function bodies and view definitions enter as
//! hashes to keep the lines short.

use crate::connection::Connection;
use crate::error::Result;

const FINGERPRINT: &str = r#"
with ns as (select oid from pg_namespace where nspname = 'public')
select line from (
  select format('relation %s kind=%s rls=%s force=%s acl=%s', c.relname, c.relkind,
                c.relrowsecurity, c.relforcerowsecurity, coalesce(c.relacl::text, '')) as line
    from pg_class c where c.relnamespace in (select oid from ns)
  union all
  select format('column %s.%s %s notnull=%s default=%s acl=%s', c.relname, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull,
                coalesce(pg_get_expr(d.adbin, d.adrelid), ''), coalesce(a.attacl::text, ''))
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid and c.relnamespace in (select oid from ns)
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
   where a.attnum > 0 and not a.attisdropped
  union all
  select format('constraint %s.%s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
    from pg_constraint k join pg_class c on c.oid = k.conrelid
   where k.connamespace in (select oid from ns)
  union all
  select format('index %s', pg_get_indexdef(i.indexrelid))
    from pg_index i join pg_class c on c.oid = i.indrelid
   where c.relnamespace in (select oid from ns)
  union all
  select format('policy %s.%s %s %s roles=%s using=%s check=%s', p.tablename, p.policyname,
                p.permissive, p.cmd, p.roles::text, coalesce(p.qual, ''), coalesce(p.with_check, ''))
    from pg_policies p where p.schemaname = 'public'
  union all
  select format('function %s(%s) kind=%s secdef=%s body=%s acl=%s', p.proname,
                pg_get_function_identity_arguments(p.oid), p.prokind, p.prosecdef,
                md5(case when p.prokind in ('f', 'p') then pg_get_functiondef(p.oid) else p.prosrc end),
                coalesce(p.proacl::text, ''))
    from pg_proc p where p.pronamespace in (select oid from ns)
  union all
  select format('trigger %s', pg_get_triggerdef(t.oid))
    from pg_trigger t join pg_class c on c.oid = t.tgrelid
   where not t.tgisinternal and c.relnamespace in (select oid from ns)
  union all
  select format('view %s %s', c.relname, md5(pg_get_viewdef(c.oid)))
    from pg_class c where c.relkind in ('v', 'm') and c.relnamespace in (select oid from ns)
  union all
  select format('type %s %s', t.typname, t.typtype)
    from pg_type t where t.typnamespace in (select oid from ns) and t.typtype in ('e', 'd', 'c')
      and not exists (select 1 from pg_class c where c.reltype = t.oid)
  union all
  select format('extension %s', e.extname) from pg_extension e
) lines order by line
"#;

/// The fingerprint of the `public` schema of the database `connection` is on.
pub async fn fingerprint(connection: &Connection) -> Result<Vec<String>> {
    let rows = connection.query(FINGERPRINT, &[]).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// The lines only in `before` (`-`) and only in `after` (`+`), for a readable failure.
pub fn difference(before: &[String], after: &[String]) -> Vec<String> {
    let removed = before
        .iter()
        .filter(|line| !after.contains(line))
        .map(|line| format!("- {line}"));
    let added = after
        .iter()
        .filter(|line| !before.contains(line))
        .map(|line| format!("+ {line}"));
    removed.chain(added).collect()
}

#[cfg(test)]
mod tests {
    use super::difference;

    #[test]
    fn difference_lists_removed_then_added_lines() {
        let before = vec!["a".to_owned(), "b".to_owned()];
        let after = vec!["b".to_owned(), "c".to_owned()];
        assert_eq!(difference(&before, &after), ["- a", "+ c"]);
        assert!(difference(&before, &before).is_empty());
    }
}
