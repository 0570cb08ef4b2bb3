//! `wasmpod kubeconfig`: prints the kubeconfig that `run` and `serve`
//! write for their Kubernetes API (`--listen`), for kubectl and client
//! libraries (`kubectl --kubeconfig <(wasmpod kubeconfig) get pods`).

use std::path::Path;

use anyhow::Context;

use super::remote::state_dir;
use super::{Exit, ExitContext, Failure};

pub(crate) fn run(state: Option<&Path>) -> Result<Exit, Failure> {
    let state = state_dir(state)?;
    let path = wasmpod::api::kubeconfig_path(&state);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            print!("{text}");
            Ok(Exit::Success)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure {
            exit: Exit::Unreachable,
            error: anyhow::anyhow!(
                "no kubeconfig in state directory {}: `wasmpod serve` (or `run`) makes one when it starts its Kubernetes API",
                state.display()
            ),
        }),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())).exit(Exit::Runtime),
    }
}

/// Merges the kubeconfig's cluster, user and context `wasmpod` into the
/// user's kubeconfig (`$KUBECONFIG`'s first file, else `~/.kube/config`),
/// replacing entries of that name and keeping every other; the current
/// context becomes `wasmpod`. Returns the file written.
pub(crate) fn merge(ours: &Path) -> Result<std::path::PathBuf, Failure> {
    let target = match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(list) => std::env::split_paths(&list).next().context("KUBECONFIG names no file").exit(Exit::Usage)?,
        None => directories::BaseDirs::new().context("no home directory for ~/.kube/config").exit(Exit::Runtime)?.home_dir().join(".kube").join("config"),
    };
    let text = std::fs::read_to_string(ours).with_context(|| format!("cannot read {}", ours.display())).exit(Exit::Runtime)?;
    let ours: serde_json::Value = serde_saphyr::from_str(&text).context("our kubeconfig").exit(Exit::Runtime)?;
    let mut theirs: serde_json::Value = match std::fs::read_to_string(&target) {
        Ok(t) if !t.trim().is_empty() => serde_saphyr::from_str(&t).with_context(|| format!("{} is not a kubeconfig", target.display())).exit(Exit::Invalid)?,
        Ok(_) => serde_json::json!({"apiVersion": "v1", "kind": "Config"}),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({"apiVersion": "v1", "kind": "Config"}),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", target.display())).exit(Exit::Runtime),
    };
    let Some(map) = theirs.as_object_mut() else {
        return Err(Failure { exit: Exit::Invalid, error: anyhow::anyhow!("{} is not a kubeconfig (not a mapping)", target.display()) });
    };
    for section in ["clusters", "users", "contexts"] {
        let list = map.entry(section).or_insert_with(|| serde_json::json!([]));
        if !list.is_array() {
            *list = serde_json::json!([]);
        }
        let list = list.as_array_mut().expect("made an array above");
        list.retain(|e| e.get("name").and_then(|n| n.as_str()) != Some("wasmpod"));
        list.extend(ours[section].as_array().cloned().unwrap_or_default());
    }
    map.insert("current-context".into(), "wasmpod".into());
    let yaml = serde_saphyr::to_string(&theirs).context("the merged kubeconfig").exit(Exit::Runtime)?;
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display())).exit(Exit::Runtime)?;
    }
    wasmpod::write_atomic(&target, yaml.as_bytes()).with_context(|| format!("cannot write {}", target.display())).exit(Exit::Runtime)?;
    Ok(target)
}
