//! `wasmpod compile --target TRIPLE IMAGE...`: code for a build of
//! wasmpod without a compiler (small devices), made on a machine with one.

use std::path::{Path, PathBuf};

use clap::Args;
use wasmpod::{ImageCompiler, StateDir, Validation, absolute_image_paths, manifest};

use super::{Exit, ExitContext, Failure};

pub(crate) const AFTER_HELP: &str = "\
A build of wasmpod without a compiler (`cargo build --no-default-features
--features cli`, for small devices) runs only images compiled ahead of
time for it. This writes that code: native code where Cranelift has a
backend for the target (x86_64, aarch64, riscv64, s390x; other than this
machine's only in a build with --features all-arch), else Pulley bytecode
for wasmtime's interpreter (armv7, 32-bit x86, and others).

Copy the files written into the target machine's compiled-image cache,
<state dir>/cache/compiled (the default output here is this machine's,
under --state-dir). Images resolve as `run` resolves them: builtin names
(busybox, alpine, nginx, python), aliases, or .wasm paths.

Examples:
  wasmpod compile --target armv7-unknown-linux-gnueabihf -o ./pi-cache busybox nginx
  wasmpod compile --target armv7-unknown-linux-gnueabihf -o ./pi-cache -f pod.yaml
  scp ./pi-cache/* pi:.local/state/wasmpod/cache/compiled/";

#[derive(Args)]
pub(crate) struct CompileArgs {
    /// The target machine's triple, as rustc names it (its `wasmpod
    /// version` prints it), e.g. armv7-unknown-linux-gnueabihf.
    #[arg(long, value_name = "TRIPLE")]
    target: String,
    /// Where to write the compiled images (default: this state directory's
    /// cache/compiled).
    #[arg(long, short, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Map image names to wasm, as `run --image-alias` does.
    #[arg(long = "image-alias", value_name = "PATTERN=TARGET")]
    image_alias: Vec<String>,
    /// A YAML file of image aliases, as `run --alias-file`.
    #[arg(long, value_name = "FILE")]
    alias_file: Option<PathBuf>,
    /// Manifests whose containers' images to compile (init and app
    /// containers; image paths relative to the file, as `apply` takes them).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Images: builtin or alias names, or .wasm paths.
    #[arg(required_unless_present = "files", value_name = "IMAGE")]
    images: Vec<String>,
}

/// The images to compile: those named, then those of the manifests' pods,
/// each once, in order of first mention.
fn images(args: &CompileArgs) -> Result<Vec<String>, Failure> {
    let mut out = args.images.clone();
    for file in &args.files {
        let m = manifest::load_file(file, Validation::Warn).exit(Exit::Invalid)?;
        let base = file.parent().map(Path::to_owned).unwrap_or_default();
        for mut pod in m.pods {
            absolute_image_paths(&mut pod, &base);
            let spec = pod.spec.unwrap_or_default();
            let containers = spec.init_containers.unwrap_or_default().into_iter().chain(spec.containers);
            out.extend(containers.filter_map(|c| c.image));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|i| seen.insert(i.clone()));
    Ok(out)
}

pub(crate) fn run(state_dir: Option<&Path>, args: CompileArgs) -> Result<Exit, Failure> {
    let aliases = super::runtime_args::aliases(&args.image_alias, args.alias_file.as_deref())?;
    let compiler = ImageCompiler::new(&args.target, aliases).exit(Exit::Usage)?;
    let images = images(&args)?;
    let output = match args.output {
        Some(dir) => dir,
        None => StateDir::open(&super::remote::state_dir(state_dir)?).exit(Exit::Runtime)?.compile_cache(),
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    for image in &images {
        eprintln!("compiling {image} for {} ({})...", args.target, compiler.target());
        let done = compiler.compile_into(image, &cwd, &output).exit(Exit::Invalid)?;
        let kept = if done.reused { ", already there" } else { "" };
        println!("{image}: {} ({}, {} bytes{kept})", done.path.display(), done.description, done.size);
    }
    Ok(Exit::Success)
}
