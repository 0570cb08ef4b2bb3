//! Image references as Kubernetes takes them: Docker Hub by default with
//! `library/` for one-word names, `:latest` when no tag or digest is given,
//! tag and digest together allowed (the digest wins).

use oci_client::Reference;

/// A parsed, normalised image reference (`docker.io/library/busybox:latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    inner: Reference,
    /// As written in the pod spec or on the command line.
    written: String,
}

/// A reference that does not parse; the message is the kubelet's
/// `InvalidImageName` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("couldn't parse image name {image:?}: {reason}")]
pub struct ReferenceError {
    /// The reference as written.
    pub image: String,
    /// Why it does not parse (the distribution library's words).
    pub reason: String,
}

impl ImageReference {
    /// Parses `image` as the kubelet does.
    pub fn parse(image: &str) -> Result<Self, ReferenceError> {
        let err = |reason: String| ReferenceError { image: image.to_owned(), reason };
        if image.is_empty() || image.trim() != image {
            return Err(err("invalid reference format".into()));
        }
        let inner: Reference = image.parse().map_err(|e: oci_client::ParseError| err(e.to_string()))?;
        Ok(Self { inner, written: image.to_owned() })
    }

    /// The registry host (and port), e.g. `docker.io`, `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// The repository, e.g. `library/busybox`.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag (`latest` when neither tag nor digest was given).
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The digest, when the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The normalised whole reference, the image store's key.
    pub fn normalized(&self) -> String {
        self.inner.whole()
    }

    /// As written.
    pub fn written(&self) -> &str {
        &self.written
    }

    /// Whether the registry is on this machine (`localhost`, a loopback
    /// address): spoken to over plain HTTP, as containerd and Docker do.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.registry())
    }

    pub(crate) fn oci(&self) -> &Reference {
        &self.inner
    }

    /// The same repository at `digest`.
    pub(crate) fn at_digest(&self, digest: &str) -> Reference {
        self.inner.clone_with_digest(digest.to_owned())
    }
}

impl std::fmt::Display for ImageReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)
    }
}

/// `host[:port]` names this machine.
pub(crate) fn is_loopback_host(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => registry.rsplit_once(':').map_or(registry, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { registry }),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_as_kubernetes_does() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("user/app:latest", "docker.io/user/app:latest"),
            ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
            ("127.0.0.1:5000/hello", "127.0.0.1:5000/hello:latest"),
            ("localhost:5000/a/b:v1", "localhost:5000/a/b:v1"),
        ];
        for (written, normalized) in cases {
            let r = ImageReference::parse(written).unwrap();
            assert_eq!(r.normalized(), normalized, "{written}");
        }
        let d = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let pinned = ImageReference::parse(&format!("ghcr.io/a/b:v1@{d}")).unwrap();
        assert_eq!(pinned.digest(), Some(d));
    }

    #[test]
    fn bad_names_get_the_kubelets_invalid_image_name_text() {
        for bad in ["", " busybox", "Busybox", "a/B:1", "busybox:", "a//b", "sha256:zz@sha256:12"] {
            let e = ImageReference::parse(bad).unwrap_err();
            assert!(e.to_string().starts_with(&format!("couldn't parse image name {bad:?}: ")), "{e}");
        }
    }

    #[test]
    fn loopback_registries_are_recognised() {
        for (host, local) in [
            ("localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("[::1]:5000", true),
            ("127.8.9.1", true),
            ("docker.io", false),
            ("10.0.0.1:5000", false),
            ("localhost.example.com", false),
        ] {
            assert_eq!(is_loopback_host(host), local, "{host}");
        }
    }
}
