//! The host's routes for pods (routed mode, Linux): the node's own
//! podCIDR made local (`ip route replace local <podCIDR> dev lo`, so the
//! process can bind every pod address without an interface per pod), and
//! with host-gw routing a route to each other node's podCIDR through its
//! InternalIP (`ip route replace <podCIDR> via <InternalIP>`), for nodes
//! on one network segment. Both need CAP_NET_ADMIN; they are left in place
//! when the agent exits, as a CNI plugin leaves its routes.
//!
//! Other systems have no such route here: routed mode is refused there
//! with why, and pods reach other nodes' pods from the node's address.

/// A route to another node's pods.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Route {
    /// Its podCIDR.
    pub cidr: String,
    /// Its InternalIP.
    pub via: String,
}

/// The host-gw routes this agent installed.
#[derive(Default)]
pub(super) struct HostRoutes {
    installed: Vec<Route>,
}

impl HostRoutes {
    /// Installs the routes of `want` not installed yet (a route of a node
    /// whose address changed is replaced) and removes those no longer
    /// wanted. A route the host refuses is reported and tried again at
    /// the next change.
    pub(super) async fn sync(&mut self, want: &[Route]) {
        for gone in self.installed.iter().filter(|r| !want.iter().any(|w| w.cidr == r.cidr)) {
            if let Err(e) = ip(&["route", "del", &gone.cidr, "via", &gone.via]).await {
                eprintln!("wasmpod node: removing the route to {} via {}: {e}", gone.cidr, gone.via);
            }
        }
        let mut installed = Vec::new();
        for r in want {
            match ip(&["route", "replace", &r.cidr, "via", &r.via]).await {
                Ok(()) => installed.push(r.clone()),
                Err(e) => eprintln!("wasmpod node: the route to {} via {}: {e}", r.cidr, r.via),
            }
        }
        self.installed = installed;
    }
}

/// Makes `cidr` the host's own (routed mode); why it cannot.
pub(super) async fn own_pod_cidr(cidr: &str) -> Result<(), String> {
    ip(&["route", "replace", "local", cidr, "dev", "lo"]).await
}

#[cfg(target_os = "linux")]
async fn ip(args: &[&str]) -> Result<(), String> {
    let owned: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let run = tokio::task::spawn_blocking(move || std::process::Command::new("ip").args(&owned).stdin(std::process::Stdio::null()).output());
    let out = run
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|e| format!("cannot run `ip {}` (iproute2): {e}", args.join(" ")))?;
    if out.status.success() { Ok(()) } else { Err(format!("`ip {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())) }
}

#[cfg(not(target_os = "linux"))]
async fn ip(args: &[&str]) -> Result<(), String> {
    Err(format!("routed mode programs Linux routes (`ip {}`); on this system pods reach other nodes' pods from the node's address", args.join(" ")))
}
