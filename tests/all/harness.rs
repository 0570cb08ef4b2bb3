//! A runtime in a temporary state directory with short back-off, and
//! helpers to run a manifest to its end.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use wasmpod::{LogTap, PodHandle, PodOutcome, Runtime, RuntimeConfig, Stream, Validation, manifest};

/// Long enough for a slow CI machine; a hang becomes a failure, not a stuck run.
pub const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Default)]
pub struct Lines(pub Mutex<Vec<(String, String, Stream, String)>>);

impl LogTap for Lines {
    fn line(&self, pod: &str, container: &str, stream: Stream, text: &str) {
        self.0.lock().unwrap().push((pod.into(), container.into(), stream, text.into()));
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub runtime: Runtime,
    pub lines: Arc<Lines>,
}

impl Harness {
    /// A runtime sharing the test run's compile cache, so each image is
    /// compiled once for the whole suite.
    pub fn new() -> Self {
        Self::with_cache(Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"))
    }

    pub fn with_cache(cache: PathBuf) -> Self {
        Self::build(cache, None)
    }

    /// A runtime whose log tap is `tap` (the harness's own line collector
    /// stays empty).
    pub fn with_tap(tap: Arc<dyn LogTap>) -> Self {
        Self::build(Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"), Some(tap))
    }

    /// A runtime whose configuration `adjust` changes (after the harness's
    /// own settings).
    pub fn with_config(adjust: impl FnOnce(&mut RuntimeConfig)) -> Self {
        Self::build_with(Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"), None, adjust)
    }

    fn build(cache: PathBuf, tap: Option<Arc<dyn LogTap>>) -> Self {
        Self::build_with(cache, tap, |_| {})
    }

    fn build_with(cache: PathBuf, tap: Option<Arc<dyn LogTap>>, adjust: impl FnOnce(&mut RuntimeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lines = Arc::new(Lines::default());
        let mut config = RuntimeConfig::new(dir.path().join("state"));
        config.compile_cache = Some(cache);
        config.backoff.initial = Duration::from_millis(100);
        config.backoff.max = Duration::from_millis(400);
        config.tap = Some(tap.unwrap_or_else(|| lines.clone()));
        adjust(&mut config);
        let runtime = Runtime::new(config).unwrap();
        Self { dir, runtime, lines }
    }

    /// The directory manifests' relative image paths resolve against.
    pub fn base(&self) -> &Path {
        self.dir.path()
    }

    /// Plans `yaml` (one pod) and returns the planning error, if any.
    pub async fn plan_error(&self, yaml: &str) -> Option<String> {
        let m = manifest::load_str(yaml, "test.yaml", Validation::Strict).unwrap_or_else(|e| panic!("{e}"));
        self.runtime.plan(&m, self.base()).await.err().map(|e| e.to_string())
    }

    /// Events of pod `name` (default namespace) as written to events.jsonl.
    pub fn events(&self, pod: &str) -> String {
        std::fs::read_to_string(self.pod_dir(pod).join("events.jsonl")).unwrap_or_default()
    }

    pub async fn start(&self, yaml: &str) -> PodHandle {
        let m = manifest::load_str(yaml, "test.yaml", Validation::Strict).unwrap_or_else(|e| panic!("{e}"));
        let mut plans = self.runtime.plan(&m, self.base()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plans.len(), 1);
        self.runtime.start(plans.remove(0)).unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn run(&self, yaml: &str) -> PodOutcome {
        let handle = self.start(yaml).await;
        tokio::time::timeout(DEADLINE, handle.wait()).await.expect("pod did not finish in time")
    }

    /// Stdout lines of `container` in pod `name` (default namespace), in order.
    pub fn stdout(&self, pod: &str, container: &str) -> Vec<String> {
        self.lines_of(pod, container, Stream::Stdout)
    }

    pub fn lines_of(&self, pod: &str, container: &str, stream: Stream) -> Vec<String> {
        let key = format!("default/{pod}");
        self.lines.0.lock().unwrap().iter().filter(|l| l.0 == key && l.1 == container && l.2 == stream).map(|l| l.3.clone()).collect()
    }

    pub fn pod_dir(&self, pod: &str) -> PathBuf {
        self.dir.path().join("state/pods/default").join(pod)
    }
}

/// Waits until `cond` holds for the pod's published status.
pub async fn wait_until(handle: &PodHandle, what: &str, cond: impl Fn(&Pod) -> bool) -> Pod {
    let mut rx = handle.watch();
    let r = tokio::time::timeout(DEADLINE, async {
        loop {
            {
                let pod = rx.borrow_and_update();
                if cond(&pod) {
                    return pod.clone();
                }
            }
            rx.changed().await.expect("pod task ended while waiting");
        }
    })
    .await;
    r.unwrap_or_else(|_| panic!("timed out waiting for: {what}"))
}

pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

pub fn container<'a>(pod: &'a Pod, name: &str) -> &'a ContainerStatus {
    let st = pod.status.as_ref().unwrap();
    st.container_statuses.iter().flatten().chain(st.init_container_statuses.iter().flatten()).find(|c| c.name == name).unwrap()
}

pub fn exit_code(c: &ContainerStatus) -> Option<i32> {
    c.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code)
}

pub fn reason(c: &ContainerStatus) -> Option<String> {
    let s = c.state.as_ref()?;
    s.terminated.as_ref().and_then(|t| t.reason.clone()).or_else(|| s.waiting.as_ref().and_then(|w| w.reason.clone()))
}

/// A one-container toolbox pod running `script` under `policy`.
pub fn shell_pod(name: &str, policy: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: {policy}\n  containers:\n  - name: main\n    image: alpine\n    command: [\"/bin/sh\", \"-c\", {script}]\n",
        script = serde_json::to_string(script).unwrap()
    )
}

/// Path of a test guest in tests/guests.
pub fn guest(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests").join(name).display().to_string()
}
