//! The files the kubelet manages in every container that does not use the
//! host's network: `/etc/hosts` (localhost, the pod's IP and hostname, its
//! `hostAliases`), `/etc/hostname` and `/etc/resolv.conf` (formed in
//! `dns.rs`), written into each container's root at each instance start,
//! in the kubelet's format (`managedHostsFileContent` in
//! pkg/kubelet/kubelet_pods.go).

use std::path::Path;

use k8s_openapi::api::core::v1::HostAlias;

/// A pod's managed files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EtcFiles {
    /// `/etc/hosts`.
    pub hosts: String,
    /// `/etc/hostname`.
    pub hostname: String,
    /// `/etc/resolv.conf`.
    pub resolv_conf: String,
}

impl EtcFiles {
    /// The files of a pod with `ips`, `hostname`, the DNS `domain` its
    /// `subdomain` gives it (`<subdomain>.<namespace>.svc.cluster.local`),
    /// `aliases`, and the text of its `resolv_conf`.
    pub(crate) fn new(ips: &[String], hostname: &str, domain: Option<&str>, aliases: &[HostAlias], resolv_conf: String) -> Self {
        let mut hosts = String::from("# Kubernetes-managed hosts file.\n");
        hosts.push_str("127.0.0.1\tlocalhost\n");
        hosts.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
        hosts.push_str("fe00::0\tip6-localnet\n");
        hosts.push_str("fe00::0\tip6-mcastprefix\n");
        hosts.push_str("fe00::1\tip6-allnodes\n");
        hosts.push_str("fe00::2\tip6-allrouters\n");
        for ip in ips {
            match domain {
                Some(d) => hosts.push_str(&format!("{ip}\t{hostname}.{d}\t{hostname}\n")),
                None => hosts.push_str(&format!("{ip}\t{hostname}\n")),
            }
        }
        if !aliases.is_empty() {
            hosts.push_str("\n# Entries added by HostAliases.\n");
            for alias in aliases {
                hosts.push_str(&format!("{}\t{}\n", alias.ip, alias.hostnames.as_deref().unwrap_or_default().join("\t")));
            }
        }
        Self { hosts, hostname: format!("{hostname}\n"), resolv_conf }
    }

    /// The files' paths in the container and their contents.
    pub(crate) fn files(&self) -> [(&'static str, &str); 3] {
        [("/etc/hosts", &self.hosts), ("/etc/hostname", &self.hostname), ("/etc/resolv.conf", &self.resolv_conf)]
    }

    /// Writes them into the container root `rootfs`, never through a link
    /// the previous instance left there.
    pub(crate) fn write(&self, rootfs: &Path) -> std::io::Result<()> {
        for (guest, contents) in self.files() {
            crate::volume::write_file_beneath(rootfs, guest, contents.as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_file_is_the_kubelets() {
        let aliases = [HostAlias { ip: "1.2.3.4".into(), hostnames: Some(vec!["foo.local".into(), "bar.local".into()]) }];
        let plain = EtcFiles::new(&["10.88.0.7".into()], "web", None, &[], String::new());
        assert!(plain.hosts.ends_with("fe00::2\tip6-allrouters\n10.88.0.7\tweb\n"), "{}", plain.hosts);
        assert_eq!(plain.hostname, "web\n");
        let full = EtcFiles::new(&["10.88.0.7".into()], "web", Some("sub.default.svc.cluster.local"), &aliases, String::new());
        assert!(
            full.hosts.ends_with("10.88.0.7\tweb.sub.default.svc.cluster.local\tweb\n\n# Entries added by HostAliases.\n1.2.3.4\tfoo.local\tbar.local\n"),
            "{}",
            full.hosts
        );
        assert!(full.hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
    }

    #[test]
    fn written_files_replace_links() {
        let dir = tempfile::tempdir().unwrap();
        let files = EtcFiles::new(&["10.88.0.7".into()], "web", None, &[], String::new());
        files.write(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("etc/hostname")).unwrap(), "web\n");
        #[cfg(unix)]
        {
            let outside = dir.path().join("outside");
            std::fs::write(&outside, "host file").unwrap();
            std::fs::remove_file(dir.path().join("etc/hosts")).unwrap();
            std::os::unix::fs::symlink(&outside, dir.path().join("etc/hosts")).unwrap();
            files.write(dir.path()).unwrap();
            assert_eq!(std::fs::read_to_string(&outside).unwrap(), "host file");
            assert!(std::fs::read_to_string(dir.path().join("etc/hosts")).unwrap().contains("10.88.0.7\tweb"));
        }
    }
}
