//! The library's modules import one way: each top-level module of
//! `runtime/` may use only modules of lower layers (docs/architecture.md
//! draws the same table). A new import upward or sideways, and so any
//! import cycle, fails here with the file that makes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Bottom first. A module may import the modules of the layers below its
/// own, never its own layer's or a higher one's.
const LAYERS: &[&[&str]] = &[
    &["error_text", "manifest", "image", "store", "security"],
    &["limits", "registry"],
    &["engine"],
    &["volume", "net", "ipc"],
    &["sandbox"],
    &["probe"],
    &["pod"],
    &["runtime"],
    &["api"],
    // The node agent of a real cluster serves its kubelet API with the
    // API's streams.
    &["node"],
    // `wasmpod bench` measures the API too, and a real API server through
    // the node agent's client.
    &["bench"],
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of the library belongs to (none: the
/// crate root, or the binary's `cli/` and `main.rs`, which use only
/// `wasmpod::`).
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (!matches!(name.as_str(), "lib" | "main" | "cli")).then_some(name)
}

/// `name` -> the module whose item the crate root re-exports under it
/// (`crate::Error` is `runtime`'s).
fn root_reexports() -> HashMap<String, String> {
    let lib = std::fs::read_to_string(root().join("lib.rs")).unwrap();
    let mut out = HashMap::new();
    // Statements, not lines: rustfmt spreads a long `pub use` over several.
    let statements = lib.split(';').map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
    for statement in statements {
        let Some(start) = statement.find("pub use ") else { continue };
        let rest = &statement[start + "pub use ".len()..];
        let Some((module, items)) = rest.split_once("::") else { continue };
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.trim().rsplit("::").next().unwrap().rsplit(" as ").next().unwrap().trim();
            if !name.is_empty() {
                out.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    out
}

/// Every name that follows `prefix` (`crate::`, `super::`...), as a path
/// or in a `prefix{..}` group; a prefix that continues another path
/// (`wasmpod_crate::`, the `super::` of `super::super::`) is not one.
fn names_after(source: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find(prefix) {
        let preceded = rest[..i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        rest = &rest[i + prefix.len()..];
        if preceded {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            out.extend(group[..end].split(',').map(|item| item.trim().split("::").next().unwrap().to_owned()));
        } else {
            out.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    out
}

/// Every name that follows `crate::`.
fn crate_paths(source: &str) -> Vec<String> {
    names_after(source, "crate::")
}

#[test]
fn modules_import_only_lower_layers() {
    let layer: HashMap<&str, usize> = LAYERS.iter().enumerate().flat_map(|(i, l)| l.iter().map(move |m| (*m, i))).collect();
    let reexports = root_reexports();
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    let mut modules = BTreeSet::new();
    let mut wrong = Vec::new();
    for file in &files {
        let Some(from) = module_of(file) else { continue };
        modules.insert(from.clone());
        let Some(&from_layer) = layer.get(from.as_str()) else { continue };
        let source = std::fs::read_to_string(file).unwrap();
        for name in crate_paths(&source) {
            let to = reexports.get(&name).cloned().unwrap_or(name);
            let Some(&to_layer) = layer.get(to.as_str()) else { continue };
            if to != from && to_layer >= from_layer {
                wrong.push(format!("{}: {from} (layer {from_layer}) imports {to} (layer {to_layer})", file.strip_prefix(root()).unwrap().display()));
            }
        }
    }
    let unplaced: Vec<_> = modules.iter().filter(|m| !layer.contains_key(m.as_str())).collect();
    assert!(unplaced.is_empty(), "modules missing from LAYERS (place them in tests/all/layers.rs and docs/architecture.md): {unplaced:?}");
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

/// The names a file uses from its top-level module's other children:
/// `super::x` (from a child file), `super::super::x` (from a grandchild),
/// `crate::<module>::x`; test code is left out (a test may reach anywhere).
fn sibling_paths(source: &str, module: &str, depth: usize) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let up = "super::".repeat(depth + 1);
    let mut out = names_after(code, &up);
    out.extend(names_after(code, &format!("crate::{module}::")));
    out
}

/// A cycle in `graph`, if any, as the path that closes it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(node: &str, graph: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_children_of_each_module_import_one_way() {
    let mut cycles = Vec::new();
    for entry in std::fs::read_dir(root()).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() || dir.file_name().is_some_and(|n| n == "cli") {
            continue;
        }
        let module = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        let child_of = |f: &Path| -> Option<String> {
            let first = f.strip_prefix(&dir).unwrap().components().next()?.as_os_str().to_str()?.to_owned();
            let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
            (name != "mod").then_some(name)
        };
        let children: BTreeSet<String> = files.iter().filter_map(|f| child_of(f)).collect();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let Some(from) = child_of(f) else { continue };
            // A child's `mod.rs` is at the child's own level.
            let depth = f.strip_prefix(&dir).unwrap().components().count() - 1 - usize::from(f.ends_with("mod.rs"));
            let source = std::fs::read_to_string(f).unwrap();
            for to in sibling_paths(&source, &module, depth) {
                if to != from && children.contains(&to) {
                    graph.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        if let Some(cycle) = find_cycle(&graph) {
            cycles.push(format!("{module}/: {}", cycle.join(" -> ")));
        }
    }
    assert!(cycles.is_empty(), "import cycles between the files of a module:\n{}", cycles.join("\n"));
}

#[test]
fn the_check_sees_imports_in_every_form() {
    let found = crate_paths("use crate::net::Pipe;\nuse crate::{pod, store::StateDir};\nlet x = crate::sandbox::run();\nwasmpod_crate::x");
    assert_eq!(found, ["net", "pod", "store", "sandbox"]);
    assert_eq!(root_reexports().get("Runtime").map(String::as_str), Some("runtime"));
    assert_eq!(root_reexports().get("ExecError").map(String::as_str), Some("pod"), "found in a multi-line `pub use`");
    let siblings = sibling_paths("use super::a::X;\nuse super::{b, c::Y};\nlet z = crate::net::d::f();\n#[cfg(test)]\nuse super::e;", "net", 0);
    assert_eq!(siblings, ["a", "b", "c", "d"]);
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", "b"), ("b", "c"), ("c", "a")].iter().map(|(f, t)| (f.to_string(), BTreeSet::from([t.to_string()]))).collect();
    assert_eq!(find_cycle(&graph), Some(["a", "b", "c", "a"].map(String::from).to_vec()));
}
