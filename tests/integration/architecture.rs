//! ARCHITECTURE.md stays true: every module has a heading in its code map and a layer
//! in its table of dependency direction; a module imports only modules of its own layer
//! or lower ones, and no modules import each other around a circle; the model imports
//! nothing of the database; the report imports only the record; only the profile names
//! the schema; only the backend starts processes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The code of `src`, by top-level module: each file's text without comment lines and
/// without its unit tests (test files, fixtures, and everything from `#[cfg(test)]`).
fn modules() -> BTreeMap<String, Vec<(String, String)>> {
    let mut modules: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut pending = vec![Path::new("src").to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".rs") || name.ends_with("tests.rs") || name == "fixture.rs" {
                continue;
            }
            let relative = path.strip_prefix("src").unwrap();
            let top = relative
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            if ["main", "lib", "cli"].contains(&top.as_str()) {
                continue;
            }
            let mut code = String::new();
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                if line.trim_start().starts_with("#[cfg(test)]") {
                    break;
                }
                if !line.trim_start().starts_with("//") {
                    code.push_str(line);
                    code.push('\n');
                }
            }
            modules
                .entry(top)
                .or_default()
                .push((path.display().to_string(), code));
        }
    }
    modules
}

/// Which modules each module imports (`crate::name`).
fn imports(
    modules: &BTreeMap<String, Vec<(String, String)>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges = BTreeMap::new();
    for (module, files) in modules {
        let found: &mut BTreeSet<String> = edges.entry(module.clone()).or_default();
        for (_, code) in files {
            for (at, _) in code.match_indices("crate::") {
                let name: String = code[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != *module {
                    found.insert(name);
                }
            }
        }
    }
    edges
}

/// The layers of ARCHITECTURE.md's table: `| 3 | `catalog`, `profile` | ... |`.
fn layers(architecture: &str) -> BTreeMap<String, u32> {
    let mut layers = BTreeMap::new();
    for line in architecture.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(layer) = cells.get(1).and_then(|c| c.parse::<u32>().ok()) else {
            continue;
        };
        for name in cells[2].split('`').skip(1).step_by(2) {
            layers.insert(name.to_owned(), layer);
        }
    }
    layers
}

#[test]
fn every_module_has_a_heading_and_a_layer_and_imports_only_downward() {
    let architecture = std::fs::read_to_string("ARCHITECTURE.md").unwrap();
    let modules = modules();
    let layers = layers(&architecture);
    for module in modules.keys() {
        assert!(
            architecture.contains(&format!("### `{module}`")),
            "ARCHITECTURE.md has no heading for {module}"
        );
        assert!(layers.contains_key(module), "{module} has no layer");
    }
    for name in layers.keys() {
        assert!(
            modules.contains_key(name),
            "the layer table names {name}, which is gone"
        );
    }
    let edges = imports(&modules);
    let mut upward = Vec::new();
    for (module, targets) in &edges {
        for target in targets {
            if layers.get(target) > layers.get(module) {
                upward.push(format!("{module} -> {target}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up: {upward:?}");
}

#[test]
fn no_modules_import_each_other_around_a_circle() {
    let edges = imports(&modules());
    // A module reaches a circle when it reaches itself.
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut pending: Vec<&String> = edges[start].iter().collect();
        while let Some(next) = pending.pop() {
            assert_ne!(next, start, "{start} imports itself around a circle");
            if seen.insert(next.clone()) {
                pending.extend(edges.get(next).into_iter().flatten());
            }
        }
    }
}

#[test]
fn the_model_knows_no_database_and_the_report_knows_only_the_record() {
    let edges = imports(&modules());
    assert_eq!(
        edges["model"],
        BTreeSet::from(["rule".to_owned()]),
        "the model imports only the names of invariants"
    );
    let report: Vec<&String> = edges["report"]
        .iter()
        .filter(|m| !["record", "rule", "snapshot"].contains(&m.as_str()))
        .collect();
    assert!(report.is_empty(), "report imports {report:?}");
}

#[test]
fn only_the_backend_starts_processes() {
    for (module, files) in modules() {
        for (file, code) in files {
            let starts = ["process::Command", "tokio::process", "Command::new("]
                .iter()
                .any(|needle| code.contains(needle));
            assert!(module == "backend" || !starts, "{file} starts a process");
        }
    }
}

/// The shipped profile's names of tables, functions, settings, headers and seeded
/// tenants are written nowhere in `src/` but in the profile module.
#[test]
fn only_the_profile_names_the_schema() {
    let profile = crate::support::profile().expect("the shipped profile");
    let short = |name: &str| {
        let name = name.split('(').next().unwrap_or(name);
        name.rsplit('.').next().unwrap_or(name).to_owned()
    };
    let mut names: BTreeSet<String> = BTreeSet::new();
    names.insert(short(&profile.memberships.table.name));
    if let Some(assign) = &profile.memberships.assign {
        names.insert(short(&assign.function.name));
        names.insert(assign.tenant.name.clone());
    }
    if let Some(admins) = &profile.admins {
        names.insert(short(&admins.table.name));
        names.insert(admins.value.name.clone());
        names.extend(admins.grant.as_ref().map(|g| short(&g.name)));
    }
    if let Some(context) = &profile.context {
        names.insert(short(&context.function.name));
        names.insert(context.setting.name.clone());
        names.insert(context.header.name.clone());
        names.extend(context.pre_request.as_ref().map(|p| short(&p.name)));
    }
    if let Some(sharing) = &profile.sharing {
        for table in &sharing.tables {
            names.insert(short(&table.name));
        }
        names.extend(
            sharing
                .lists
                .as_ref()
                .map(|l| short(&l.name).replace("{table}", "")),
        );
        names.extend(sharing.view.as_ref().map(|v| short(&v.view.name)));
        names.extend(sharing.audit.as_ref().map(|a| short(&a.table.name)));
    }
    assert!(names.len() > 10, "{names:?}");
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut found = Vec::new();
    for (module, files) in modules() {
        if module == "profile" {
            continue;
        }
        for (file, code) in files {
            for name in &names {
                let named = code.match_indices(name.as_str()).any(|(at, _)| {
                    let before = code[..at].chars().next_back();
                    let after = code[at + name.len()..].chars().next();
                    // A prefix (the list functions' `get_accessible_`) counts wherever
                    // it starts a word.
                    let ends = name.ends_with('_') || !after.is_some_and(is_word);
                    !before.is_some_and(is_word) && ends
                });
                if named {
                    found.push(format!("{file}: {name}"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the schema is named outside the profile: {found:?}"
    );
}
