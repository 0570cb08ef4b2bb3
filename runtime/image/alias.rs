//! The image alias table: glob patterns over image names -> targets.

use std::path::{Path, PathBuf};

use super::ImageConfig;

/// What an alias maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasTarget {
    /// A builtin guest, with the image config it runs under.
    Builtin {
        /// Builtin name (`toolbox`).
        name: String,
        /// Entrypoint, Cmd, Env and WorkingDir, as a real image has them.
        config: ImageConfig,
    },
    /// A wasm file.
    File(PathBuf),
    /// Known name that this version refuses, with the reason.
    Refused(String),
}

impl AliasTarget {
    /// Parses `builtin:NAME [ENTRYPOINT...]`, `file://PATH` or a path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("builtin:") {
            let mut words = rest.split_whitespace();
            let name = words.next().ok_or("builtin: needs a name, e.g. builtin:toolbox")?.to_owned();
            let entrypoint: Vec<String> = words.map(str::to_owned).collect();
            let config = match (entrypoint.is_empty(), name == "toolbox") {
                // Words after the name are the image's Entrypoint.
                (false, _) => ImageConfig { entrypoint, ..ImageConfig::toolbox(&[]) },
                // The toolbox is a multi-call program: alone it is a
                // busybox-like image (no Entrypoint, Cmd `sh`).
                (true, true) => ImageConfig::toolbox(&["sh"]),
                // Other builtins are one program each.
                (true, false) => ImageConfig { entrypoint: vec![name.clone()], ..ImageConfig::toolbox(&[]) },
            };
            return Ok(AliasTarget::Builtin { name, config });
        }
        if let Some(rest) = text.strip_prefix("file://") {
            return Ok(AliasTarget::File(file_url_path(rest)));
        }
        if text.is_empty() {
            return Err("empty alias target".into());
        }
        Ok(AliasTarget::File(PathBuf::from(text)))
    }
}

/// The path of a `file://` URL (after the scheme): `/C:/x.wasm` is
/// `C:/x.wasm` (a Windows drive), `%20` and other escapes are decoded.
fn file_url_path(rest: &str) -> PathBuf {
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                decoded.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let path = String::from_utf8_lossy(&decoded).into_owned();
    let is_drive = path.len() >= 3 && path.as_bytes()[0] == b'/' && path.as_bytes()[1].is_ascii_alphabetic() && path.as_bytes()[2] == b':';
    PathBuf::from(if is_drive { &path[1..] } else { &path[..] })
}

/// One alias: `pattern` (with `*` wildcards) -> `target`.
#[derive(Debug, Clone)]
pub struct Alias {
    /// Glob over the normalized image reference.
    pub pattern: String,
    /// Where it leads.
    pub target: AliasTarget,
    /// Directory relative file targets are taken from (an alias file's
    /// directory); `None`: the manifest's directory.
    pub base_dir: Option<PathBuf>,
}

impl Alias {
    /// Whether `normalized` (see `normalize`) matches the pattern.
    pub fn matches(&self, normalized: &str) -> bool {
        glob(&normalize(&self.pattern), normalized)
    }
}

/// `docker.io/library/alpine:3` -> `alpine:3`: the forms Docker treats as
/// the same image match the same alias.
pub(super) fn normalize(image: &str) -> String {
    let mut s = image.trim();
    for prefix in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    s.strip_prefix("library/").unwrap_or(s).to_owned()
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else { return false };
            (0..=rest.len()).filter(|&i| rest.is_char_boundary(i)).any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// `PATTERN=TARGET`, as given to `--image-alias`.
pub fn parse_alias_flag(text: &str) -> Result<Alias, String> {
    let (pattern, target) = text.split_once('=').ok_or_else(|| format!("image alias {text:?} must be PATTERN=TARGET"))?;
    if pattern.trim().is_empty() {
        return Err(format!("image alias {text:?} has an empty pattern"));
    }
    Ok(Alias { pattern: pattern.trim().to_owned(), target: AliasTarget::parse(target).map_err(|e| format!("image alias {text:?}: {e}"))?, base_dir: None })
}

/// An alias file: a YAML mapping `pattern: target`, in priority order.
/// Relative file targets are taken from the alias file's directory.
pub fn parse_alias_file(path: &Path) -> Result<Vec<Alias>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read alias file {}: {e}", path.display()))?;
    let map: Vec<(String, String)> = serde_saphyr::from_str::<indexmap_like::OrderedMap>(&text).map_err(|e| format!("alias file {}: {e}", path.display()))?.0;
    let base = path.parent().map(Path::to_owned);
    map.into_iter()
        .map(|(pattern, target)| {
            let target = AliasTarget::parse(&target).map_err(|e| format!("alias file {}: {pattern}: {e}", path.display()))?;
            Ok(Alias { pattern, target, base_dir: base.clone() })
        })
        .collect()
}

mod indexmap_like {
    //! A mapping that keeps the file's order (priority is top to bottom).
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

    pub(super) struct OrderedMap(pub(super) Vec<(String, String)>);

    impl<'de> Deserialize<'de> for OrderedMap {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = OrderedMap;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a mapping of image patterns to targets")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<OrderedMap, A::Error> {
                    let mut out = Vec::new();
                    while let Some(kv) = m.next_entry::<String, String>()? {
                        out.push(kv);
                    }
                    Ok(OrderedMap(out))
                }
            }
            d.deserialize_map(V)
        }
    }
}

/// The builtin alias table: each name with the config of the real image
/// (`docker inspect`'s `Config`), served by the toolbox.
pub(super) fn builtin_aliases() -> Vec<Alias> {
    let mut out = Vec::new();
    let mut add = |name: &str, config: &ImageConfig| {
        let target = AliasTarget::Builtin { name: "toolbox".into(), config: config.clone() };
        for pattern in [name.to_owned(), format!("{name}:*"), format!("{name}@*")] {
            out.push(Alias { pattern, target: target.clone(), base_dir: None });
        }
    };
    // busybox: no Entrypoint, Cmd ["sh"]; alpine: Cmd ["/bin/sh"]. So
    // `args: ["/bin/sh", "-c", "..."]` runs as written.
    let busybox = ImageConfig::toolbox(&["sh"]);
    add("alpine", &ImageConfig::toolbox(&["/bin/sh"]));
    add("busybox", &busybox);
    // The names Kubernetes' documentation and e2e tests use; all are
    // busybox builds with its config.
    for name in [
        "registry.k8s.io/busybox",
        "k8s.gcr.io/busybox",
        "gcr.io/google-containers/busybox",
        "gcr.io/google_containers/busybox",
        "registry.k8s.io/e2e-test-images/busybox",
    ] {
        add(name, &busybox);
    }
    // nginx: Entrypoint ["/docker-entrypoint.sh"] (which execs its
    // arguments), Cmd ["nginx", "-g", "daemon off;"]; the toolbox's nginx
    // serves /usr/share/nginx/html on :80 the same way.
    add("nginx", &ImageConfig { entrypoint: vec!["/docker-entrypoint.sh".into()], ..ImageConfig::toolbox(&["nginx", "-g", "daemon off;"]) });
    // python: Cmd ["python3"], /usr/local/bin first in PATH; the toolbox's `python` provides
    // only `-m http.server` / `-m SimpleHTTPServer` and says so otherwise.
    add("python", &ImageConfig { env: vec![("PATH".into(), PYTHON_PATH.into())], ..ImageConfig::toolbox(&["python3"]) });
    out
}

/// PATH of the python images (`/usr/local/bin` first, where it is installed).
const PYTHON_PATH: &str = "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_star_anywhere() {
        assert!(glob("alpine*", "alpine:3.19"));
        assert!(glob("*:8.0", "mysql:8.0"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
    }

    #[test]
    fn file_urls_decode_escapes_and_drive_letters() {
        assert_eq!(file_url_path("/opt/my%20app.wasm"), PathBuf::from("/opt/my app.wasm"));
        assert_eq!(file_url_path("/C:/apps/x.wasm"), PathBuf::from("C:/apps/x.wasm"));
        assert_eq!(file_url_path("/tmp/100%"), PathBuf::from("/tmp/100%"));
    }

    #[test]
    fn alias_file_keeps_order_and_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aliases.yaml");
        std::fs::write(&path, "\"mysql:*\": ./mysql.wasm\n\"redis*\": builtin:toolbox sh -c true\n").unwrap();
        let aliases = parse_alias_file(&path).unwrap();
        assert_eq!(aliases[0].pattern, "mysql:*");
        assert_eq!(aliases[0].base_dir.as_deref(), Some(dir.path()));
        let AliasTarget::Builtin { name, config } = &aliases[1].target else { panic!("{:?}", aliases[1].target) };
        assert_eq!((name.as_str(), &config.entrypoint[..], &config.cmd[..]), ("toolbox", &["sh".to_owned(), "-c".into(), "true".into()][..], &[][..]));
        assert!(parse_alias_flag("novalue").is_err());
    }
}
