//! `wasmpod get pods`: list pods as kubectl does.

use std::path::Path;

use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Pod;
use wasmpod::WatchEventType;
use wasmpod::api::{PodRow, Target, pod_row};

use super::remote::{Source, client_failure, live, namespace, state_dir, tokio};
use super::{Exit, ExitContext, Failure};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Wide,
    Yaml,
    Json,
    Name,
}

#[derive(Args)]
pub(crate) struct GetArgs {
    /// The resource type: pods (pod, po), services (service, svc),
    /// endpointslices, endpoints (ep), networkpolicies (netpol), configmaps
    /// (cm), secrets, serviceaccounts (sa).
    #[arg(value_parser = [
        "pods", "pod", "po", "services", "service", "svc", "endpointslices", "endpointslice", "endpoints", "ep", "networkpolicies", "networkpolicy", "netpol",
        "configmaps", "configmap", "cm", "secrets", "secret", "serviceaccounts", "serviceaccount", "sa",
    ])]
    kind: String,
    /// Only these pods.
    names: Vec<String>,
    /// Namespace.
    #[arg(short, long)]
    namespace: Option<String>,
    /// Pods of every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,
    /// Output format.
    #[arg(short, long, value_enum)]
    output: Option<Output>,
    /// After listing, keep printing changes.
    #[arg(short, long)]
    watch: bool,
}

/// Columns padded as kubectl's tabwriter pads them: 3 spaces apart.
pub(crate) struct Table {
    widths: Vec<usize>,
}

impl Table {
    pub fn new(rows: &[Vec<String>]) -> Self {
        let mut widths = Vec::new();
        for row in rows {
            widths.resize(widths.len().max(row.len()), 0);
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        Self { widths }
    }

    pub fn line(&mut self, row: &[String]) -> String {
        let mut out = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                out.push_str(cell);
            } else {
                let w = self.widths.get(i).copied().unwrap_or(0).max(cell.chars().count());
                out.push_str(&format!("{cell:<w$}   "));
            }
        }
        out
    }
}

fn header(all: bool, wide: bool) -> Vec<String> {
    let mut h = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
    if wide {
        h.extend(["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]);
    }
    if all {
        h.insert(0, "NAMESPACE");
    }
    h.into_iter().map(str::to_owned).collect()
}

fn cells(pod: &Pod, all: bool, wide: bool) -> Vec<String> {
    let PodRow { name, ready, status, restarts, age, ip, node } = pod_row(pod, jiff::Timestamp::now());
    let mut c = vec![name, ready, status, restarts, age];
    if wide {
        c.extend([ip, node, "<none>".into(), "<none>".into()]);
    }
    if all {
        c.insert(0, pod.metadata.namespace.clone().unwrap_or_default());
    }
    c
}

/// JSON with kubectl's 4-space indentation.
pub(crate) fn to_json(value: &impl serde::Serialize) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"    "));
    value.serialize(&mut ser).expect("API objects serialize");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// Writes `text` to stdout. When the reader went away (`| head`), the
/// command ends quietly, as kubectl does: Go's runtime dies of SIGPIPE on a
/// write to a closed stdout, where `println!` would panic.
pub(crate) fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => reader_gone(),
        other => other.exit(Exit::Runtime),
    }
}

/// Ends the process as a write to a closed pipe ends kubectl: killed by
/// SIGPIPE on Unix (Rust ignores the signal, so it is restored first), a
/// quiet failure elsewhere.
fn reader_gone() -> ! {
    #[cfg(unix)]
    {
        // SAFETY: restoring the default action of SIGPIPE and raising it
        // touch no memory; the process ends there.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::raise(libc::SIGPIPE);
        }
    }
    std::process::exit(1)
}

fn print_objects(pods: &[Pod], single: bool, output: Output) -> Result<(), Failure> {
    let list = || serde_json::json!({"apiVersion": "v1", "items": pods, "kind": "List", "metadata": {"resourceVersion": ""}});
    match output {
        Output::Json if single => emit(&format!("{}\n", to_json(&pods[0]))),
        Output::Json => emit(&format!("{}\n", to_json(&list()))),
        Output::Yaml if single => emit(&serde_saphyr::to_string(&pods[0]).unwrap_or_default()),
        Output::Yaml => emit(&serde_saphyr::to_string(&list()).unwrap_or_default()),
        Output::Name => {
            for p in pods {
                emit(&format!("pod/{}\n", p.metadata.name.as_deref().unwrap_or_default()))?;
            }
            Ok(())
        }
        Output::Wide => unreachable!("tables are printed by print_table"),
    }
}

pub(crate) fn run(state: Option<&Path>, args: GetArgs) -> Result<Exit, Failure> {
    let state = state_dir(state)?;
    if let Some(resource) = super::get_objects::resource_of(&args.kind) {
        let objects = super::get_objects::ObjectsArgs {
            resource,
            names: &args.names,
            namespace: &args.namespace,
            all_namespaces: args.all_namespaces,
            output: args.output,
            watch: args.watch,
        };
        return super::get_objects::run(&state, objects);
    }
    let ns = namespace(&args.namespace);
    let wide = args.output == Some(Output::Wide);
    let table = args.output.is_none() || wide;
    tokio()?.block_on(async move {
        let source = if args.watch { Source::Live(live(&state, Target::Any).await?) } else { Source::open(&state).await? };
        let mut exit = Exit::Success;
        let pods: Vec<Pod> = if args.names.is_empty() {
            source.list((!args.all_namespaces).then_some(ns.as_str())).await?
        } else {
            let mut found = Vec::new();
            for name in &args.names {
                match source.get(&ns, name).await {
                    Ok(p) => found.push(p),
                    Err(f) => {
                        eprintln!("{}", f.error);
                        exit = f.exit;
                    }
                }
            }
            found
        };
        if !source.is_live() {
            eprintln!("wasmpod: no wasmpod process is running for state directory {}: showing recorded pods", state.display());
        }
        let all = args.all_namespaces;
        // Only tables say so: kubectl prints other formats generically, an
        // empty `List` for json and yaml and nothing for names.
        if pods.is_empty() && args.names.is_empty() && !args.watch && table {
            if all {
                eprintln!("No resources found");
            } else {
                eprintln!("No resources found in {ns} namespace.");
            }
            return Ok(exit);
        }
        let mut rows = vec![header(all, wide)];
        rows.extend(pods.iter().map(|p| cells(p, all, wide)));
        let mut printer = Table::new(&rows);
        if table {
            if !pods.is_empty() {
                for r in &rows {
                    emit(&format!("{}\n", printer.line(r)))?;
                }
            }
        } else if !pods.is_empty() || (!args.watch && args.names.len() != 1) {
            // One name asked for is that object, or only its error; a
            // listing (or several names) is a `List`, empty or not.
            print_objects(&pods, args.names.len() == 1 && !args.watch, args.output.expect("not a table"))?;
        }
        if !args.watch {
            return Ok(exit);
        }
        let Source::Live(client) = source else { unreachable!("watch needs a live process") };
        let name = (args.names.len() == 1).then(|| args.names[0].as_str());
        let mut events = client.watch((!all).then_some(ns.as_str()), name).await.map_err(client_failure)?;
        let mut header_printed = !pods.is_empty();
        while let Some(ev) = events.next().await {
            let ev = ev.map_err(client_failure)?;
            let pod = ev.object;
            if !args.names.is_empty() && !args.names.iter().any(|n| Some(n.as_str()) == pod.metadata.name.as_deref()) {
                continue;
            }
            // The watch starts with the pods just listed.
            if ev.kind == WatchEventType::Added && pods.contains(&pod) {
                continue;
            }
            if table {
                if !header_printed {
                    emit(&format!("{}\n", printer.line(&header(all, wide))))?;
                    header_printed = true;
                }
                emit(&format!("{}\n", printer.line(&cells(&pod, all, wide))))?;
            } else {
                print_objects(std::slice::from_ref(&pod), true, args.output.expect("not a table"))?;
            }
        }
        Ok(exit)
    })
}
