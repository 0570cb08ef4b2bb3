//! A pod's `/etc/resolv.conf`, as the kubelet forms it from `dnsPolicy` and
//! `dnsConfig` (pkg/kubelet/network/dns/dns.go) and a container runtime
//! writes it: `search`, then one `nameserver` line each, then `options`.
//!
//! - `ClusterFirst` (the default; and `ClusterFirstWithHostNet`): the
//!   cluster's search domains (`<ns>.svc.cluster.local svc.cluster.local
//!   cluster.local`) then the host's, the cluster DNS server
//!   (`nameserver 10.96.0.10`, `net/dns.rs`, for guests that ask DNS
//!   themselves; wasi:sockets' `ip-name-lookup` answers from the same
//!   names without it), and `options ndots:5`.
//!   A `ClusterFirst` pod on the host network uses `Default`, as in Kubernetes.
//! - `Default`: the host's resolv.conf (nameservers, search, options).
//! - `None`: only what `dnsConfig` gives.
//!
//! `dnsConfig` is then appended (duplicates dropped, options merged by
//! name) and the result cut to the kubelet's limits (3 nameservers, 32
//! search domains, 2048 characters of search line), each cut a Warning
//! `DNSConfigForming` event.

use k8s_openapi::api::core::v1::PodSpec;

/// The cluster's DNS domain.
pub(crate) const CLUSTER_DOMAIN: &str = "cluster.local";
/// The kubelet's limits (`validation.MaxDNSNameservers` and friends).
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;
const MAX_SEARCH_CHARS: usize = 2048;

/// A formed resolver configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    /// The file's text, as containerd and CRI-O write it.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }

    /// Reads a resolv.conf: `nameserver` lines, the last `search` (or
    /// `domain`) line, the last `options` line; `#` and `;` start comments.
    pub(crate) fn parse(text: &str) -> Self {
        let mut conf = Self::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or_default();
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => conf.nameservers.extend(fields.next().map(str::to_owned)),
                Some("search" | "domain") => conf.searches = fields.filter(|s| *s != ".").map(|s| s.trim_end_matches('.').to_owned()).collect(),
                Some("options") => conf.options = fields.map(str::to_owned).collect(),
                _ => {}
            }
        }
        conf
    }
}

/// What the pod's DNS comes from, besides its spec.
#[derive(Debug, Clone, Default)]
pub(crate) struct DnsHost {
    /// The host's resolv.conf (`Default` pods get it; `ClusterFirst` pods
    /// its search domains).
    pub host: ResolvConf,
}

impl DnsHost {
    /// The host's `/etc/resolv.conf` where the platform has one (Linux,
    /// macOS, BSDs); none elsewhere.
    pub(crate) fn from_system() -> Self {
        let host =
            if cfg!(unix) { std::fs::read_to_string("/etc/resolv.conf").map(|t| ResolvConf::parse(&t)).unwrap_or_default() } else { ResolvConf::default() };
        Self { host }
    }
}

/// The resolver configuration of a pod in `namespace`, with the Warning
/// `DNSConfigForming` messages of any limit it went over.
pub(crate) fn resolv_conf(spec: &PodSpec, namespace: &str, host: &DnsHost) -> (ResolvConf, Vec<String>) {
    let host_network = spec.host_network == Some(true);
    let mut conf = match (spec.dns_policy.as_deref().unwrap_or("ClusterFirst"), host_network) {
        ("None", _) => ResolvConf::default(),
        ("ClusterFirst", false) | ("ClusterFirstWithHostNet", _) => {
            let mut searches = vec![format!("{namespace}.svc.{CLUSTER_DOMAIN}"), format!("svc.{CLUSTER_DOMAIN}"), CLUSTER_DOMAIN.to_owned()];
            searches.extend(host.host.searches.iter().cloned());
            ResolvConf { nameservers: vec![crate::net::CLUSTER_DNS.ip().to_string()], searches, options: vec!["ndots:5".to_owned()] }
        }
        _ => host.host.clone(),
    };
    if let Some(extra) = &spec.dns_config {
        conf.nameservers.extend(extra.nameservers.iter().flatten().cloned());
        conf.searches.extend(extra.searches.iter().flatten().cloned());
        for o in extra.options.iter().flatten() {
            let option = match &o.value {
                Some(v) => format!("{}:{v}", o.name.as_deref().unwrap_or_default()),
                None => o.name.clone().unwrap_or_default(),
            };
            let name = |s: &str| s.split(':').next().unwrap_or_default().to_owned();
            match conf.options.iter_mut().find(|e| name(e) == name(&option)) {
                Some(existing) => *existing = option,
                None => conf.options.push(option),
            }
        }
    }
    dedup(&mut conf.nameservers);
    dedup(&mut conf.searches);
    let mut warnings = Vec::new();
    if conf.nameservers.len() > MAX_NAMESERVERS {
        conf.nameservers.truncate(MAX_NAMESERVERS);
        warnings.push(format!(
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
            conf.nameservers.join(" ")
        ));
    }
    let mut cut = conf.searches.len() > MAX_SEARCHES;
    conf.searches.truncate(MAX_SEARCHES);
    while conf.searches.join(" ").len() > MAX_SEARCH_CHARS {
        conf.searches.pop();
        cut = true;
    }
    if cut {
        warnings
            .push(format!("Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}", conf.searches.join(" ")));
    }
    (conf, warnings)
}

/// Drops later duplicates, keeping the order.
fn dedup(list: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|s| seen.insert(s.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodDNSConfig, PodDNSConfigOption};

    fn host() -> DnsHost {
        DnsHost {
            host: ResolvConf::parse("# made by dhcp\nnameserver 192.168.1.1\nnameserver 8.8.8.8 ; second\nsearch lan. example.org\noptions edns0 ndots:2\n"),
        }
    }

    fn spec(policy: &str, host_network: bool, dns: Option<PodDNSConfig>) -> PodSpec {
        PodSpec { dns_policy: Some(policy.into()), host_network: Some(host_network), dns_config: dns, ..PodSpec::default() }
    }

    #[test]
    fn cluster_first_searches_the_cluster_then_the_host_with_ndots_5() {
        let (conf, warnings) = resolv_conf(&spec("ClusterFirst", false, None), "shop", &host());
        assert_eq!(conf.text(), "search shop.svc.cluster.local svc.cluster.local cluster.local lan example.org\nnameserver 10.96.0.10\noptions ndots:5\n");
        assert!(warnings.is_empty());
        // On the host network ClusterFirst is Default; ClusterFirstWithHostNet is not.
        assert_eq!(resolv_conf(&spec("ClusterFirst", true, None), "shop", &host()).0, host().host);
        assert_eq!(resolv_conf(&spec("ClusterFirstWithHostNet", true, None), "shop", &host()).0.options, ["ndots:5"]);
    }

    #[test]
    fn default_is_the_hosts_file_and_none_only_the_pods_config() {
        let (conf, _) = resolv_conf(&spec("Default", false, None), "default", &host());
        assert_eq!(conf.text(), "search lan example.org\nnameserver 192.168.1.1\nnameserver 8.8.8.8\noptions edns0 ndots:2\n");
        let dns = PodDNSConfig {
            nameservers: Some(vec!["1.2.3.4".into()]),
            searches: Some(vec!["ns1.svc.cluster-domain.example".into(), "my.dns.search.suffix".into()]),
            options: Some(vec![
                PodDNSConfigOption { name: Some("ndots".into()), value: Some("2".into()) },
                PodDNSConfigOption { name: Some("edns0".into()), value: None },
            ]),
        };
        // The kubernetes.io example's file, line for line.
        let (conf, _) = resolv_conf(&spec("None", false, Some(dns)), "default", &host());
        assert_eq!(conf.text(), "search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 1.2.3.4\noptions ndots:2 edns0\n");
    }

    #[test]
    fn dns_config_is_appended_merged_by_option_name_and_cut_to_the_limits() {
        let dns = PodDNSConfig {
            nameservers: Some(vec!["8.8.8.8".into(), "1.1.1.1".into(), "9.9.9.9".into()]),
            searches: Some((0..40).map(|i| format!("s{i}.example")).collect()),
            options: Some(vec![
                PodDNSConfigOption { name: Some("ndots".into()), value: Some("1".into()) },
                PodDNSConfigOption { name: Some("rotate".into()), value: None },
            ]),
        };
        let (conf, warnings) = resolv_conf(&spec("Default", false, Some(dns)), "default", &host());
        assert_eq!(conf.nameservers, ["192.168.1.1", "8.8.8.8", "1.1.1.1"], "the duplicate dropped, then cut to three");
        assert_eq!(conf.options, ["edns0", "ndots:1", "rotate"]);
        assert_eq!(conf.searches.len(), 32);
        assert_eq!(
            warnings,
            [
                "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 192.168.1.1 8.8.8.8 1.1.1.1".to_owned(),
                format!("Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}", conf.searches.join(" ")),
            ]
        );
        let long = PodDNSConfig { searches: Some((0..30).map(|i| format!("{i:02}{}", "x".repeat(80))).collect()), ..PodDNSConfig::default() };
        let (conf, warnings) = resolv_conf(&spec("None", false, Some(long)), "default", &host());
        assert!(conf.searches.join(" ").len() <= MAX_SEARCH_CHARS && conf.searches.len() == 24, "{}", conf.searches.len());
        assert_eq!(warnings.len(), 1);
    }
}
