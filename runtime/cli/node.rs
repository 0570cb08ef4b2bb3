//! `wasmpod node`: this machine joins a Kubernetes cluster as a node and
//! runs the pods the cluster binds to it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use wasmpod::Runtime;
use wasmpod::node::{ApiClient, NodeAgent, NodeConfig};

use super::remote::{state_dir, tokio};
use super::{Exit, ExitContext, Failure};

pub(crate) const AFTER_HELP: &str = "\
Registers a Node (labelled and tainted wasmpod.dev/runtime=true, so only
pods that tolerate it land here: examples/cluster/runtimeclass.yaml gives the
toleration and node selector through `runtimeClassName: wasmpod`), renews
its Lease every 10 s, runs the pods bound to it, reports their status, and
ends their graceful deletion. The kubeconfig names the API server and the
node's client certificate (CN=system:node:NAME, O=system:nodes).
Ctrl-C stops every pod and exits; the cluster then sees the node go
NotReady and moves its pods elsewhere.

The kubelet API (--kubelet-port) serves `kubectl logs`, `exec`, `attach`
and `port-forward` through the API server, and /stats/summary and
/metrics/resource, to clients with a certificate of the cluster's CA (or
--client-ca-file's), each request authorized by a SubjectAccessReview.

Pod IPs come from the Node's spec.podCIDR; the pods' events are posted to
the cluster. The cluster's Services are served to the pods at their
ClusterIPs with the endpoints of their EndpointSlices, and by name through
the pods' cluster DNS, and the cluster's NetworkPolicies are enforced on
its pods (the node's identity needs what examples/cluster/node-rbac.yaml
grants: list and watch of Services, EndpointSlices, Nodes, pods,
namespaces and NetworkPolicies). With --pod-network routed (Linux) pods
of other nodes reach this node's pods at their IPs (TCP and UDP);
--host-gw-routes adds the routes between nodes on one segment. NodePort
Services get their TCP node ports on every address of this machine.

A node agent started again resumes its pods: the same pod IPs and start
times, each container's restart count one higher.

Projected service-account tokens are renewed once 80 % of their lifetime
has passed (--token-refresh-percent), as the kubelet renews them.

With --bootstrap-kubeconfig, a node without its kubeconfig gets its client
certificate through the cluster's CSR API, as the kubelet's TLS bootstrap.

Not yet: UDP node ports, UDP Services with endpoints on other nodes
without routed mode, rotating the node's client certificate.";

#[derive(Args)]
pub(crate) struct NodeArgs {
    /// The cluster and the node's credentials (client certificate). With
    /// --bootstrap-kubeconfig, written there once the cluster signs the
    /// node's request, unless it exists.
    #[arg(long, value_name = "FILE")]
    kubeconfig: PathBuf,
    /// A kubeconfig with a bootstrap token: when --kubeconfig does not
    /// exist, the node asks the cluster for its client certificate with a
    /// CertificateSigningRequest (TLS bootstrap, as the kubelet's flag).
    #[arg(long, value_name = "FILE")]
    bootstrap_kubeconfig: Option<PathBuf>,
    /// The Node's name (default: this machine's hostname).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The address the cluster reaches this node at (InternalIP).
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    address: String,
    /// The port of the node's kubelet API, as the Node announces it.
    #[arg(long, value_name = "PORT", default_value_t = 10250)]
    kubelet_port: u16,
    /// Pods the node takes (its `capacity.pods`).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_pods: u32,
    /// How other nodes reach this node's pods: `routed` makes the node's
    /// podCIDR the host's own (Linux, CAP_NET_ADMIN: a `local` route), so
    /// pods are reached at their IPs and connect from them; `none` leaves
    /// them reachable only from this node, connecting out from the node's
    /// address.
    #[arg(long, value_name = "MODE", default_value = "none", value_parser = ["routed", "none"])]
    pod_network: String,
    /// Adds a host route to each other node's podCIDR through its
    /// InternalIP (nodes on one network segment; Linux, CAP_NET_ADMIN).
    #[arg(long)]
    host_gw_routes: bool,
    /// The CA whose client certificates the kubelet API accepts (the API
    /// server's kubelet client; default: the kubeconfig's cluster CA). k3s
    /// signs clients with a CA of their own: its server/tls/client-ca.crt.
    #[arg(long, value_name = "FILE")]
    client_ca_file: Option<PathBuf>,
    /// Renews a projected service-account token once this share of its
    /// lifetime has passed (percent; the kubelet's 80, at the latest after
    /// 24 hours).
    #[arg(long, value_name = "PERCENT", default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    token_refresh_percent: u8,
    #[command(flatten)]
    runtime: super::runtime_args::RuntimeArgs,
}

pub(crate) fn run(state: Option<&Path>, args: NodeArgs) -> Result<Exit, Failure> {
    super::raise_open_file_limit();
    let state = state_dir(state)?;
    let mut config = args.runtime.config(state)?;
    let name = args.name.clone().unwrap_or_else(|| gethostname::gethostname().to_string_lossy().to_lowercase());
    if let Some(bootstrap) = &args.bootstrap_kubeconfig {
        let quiet = args.runtime.quiet;
        let say = |what: &str| {
            if !quiet {
                eprintln!("wasmpod: {what}");
            }
        };
        tokio()?
            .block_on(wasmpod::node::bootstrap(bootstrap, &args.kubeconfig, &name, &say))
            .with_context(|| format!("node {name}: TLS bootstrap with {}", bootstrap.display()))
            .exit(Exit::Runtime)?;
    }
    let api = ApiClient::from_kubeconfig(&args.kubeconfig).exit(Exit::Usage)?;
    let client_ca = match &args.client_ca_file {
        Some(f) => Some(std::fs::read_to_string(f).with_context(|| format!("--client-ca-file {}", f.display())).exit(Exit::Usage)?),
        None => None,
    };
    // Events and statuses name the node as the cluster knows it.
    config.node_name = name.clone();
    let (tap, events) = wasmpod::node::event_tap(config.tap.take());
    config.tap = Some(tap);
    let node = NodeConfig {
        name: name.clone(),
        address: args.address,
        kubelet_port: args.kubelet_port,
        pods: args.max_pods,
        routed: args.pod_network == "routed",
        host_gw_routes: args.host_gw_routes,
        client_ca,
        token_refresh_percent: args.token_refresh_percent,
    };
    tokio()?.block_on(async move {
        let runtime = Arc::new(Runtime::new(config).exit(Exit::Runtime)?);
        let mut agent = NodeAgent::new(api, runtime.clone(), node);
        let _kubelet = agent.serve_kubelet_api().with_context(|| format!("cannot serve the kubelet API of node {name}")).exit(Exit::Runtime)?;
        let uid = agent.register().await.with_context(|| format!("cannot register node {name}")).exit(Exit::Runtime)?;
        if !args.runtime.quiet {
            eprintln!("wasmpod: node {name} registered; running the pods the cluster binds to it (Ctrl-C stops them)");
        }
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        agent.run(uid, Some(events), stop).await;
        eprintln!("\nwasmpod: stopping every pod of node {name}...");
        runtime.shutdown().await;
        Ok(Exit::Interrupted)
    })
}
