use super::*;

fn texts(script: &str) -> Vec<&str> {
    split(script).into_iter().map(|s| s.text.trim()).collect()
}

#[test]
fn splits_on_top_level_semicolons_only() {
    let script = "create table a (x text default ';');\n\
                  select 'it''s; fine', \"we;ird\";\n\
                  -- a comment; with a semicolon\n\
                  /* block; /* nested; */ still; */ select 1;\n\
                  do $body$ begin perform 1; end $body$;\n\
                  select $$a;b$$, E'\\';', $1;";
    assert_eq!(
        texts(script),
        vec![
            "create table a (x text default ';')",
            "select 'it''s; fine', \"we;ird\"",
            "select 1",
            "do $body$ begin perform 1; end $body$",
            "select $$a;b$$, E'\\';', $1",
        ]
    );
}

#[test]
fn empty_statements_and_trailing_comments_are_dropped() {
    assert_eq!(texts(";;  -- nothing here\n"), Vec::<&str>::new());
    assert_eq!(texts("select 1;\n-- done"), vec!["select 1"]);
}

#[test]
fn keyword_and_code_offset_skip_comments() {
    let script = "select 1;\n-- start a transaction\n  BEGIN;";
    let second = &split(script)[1];
    assert_eq!(second.keyword(), "begin");
    assert!(second.controls_transaction());
    assert_eq!(line_column(script, second.code_offset()), (3, 3));
    let set_operation =
        "-- what the functions return beyond the tables\n(select 1) except (select 2)";
    assert_eq!(split(set_operation)[0].keyword(), "select");
}

#[test]
fn server_positions_map_to_lines_and_columns() {
    let script = "select 1;\nselect é,\n  nope from t;";
    let second = &split(script)[1];
    let position = second.text.find("nope").unwrap() as u32; // bytes; é is 2 bytes
    let byte = second.offset + byte_of_position(second.text, position);
    assert_eq!(line_column(script, byte), (3, 3));
}

#[test]
fn every_routine_body_form_stays_one_statement() {
    let script = "create function a() returns int language sql\n\
                    begin atomic select 1; select case when true then 2 end; end;\n\
                  CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC insert into t values (1); END;\n\
                  create function b() returns text language plpgsql as $outer$\n\
                    begin return $inner$ ; $inner$; end $outer$;\n\
                  create procedure q() language plpgsql as $$ begin commit; end $$;\n\
                  do $$ begin perform 1; end $$;\n\
                  begin; select 1; end;\n\
                  create table begin_end (x int);\n\
                  select 3";
    let statements = split(script);
    let texts = texts(script);
    assert_eq!(texts.len(), 10, "{texts:#?}");
    assert!(texts[0].ends_with("select case when true then 2 end; end"));
    assert!(texts[1].ends_with("insert into t values (1); END"));
    assert!(texts[2].ends_with("end $outer$"));
    assert_eq!(&texts[5..8], ["begin", "select 1", "end"]);
    let controlling: Vec<usize> = (0..10)
        .filter(|&i| statements[i].controls_transaction())
        .collect();
    assert_eq!(
        controlling,
        [5, 7],
        "only BEGIN and END control the transaction"
    );
}

#[test]
fn a_rule_with_several_actions_is_one_statement() {
    let script = "create rule r as on insert to a do also (insert into b values (1); insert into b values (2));\nselect 1";
    assert_eq!(texts(script).len(), 2, "{:#?}", texts(script));
}

#[test]
fn a_refused_statement_goes_to_the_server_with_the_rest() {
    let script =
        "select 1;\ncreate function f() returns int language sql begin atomic select 1; end;\n\
                  select from where;\nselect 2;";
    let statements = split(script);
    assert_eq!(statements.len(), 3, "{statements:#?}");
    assert!(statements[1].text.ends_with("end"), "{statements:#?}");
    assert_eq!(statements[2].text, "select from where;\nselect 2;");
    assert_eq!(line_column(script, statements[2].offset), (3, 1));
}

#[test]
fn row_writes_are_told_from_statements_that_may_make_objects() {
    let script = "insert into a values (1); update a set x = 1; delete from a; \
                  select f(); create table b (x int); do $$ begin null; end $$";
    let kinds: Vec<bool> = split(script)
        .iter()
        .map(Statement::writes_rows_only)
        .collect();
    assert_eq!(kinds, [true, true, true, false, false, false]);
}

#[test]
fn copy_from_stdin_is_told_apart() {
    let script = "copy a from stdin;\n1\n2\n\\.\nselect 1;";
    let statements = split(script);
    assert!(statements[0].copies_from_stdin(), "{statements:#?}");
    assert!(!split("copy a to stdout")[0].copies_from_stdin());
}

#[test]
fn identity_changes_are_found_however_they_are_written() {
    let forged = [
        "select 1, set_config(E'request.jwt.claim.sub', 'x', true), (select 2), set_config('request.jwt.claim.sub', '', true)",
        "select set_config(E'role', 'service_role', true), (select count(*) from t), set_config(E'role', 'authenticated', true)",
        "set \"request.jwt.claim.sub\" = 'x'",
        "SET LOCAL ROLE service_role",
        "reset role",
        "reset all",
        "set session authorization postgres",
        "select pg_catalog.set_config('ro' || 'le', 'service_role', true)",
        "select set_config(U&'r\\006fle', 'service_role', true)",
        "with x as (select set_config('role'::text, 'a', true)) select * from x",
        "select case when true then set_config('request.headers', '{}', true) end",
        "select query_to_xml('select 1', false, false, '')",
        "do $$ begin perform 1; end $$",
        "select U&\"\\0073et_config\"('role', 'service_role', true)",
    ];
    for sql in forged {
        assert!(leaves_principal(sql).is_some(), "{sql}");
    }
}

#[test]
fn ordinary_requests_and_the_tenant_context_stay_allowed() {
    for sql in [
        "select * from agents where name = 'set_config(''role'''",
        "select set_config('app.current_tenant_id', '00000000-0000-0000-0000-000000000002', true)",
        "update agents set name = 'x' where id = 1",
        "select current_setting('role')",
        "not sql at all",
    ] {
        assert_eq!(leaves_principal(sql), None, "{sql}");
    }
}

#[test]
fn writes_without_a_where_are_found_wherever_they_are() {
    for (sql, command) in [
        ("delete from agents", "DELETE"),
        ("update agents set name = 'x'", "UPDATE"),
        (
            "with gone as (delete from agents returning id) select count(*) from gone",
            "DELETE",
        ),
        (
            "update agents set name = 'x' where id = 1; delete from tools",
            "DELETE",
        ),
    ] {
        assert_eq!(unfiltered_write(sql), Some(command), "{sql}");
    }
    for sql in [
        "delete from agents where id = 1",
        "update agents set name = 'x' where true",
        "select 'delete from agents'",
        "insert into agents (name) values ('update')",
        "not sql at all",
    ] {
        assert_eq!(unfiltered_write(sql), None, "{sql}");
    }
}

#[test]
fn write_forms_are_read_from_the_parse_tree() {
    let form = |sql| write_form(sql).map(|f| (f.command, f.returns_rows, f.on_conflict));
    assert_eq!(
        form("insert into agents (name) values ('x') returning *"),
        Some(("INSERT", true, None))
    );
    assert_eq!(
        form("insert into agents (id, name) values (1, 'x') on conflict (id) do update set name = excluded.name"),
        Some(("INSERT", false, Some("DO UPDATE")))
    );
    assert_eq!(
        form("insert into agents (id) values (1) on conflict do nothing"),
        Some(("INSERT", false, Some("DO NOTHING")))
    );
    assert_eq!(
        form("update agents set name = 'x' where id = 1"),
        Some(("UPDATE", false, None))
    );
    assert_eq!(
        form("delete from agents where id = 1 returning id"),
        Some(("DELETE", true, None))
    );
    assert_eq!(form("select 1"), None);
    assert_eq!(
        form("delete from a where id = 1; delete from b where id = 1"),
        None
    );
}

#[test]
fn a_statement_ends_at_its_last_token() {
    assert_eq!(
        up_to_last_token("insert into a values (1) -- note\n;\n/* more */"),
        "insert into a values (1)"
    );
    assert_eq!(
        up_to_last_token("delete from a where b = ';'"),
        "delete from a where b = ';'"
    );
}

#[test]
fn relations_are_qualified_and_listed_once() {
    assert_eq!(
        relations("select a.name from agents a join public.tools t on true where a.id in (select id from agents)"),
        ["public.agents", "public.tools"]
    );
    assert_eq!(
        relations("update auth.users set email = 'x' where id = 1"),
        ["auth.users"]
    );
    assert!(relations("select 1").is_empty());
    assert!(relations("selec nothing").is_empty());
}

#[test]
fn string_constants_become_parameters_where_their_place_gives_the_type() {
    let (template, constants) = parameterized(
        "update public.tools set name = 'it''s', shared_with = '{}'::uuid[] \
         where id = 'a1'::uuid and day > date '2026-12-06'",
    )
    .unwrap();
    assert_eq!(
        template,
        "update public.tools set name = $1, shared_with = $2::uuid[] \
         where id = $3::uuid and day > date '2026-12-06'"
    );
    assert_eq!(constants, ["'it''s'", "'{}'", "'a1'"]);
    let (template, constants) =
        parameterized("select set_config('role', 'anon', true), f(E'x\\n')").unwrap();
    assert_eq!(template, "select set_config($1, $2, true), f($3)");
    assert_eq!(constants, ["'role'", "'anon'", "E'x\\n'"]);
    // A constant in a comment or an identifier in quotes is no constant.
    let (template, constants) = parameterized("select \"a'b\" from t -- where x = 'y'\n").unwrap();
    assert_eq!(template, "select \"a'b\" from t -- where x = 'y'\n");
    assert!(constants.is_empty());
}

#[test]
fn only_one_preparable_statement_without_parameters_is_prepared() {
    assert!(parameterized("select $1").is_none());
    assert!(parameterized("select 1; select 2").is_none());
    assert!(parameterized("set constraints all immediate").is_none());
    assert!(parameterized("truncate agents").is_none());
    assert!(parameterized("select 1;").is_some());
}

#[test]
fn one_plain_statement_is_read_as_the_parser_reads_it() {
    for sql in [
        "select id::text from public.agents",
        "  -- a probe\n update public.tools set name = 'x;y' where id = '1'::uuid ;  ",
        "delete from t where a = 1; -- done",
        "/* c */ insert into t (a) values ('a')",
        "values (1), (2);",
    ] {
        let fast = one_plain_statement(sql).unwrap();
        assert_eq!(Some(vec![fast]), parsed(sql, 0), "{sql}");
    }
    for sql in [
        "select 1; select 2",
        "with x as (select 1) select * from x",
        "set role anon",
    ] {
        assert!(one_plain_statement(sql).is_none(), "{sql}");
    }
}

#[test]
fn a_shape_that_does_not_leave_clears_its_texts_and_one_that_might_is_read_whole() {
    assert_eq!(
        leaves_principal("update t set a = 'role' where id = 'x'"),
        None
    );
    assert_eq!(
        leaves_principal("select set_config('role', 'service_role', true)").as_deref(),
        Some("set_config('role', ...)")
    );
    assert_eq!(
        leaves_principal("select set_config('app.x', 'y', true)"),
        None
    );
    // Adjacent constants are one constant to the scanner too.
    assert_eq!(
        leaves_principal("select set_config('ro'\n'le', 'service_role', true)").as_deref(),
        Some("set_config('role', ...)")
    );
    // A shape is read by the parser as its text is (`extract($1 from ...)` parses), so
    // the setting it names at run time is seen.
    assert_eq!(
        leaves_principal(
            "select extract('year' from now()), set_config('role', 'service_role', true)"
        )
        .as_deref(),
        Some("set_config('role', ...)")
    );
    assert_eq!(
        unfiltered_write("update t set a = extract('year' from now())"),
        Some("UPDATE")
    );
    assert_eq!(unfiltered_write("delete from t"), Some("DELETE"));
    assert_eq!(unfiltered_write("update t set a = 'b'"), Some("UPDATE"));
    assert_eq!(
        unfiltered_write("update t set a = 'b' where id = 'c'"),
        None
    );
}
