//! `wasmpod pull`, `images`, `rmi` and `push`: the state directory's images
//! from OCI registries.

use std::path::{Path, PathBuf};

use clap::Args;
use wasmpod::registry::{ImageReference, Keyring, Registry, RegistryConfig, RegistryError};

use super::remote::{state_dir, tokio};
use super::{Exit, ExitContext, Failure};

pub(crate) const AFTER_HELP: &str = "\
Registries on this machine (localhost, 127.0.0.1, [::1]) are spoken to over
plain HTTP, as Docker and containerd do; all others over HTTPS with the
system's certificate roots, unless named with --insecure-registry.
Credentials come from the Docker config ($DOCKER_CONFIG/config.json, else
~/.docker/config.json: its `auths`), as `docker login` writes them.

What is pulled: a wasm OCI artifact (config application/vnd.wasm.config.v0+json
with one application/wasm layer), or an index holding one for platform wasm.
`wasmpod push` publishes a .wasm in that form.

Examples:
  wasmpod push hello.wasm 127.0.0.1:5000/hello:v1
  wasmpod pull 127.0.0.1:5000/hello:v1
  wasmpod images
  wasmpod rmi 127.0.0.1:5000/hello:v1";

/// How to reach registries (shared by the image commands).
#[derive(Args)]
pub(crate) struct RegistryArgs {
    /// A registry (host[:port]) to speak plain HTTP to, besides those on
    /// loopback addresses. Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure: Vec<String>,
    /// A Docker config.json to take credentials from, instead of the user's.
    #[arg(long = "registry-auth-file", value_name = "FILE")]
    auth_file: Option<PathBuf>,
}

impl RegistryArgs {
    /// The credentials (the file given, else the user's Docker config) and
    /// the registry settings these flags ask for.
    pub(crate) fn settings(&self) -> Result<(Keyring, RegistryConfig), Failure> {
        let keyring = match &self.auth_file {
            Some(f) => Keyring::from_file(f),
            None => Keyring::from_user(),
        }
        .map_err(anyhow::Error::msg)
        .exit(Exit::Invalid)?;
        let mut config = RegistryConfig::default();
        config.insecure = self.insecure.clone();
        Ok((keyring, config))
    }

    fn open(&self, state: Option<&Path>) -> Result<Registry, Failure> {
        let (keyring, config) = self.settings()?;
        Registry::open(&state_dir(state)?, keyring, config).exit(Exit::Runtime)
    }
}

#[derive(Args)]
pub(crate) struct PullArgs {
    /// The image, e.g. ghcr.io/org/app:v1 or 127.0.0.1:5000/hello@sha256:...
    #[arg(value_name = "IMAGE")]
    image: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
pub(crate) struct PushArgs {
    /// The component or module to publish.
    #[arg(value_name = "FILE.wasm")]
    file: PathBuf,
    /// Where, e.g. 127.0.0.1:5000/hello:v1
    #[arg(value_name = "IMAGE")]
    image: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
pub(crate) struct ImagesArgs {
    /// Show whole digests.
    #[arg(long)]
    no_trunc: bool,
}

#[derive(Args)]
pub(crate) struct RmiArgs {
    /// Images to remove.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

fn parse(image: &str) -> Result<ImageReference, Failure> {
    ImageReference::parse(image).exit(Exit::Invalid)
}

/// Refused images (what they are) are invalid input; the rest are runtime
/// failures (network, registry, disk).
fn failure(e: RegistryError) -> Failure {
    let exit = match e {
        RegistryError::Reference(_) | RegistryError::Unsupported(_) => Exit::Invalid,
        _ => Exit::Runtime,
    };
    Failure { exit, error: e.into() }
}

pub(crate) fn pull(state: Option<&Path>, args: PullArgs) -> Result<Exit, Failure> {
    let reference = parse(&args.image)?;
    let registry = args.registry.open(state)?;
    eprintln!("Pulling image {:?}...", args.image);
    let pulled = tokio()?.block_on(registry.pull(&reference)).map_err(failure)?;
    let how = if pulled.had_blob { ", layer already present" } else { "" };
    eprintln!("Successfully pulled image {:?} in {:.3}s{how}. Image size: {} bytes.", args.image, pulled.elapsed.as_secs_f64(), pulled.image.size);
    println!("{}", pulled.image.manifest_digest);
    Ok(Exit::Success)
}

pub(crate) fn push(state: Option<&Path>, args: PushArgs) -> Result<Exit, Failure> {
    let reference = parse(&args.image)?;
    let registry = args.registry.open(state)?;
    let pushed = tokio()?.block_on(registry.push(&args.file, &reference)).map_err(failure)?;
    eprintln!("Pushed {} as {} ({}, {} bytes)", args.file.display(), reference.normalized(), pushed.image.os, pushed.image.size);
    println!("{}", pushed.image.manifest_digest);
    Ok(Exit::Success)
}

pub(crate) fn images(state: Option<&Path>, args: ImagesArgs) -> Result<Exit, Failure> {
    let registry = Registry::open(&state_dir(state)?, Keyring::default(), RegistryConfig::default()).exit(Exit::Runtime)?;
    let rows: Vec<[String; 5]> = registry
        .images()
        .into_iter()
        .map(|i| {
            let (repo, tag) = split_tag(&i.reference);
            let digest = if args.no_trunc { i.manifest_digest.clone() } else { i.manifest_digest.trim_start_matches("sha256:").chars().take(12).collect() };
            [repo, tag, digest, i.os.clone(), human_size(i.size)]
        })
        .collect();
    let header = ["IMAGE", "TAG", "DIGEST", "OS", "SIZE"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("   ").trim_end());
    }
    Ok(Exit::Success)
}

pub(crate) fn rmi(state: Option<&Path>, args: RmiArgs) -> Result<Exit, Failure> {
    let registry = Registry::open(&state_dir(state)?, Keyring::default(), RegistryConfig::default()).exit(Exit::Runtime)?;
    let mut result = Exit::Success;
    for image in &args.images {
        let reference = parse(image)?;
        match registry.remove(&reference).map_err(failure)? {
            Some(gone) => println!("Deleted: {} ({})", gone.reference, gone.manifest_digest),
            None => {
                eprintln!("error: no such image: {image}");
                result = Exit::PodFailed;
            }
        }
    }
    Ok(result)
}

/// `registry/repo:tag` → (`registry/repo`, `tag`); a digest-only
/// reference has tag `<none>`.
fn split_tag(reference: &str) -> (String, String) {
    let name = reference.split('@').next().unwrap_or(reference);
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => (name[..name.len() - tag.len() - 1].to_owned(), tag.to_owned()),
        None => (name.to_owned(), "<none>".to_owned()),
    }
}

/// Sizes as crictl prints them: `2.33MB`.
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 { format!("{bytes}B") } else { format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_owned() + units[u] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_name_and_tag_and_sizes_print_short() {
        assert_eq!(split_tag("127.0.0.1:5000/hello:v1"), ("127.0.0.1:5000/hello".into(), "v1".into()));
        assert_eq!(split_tag("docker.io/library/busybox:latest"), ("docker.io/library/busybox".into(), "latest".into()));
        assert_eq!(split_tag("localhost:5000/a@sha256:abc"), ("localhost:5000/a".into(), "<none>".into()));
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(2_330_416), "2.33MB");
        assert_eq!(human_size(1_000_000), "1MB");
    }
}
