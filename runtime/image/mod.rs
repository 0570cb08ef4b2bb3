//! Image references -> wasm bytes.
//!
//! An image is one of:
//! - a path to a `.wasm` (or `.wat`) file: relative to the manifest's
//!   directory, absolute, or a `file://` URL;
//! - a builtin guest: `builtin:toolbox`, `builtin:hello-http` (an example
//!   wasi:http handler component);
//! - a name that matches the alias table ([`ImageResolver`]), so manifests
//!   written for Linux images run unchanged. User aliases come first and
//!   override the builtin ones.
//!
//! Builtin aliases (patterns match the reference after `docker.io/` and
//! `library/` are stripped; `*` matches any text):
//!
//! | pattern (each also `NAME:*`, `NAME@*`) | config of the real image     |
//! |----------------------------------|----------------------------------------------|
//! | `alpine`                         | Cmd `/bin/sh`                                |
//! | `busybox`, `registry.k8s.io/busybox`, `registry.k8s.io/e2e-test-images/busybox`, `k8s.gcr.io/busybox`, `gcr.io/google-containers/busybox`, `gcr.io/google_containers/busybox` | Cmd `sh` |
//! | `nginx`                          | Entrypoint `/docker-entrypoint.sh`, Cmd `nginx -g 'daemon off;'` (static files from /usr/share/nginx/html on :80) |
//! | `python`                         | Cmd `python3` (only `-m http.server` / `-m SimpleHTTPServer`) |
//!
//! All run the toolbox with alpine's PATH (python's puts `/usr/local/bin`
//! first); [`ImageConfig::argv`] applies Kubernetes' command/args rules.

mod alias;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

pub use alias::{Alias, AliasTarget, parse_alias_file, parse_alias_flag};

/// The toolbox guest, built from `guests/toolbox` by build.rs.
static TOOLBOX: &[u8] = include_bytes!(concat!(env!("WASMPOD_GUESTS_DIR"), "/toolbox.wasm"));

/// The example wasi:http handler component, built from `guests/hello-http`.
static HELLO_HTTP: &[u8] = include_bytes!(concat!(env!("WASMPOD_GUESTS_DIR"), "/hello_http.wasm"));

/// The network test guest (`guests/nettest`): echo, bulk transfer and
/// ping steps over std::net, used by `wasmpod bench` and the tests.
static NETTEST: &[u8] = include_bytes!(concat!(env!("WASMPOD_GUESTS_DIR"), "/nettest.wasm"));

/// The builtin guests by name.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    match name {
        "toolbox" => Some(TOOLBOX),
        "hello-http" => Some(HELLO_HTTP),
        "nettest" => Some(NETTEST),
        _ => None,
    }
}

/// The SHA-256 of an image's bytes: the key of the compiled-image caches.
pub type Digest = [u8; 32];

/// SHA-256 of `bytes`.
pub fn digest_of(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

/// A builtin's bytes, shared, with their digest: computed once per process,
/// so a thousand pods of one builtin image neither copy nor hash it again.
fn builtin_shared(name: &str) -> Option<(Arc<[u8]>, Digest)> {
    type Shared = Mutex<HashMap<String, (Arc<[u8]>, Digest)>>;
    static CACHE: OnceLock<Shared> = OnceLock::new();
    let bytes = builtin(name)?;
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    Some(cache.entry(name.to_owned()).or_insert_with(|| (Arc::from(bytes), digest_of(bytes))).clone())
}

/// Errors of resolving an image reference.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The reference names no file, builtin or alias. The runtime takes
    /// such a name as a registry reference and pulls it; only callers
    /// without a registry (`wasmpod compile`) show this.
    #[error(
        "image {image:?} is not a WebAssembly file, a builtin or an image alias; use a path to a .wasm file \
         (relative to the manifest, absolute, or file://), builtin:toolbox, or map the name with \
         `--image-alias '{image}=PATH.wasm'` or an alias file (`--alias-file`, see `wasmpod run --help`); \
         in a pod, such a name is pulled from its registry"
    )]
    Unknown {
        /// The image reference.
        image: String,
    },
    /// An alias maps the name to something this version cannot run.
    #[error("image {image:?}: {reason}")]
    Refused {
        /// The image reference.
        image: String,
        /// Why.
        reason: String,
    },
    /// `builtin:NAME` with an unknown name.
    #[error("image {image:?}: no builtin guest named {name:?} (builtins: toolbox, hello-http, nettest)")]
    NoSuchBuiltin {
        /// The image reference.
        image: String,
        /// The builtin name.
        name: String,
    },
    /// The wasm file could not be read.
    #[error("image {image:?}: cannot read {path}")]
    Read {
        /// The image reference.
        image: String,
        /// The resolved host path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A resolved image.
#[derive(Clone)]
pub struct Image {
    /// The wasm bytes.
    pub bytes: Arc<[u8]>,
    /// SHA-256 of `bytes`.
    pub digest: Digest,
    /// What the image runs and with what, when the container does not say.
    pub config: ImageConfig,
    /// What it resolved to, for events (`builtin toolbox`, a path).
    pub description: String,
}

/// The part of an OCI image config a container runtime applies (`docker
/// inspect`'s `Config`): what runs, in which directory, with which
/// environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `Entrypoint`: the start of argv, kept when the container gives only
    /// `args`.
    pub entrypoint: Vec<String>,
    /// `Cmd`: the default arguments, replaced by the container's `args`
    /// and dropped when it gives a `command`.
    pub cmd: Vec<String>,
    /// `Env`, under the container's own env.
    pub env: Vec<(String, String)>,
    /// `WorkingDir`, used when the container gives no `workingDir`.
    pub working_dir: Option<String>,
}

impl ImageConfig {
    /// A toolbox image: no Entrypoint, `cmd`, and alpine's and busybox's PATH.
    pub(crate) fn toolbox(cmd: &[&str]) -> Self {
        Self { cmd: cmd.iter().map(|s| (*s).to_owned()).collect(), env: vec![("PATH".to_owned(), TOOLBOX_PATH.to_owned())], ..Self::default() }
    }

    /// The argv a container runs, by Kubernetes' rules: `command` replaces
    /// Entrypoint and drops Cmd; `args` replace Cmd; neither runs
    /// Entrypoint then Cmd.
    pub fn argv(&self, command: Vec<String>, args: Vec<String>) -> Vec<String> {
        match (command.is_empty(), args.is_empty()) {
            (false, _) => command.into_iter().chain(args).collect(),
            (true, false) => self.entrypoint.iter().cloned().chain(args).collect(),
            (true, true) => self.entrypoint.iter().chain(&self.cmd).cloned().collect(),
        }
    }
}

/// PATH of the toolbox images, as the alpine image's config sets it, so
/// scripts that rely on PATH behave the same.
const TOOLBOX_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolves image references through paths, builtins and aliases.
#[derive(Debug, Clone)]
pub struct ImageResolver {
    aliases: Vec<Alias>,
    files: FileCache,
}

/// Image files read before, by path: reused while their size and
/// modification time are unchanged, so starting many pods of one image
/// file reads and hashes it once.
#[derive(Debug, Clone, Default)]
struct FileCache(Arc<Mutex<HashMap<PathBuf, CachedFile>>>);

#[derive(Debug, Clone)]
struct CachedFile {
    len: u64,
    modified: Option<SystemTime>,
    bytes: Arc<[u8]>,
    digest: Digest,
}

impl FileCache {
    /// At most this many files are remembered (images are few; this only
    /// bounds a pathological stream of distinct paths).
    const MAX: usize = 256;

    fn read(&self, path: &Path) -> std::io::Result<(Arc<[u8]>, Digest)> {
        let meta = std::fs::metadata(path)?;
        let (len, modified) = (meta.len(), meta.modified().ok());
        {
            let files = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(f) = files.get(path).filter(|f| f.len == len && f.modified == modified && modified.is_some()) {
                return Ok((f.bytes.clone(), f.digest));
            }
        }
        let bytes: Arc<[u8]> = Arc::from(std::fs::read(path)?);
        let digest = digest_of(&bytes);
        let mut files = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if files.len() >= Self::MAX {
            files.clear();
        }
        files.insert(path.to_owned(), CachedFile { len, modified, bytes: bytes.clone(), digest });
        Ok((bytes, digest))
    }
}

impl Default for ImageResolver {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl ImageResolver {
    /// A resolver with `user` aliases before the builtin table.
    pub fn new(user: Vec<Alias>) -> Self {
        let mut aliases = user;
        aliases.extend(alias::builtin_aliases());
        Self { aliases, files: FileCache::default() }
    }

    /// Resolves `image`; relative paths are taken from `base_dir` (the
    /// manifest's directory).
    pub fn resolve(&self, image: &str, base_dir: &Path) -> Result<Image, ImageError> {
        if let Some(target) = direct_target(image) {
            return self.load_target(image, &target, base_dir);
        }
        let normalized = alias::normalize(image);
        match self.aliases.iter().find(|a| a.matches(&normalized)) {
            Some(a) => self.load_target(image, &a.target, a.base_dir.as_deref().unwrap_or(base_dir)),
            None => Err(ImageError::Unknown { image: image.to_owned() }),
        }
    }
}

/// A reference that names a file or builtin itself, without the alias table.
fn direct_target(image: &str) -> Option<AliasTarget> {
    let direct = image.starts_with("builtin:") || image.starts_with("file://") || image.ends_with(".wasm") || image.ends_with(".wat");
    if direct { AliasTarget::parse(image).ok() } else { None }
}

impl ImageResolver {
    fn load_target(&self, image: &str, target: &AliasTarget, base_dir: &Path) -> Result<Image, ImageError> {
        match target {
            AliasTarget::Builtin { name, config } => {
                let (bytes, digest) = builtin_shared(name).ok_or_else(|| ImageError::NoSuchBuiltin { image: image.to_owned(), name: name.clone() })?;
                Ok(Image { bytes, digest, config: config.clone(), description: format!("builtin {name}") })
            }
            AliasTarget::File(path) => {
                let path = if path.is_absolute() { path.clone() } else { base_dir.join(path) };
                let (bytes, digest) = self.files.read(&path).map_err(|source| ImageError::Read { image: image.to_owned(), path: path.clone(), source })?;
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| image.to_owned());
                // A wasm program is its own Entrypoint, with no Cmd.
                let config = ImageConfig { entrypoint: vec![name], ..ImageConfig::default() };
                Ok(Image { bytes, digest, config, description: path.display().to_string() })
            }
            AliasTarget::Refused(reason) => Err(ImageError::Refused { image: image.to_owned(), reason: reason.clone() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_images_resolve_to_the_toolbox() {
        let r = ImageResolver::default();
        let dir = Path::new(".");
        let busyboxes = ["busybox:1.36", "library/busybox", "registry.k8s.io/busybox", "registry.k8s.io/e2e-test-images/busybox:1.29-4", "k8s.gcr.io/busybox"];
        for (image, cmd) in ["alpine", "alpine:3.19", "docker.io/library/alpine:latest"].map(|i| (i, "/bin/sh")).into_iter().chain(busyboxes.map(|i| (i, "sh")))
        {
            let img = r.resolve(image, dir).unwrap_or_else(|e| panic!("{image}: {e}"));
            assert_eq!((&img.config.entrypoint[..], &img.config.cmd[..]), (&[][..], &[cmd.to_owned()][..]), "{image}");
            assert_eq!(img.description, "builtin toolbox");
        }
        let nginx = r.resolve("nginx:1.7.9", dir).unwrap().config;
        assert_eq!(nginx.entrypoint, ["/docker-entrypoint.sh"]);
        assert_eq!(nginx.cmd, ["nginx", "-g", "daemon off;"]);
        assert_eq!(r.resolve("python:2.7-alpine", dir).unwrap().config.cmd, ["python3"]);
        let err = r.resolve("mysql:8.0", dir).err().unwrap().to_string();
        assert!(err.starts_with("image \"mysql:8.0\" is not a WebAssembly file, a builtin or an image alias"), "{err}");
        assert!(err.contains("--image-alias 'mysql:8.0=PATH.wasm'"), "{err}");
        // Not the alpine image, only a name that starts like it.
        assert!(r.resolve("alpine/git", dir).is_err());
    }

    #[test]
    fn command_replaces_entrypoint_and_drops_cmd_and_args_replace_cmd() {
        let v = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let nginx = ImageConfig { entrypoint: v(&["/docker-entrypoint.sh"]), cmd: v(&["nginx", "-g", "daemon off;"]), ..ImageConfig::default() };
        assert_eq!(nginx.argv(vec![], vec![]), ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]);
        assert_eq!(nginx.argv(vec![], v(&["echo", "x"])), ["/docker-entrypoint.sh", "echo", "x"]);
        assert_eq!(nginx.argv(v(&["echo"]), vec![]), ["echo"]);
        assert_eq!(nginx.argv(v(&["/docker-entrypoint.sh"]), vec![]), ["/docker-entrypoint.sh"], "a command equal to the Entrypoint still drops Cmd");
        assert_eq!(nginx.argv(v(&["sh", "-c"]), v(&["echo x"])), ["sh", "-c", "echo x"]);
        let busybox = ImageConfig::toolbox(&["sh"]);
        assert_eq!(busybox.argv(vec![], v(&["/bin/sh", "-c", "echo x"])), ["/bin/sh", "-c", "echo x"]);
        assert_eq!(busybox.argv(vec![], vec![]), ["sh"]);
    }

    #[test]
    fn user_aliases_override_builtins_and_paths_resolve_against_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.wasm"), b"\0asm\x01\0\0\0").unwrap();
        let r = ImageResolver::new(vec![parse_alias_flag("alpine*=./app.wasm").unwrap(), parse_alias_flag("mysql:*=builtin:toolbox").unwrap()]);
        let img = r.resolve("alpine:3", dir.path()).unwrap();
        assert_eq!(img.config.entrypoint, vec!["app.wasm".to_string()]);
        assert_eq!(&*img.bytes, b"\0asm\x01\0\0\0");
        assert_eq!(r.resolve("mysql:8.0", dir.path()).unwrap().description, "builtin toolbox");
        let direct = ImageResolver::default().resolve("app.wasm", dir.path()).unwrap();
        assert_eq!(direct.config.entrypoint, vec!["app.wasm".to_string()]);
        let url = format!("file://{}", dir.path().join("app.wasm").display());
        assert!(ImageResolver::default().resolve(&url, Path::new("/nonexistent")).is_ok());
        let missing = ImageResolver::default().resolve("nope.wasm", dir.path()).err().unwrap();
        assert!(matches!(missing, ImageError::Read { .. }));
        assert!(matches!(ImageResolver::default().resolve("builtin:nginx", dir.path()), Err(ImageError::NoSuchBuiltin { .. })));
    }

    #[test]
    fn a_rewritten_image_file_is_read_again_and_an_unchanged_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.wasm");
        std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
        let r = ImageResolver::default();
        let first = r.resolve("app.wasm", dir.path()).unwrap();
        assert_eq!(first.digest, digest_of(b"\0asm\x01\0\0\0"));
        let again = r.resolve("app.wasm", dir.path()).unwrap();
        assert!(Arc::ptr_eq(&first.bytes, &again.bytes), "an unchanged file is served from the cache");
        std::fs::write(&path, b"\0asm\x01\0\0\0\0\0").unwrap();
        let changed = r.resolve("app.wasm", dir.path()).unwrap();
        assert_eq!(changed.bytes.len(), 10, "a different size is a different file");
        assert_eq!(changed.digest, digest_of(&changed.bytes));
        let a = r.resolve("builtin:toolbox", dir.path()).unwrap();
        let b = r.resolve("builtin:toolbox", dir.path()).unwrap();
        assert!(Arc::ptr_eq(&a.bytes, &b.bytes), "builtins are shared, not copied");
    }
}
