//! The control API: REST shapes, Status errors, watch, and the records
//! of pods no process runs.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;
use wasmpod::api::{ApiServer, Client, Role, Target};
use wasmpod::{Runtime, RuntimeConfig};
use wasmpod::{StateView, WatchEventType};

use crate::harness::DEADLINE;

struct Served {
    _dir: tempfile::TempDir,
    state: std::path::PathBuf,
    runtime: Arc<Runtime>,
    _server: ApiServer,
    client: Client,
}

async fn served() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut config = RuntimeConfig::new(&state);
    config.compile_cache = Some(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"));
    let runtime = Arc::new(Runtime::new(config).unwrap());
    let server = ApiServer::start(runtime.clone(), Role::Serve).unwrap();
    let client = Client::connect(&state, Target::Serve).await.unwrap();
    Served { _dir: dir, state, runtime, _server: server, client }
}

async fn call(c: &Client, method: Method, path: &str, ctype: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    let r = c.request(method, path, ctype, Bytes::from(body.to_owned())).await;
    match r {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (code, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())))
        }
        Err(e) => {
            let s = e.status().unwrap_or_else(|| panic!("{e}")).clone();
            (s.code, serde_json::to_value(s).unwrap())
        }
    }
}

const HELLO: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: hello}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: alpine\n    command: [sh, -c, 'echo hello; echo world']\n";

/// Waits for the pod's phase through the API's watch.
async fn wait_phase(c: &Client, name: &str, phase: &str) {
    let mut w = c.watch(Some("default"), Some(name)).await.unwrap();
    tokio::time::timeout(DEADLINE, async {
        while let Some(ev) = w.next().await {
            if ev.unwrap().object.status.and_then(|s| s.phase).as_deref() == Some(phase) {
                return;
            }
        }
        panic!("watch ended before {name} was {phase}");
    })
    .await
    .unwrap_or_else(|_| panic!("{name} never reached {phase}"));
}

#[tokio::test]
async fn rest_shapes_of_pods_and_errors() {
    let s = served().await;
    let c = &s.client;
    let (code, v) = call(c, Method::GET, "/api/v1", None, "").await;
    assert_eq!(code, 200);
    assert_eq!(v["kind"], "APIResourceList");
    assert!(v["resources"].as_array().unwrap().iter().any(|r| r["name"] == "pods" && r["namespaced"] == true));
    assert_eq!(call(c, Method::GET, "/api", None, "").await.1["versions"][0], "v1");
    assert_eq!(call(c, Method::GET, "/version", None, "").await.1["major"], "1");
    assert_eq!(call(c, Method::GET, "/healthz", None, "").await, (200, serde_json::Value::String("ok".into())));

    let (code, v) = call(c, Method::GET, "/api/v1/namespaces/default/pods/x", None, "").await;
    assert_eq!(code, 404);
    assert_eq!(
        v,
        serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404})
    );

    let (code, v) = call(c, Method::POST, "/api/v1/namespaces/default/pods", Some("application/yaml"), HELLO).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!((v["kind"].as_str(), v["apiVersion"].as_str(), v["metadata"]["name"].as_str()), (Some("Pod"), Some("v1"), Some("hello")));
    assert!(v["metadata"]["uid"].is_string());
    let (code, v) = call(c, Method::POST, "/api/v1/namespaces/default/pods", Some("application/yaml"), HELLO).await;
    assert_eq!((code, v["reason"].as_str(), v["message"].as_str()), (409, Some("AlreadyExists"), Some("pods \"hello\" already exists")));

    let bad = HELLO.replace("restartPolicy: Never", "restartPolicy: Sometimes").replace("name: hello", "name: bad");
    let (code, v) = call(c, Method::POST, "/api/v1/namespaces/default/pods", Some("application/yaml"), &bad).await;
    assert_eq!((code, v["reason"].as_str()), (422, Some("Invalid")));
    assert!(v["message"].as_str().unwrap().starts_with("The Pod \"bad\" is invalid: spec.restartPolicy: Unsupported value: \"Sometimes\""), "{v}");

    wait_phase(c, "hello", "Succeeded").await;
    let (code, v) = call(c, Method::GET, "/api/v1/namespaces/default/pods/hello/status", None, "").await;
    assert_eq!((code, v["status"]["phase"].as_str()), (200, Some("Succeeded")));
    let (code, v) = call(c, Method::GET, "/api/v1/namespaces/default/pods", None, "").await;
    assert_eq!((code, v["kind"].as_str()), (200, Some("PodList")));
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(call(c, Method::GET, "/api/v1/pods", None, "").await.1["items"][0]["metadata"]["name"], "hello");
    assert_eq!(call(c, Method::GET, "/api/v1/namespaces/other/pods", None, "").await.1["items"].as_array().unwrap().len(), 0);

    let (code, v) = call(c, Method::GET, "/api/v1/namespaces/default/pods/hello/log", None, "").await;
    assert_eq!((code, v), (200, serde_json::Value::String("hello\nworld\n".into())));
    let (_, v) = call(c, Method::GET, "/api/v1/namespaces/default/pods/hello/log?tailLines=1&timestamps=true", None, "").await;
    let line = v.as_str().unwrap();
    assert!(line.ends_with("Z world\n") && line.lines().count() == 1, "{line:?}");
    let (code, v) = call(c, Method::GET, "/api/v1/namespaces/default/pods/hello/log?container=nope", None, "").await;
    assert_eq!((code, v["message"].as_str()), (400, Some("container nope is not valid for pod hello")));
    let (code, v) = call(c, Method::GET, "/api/v1/namespaces/default/pods/hello/log?previous=true", None, "").await;
    assert_eq!((code, v["message"].as_str()), (400, Some("previous terminated container \"main\" in pod \"hello\" not found")));

    let (code, v) = call(c, Method::DELETE, "/api/v1/namespaces/default/pods/hello", Some("application/json"), "{\"gracePeriodSeconds\": 0}").await;
    assert_eq!((code, v["metadata"]["name"].as_str()), (200, Some("hello")));
    assert_eq!(call(c, Method::GET, "/api/v1/namespaces/default/pods/hello", None, "").await.0, 404);
    assert_eq!(call(c, Method::DELETE, "/api/v1/namespaces/default/pods/hello", None, "").await.0, 404);
    assert!(!s.state.join("pods/default/hello").exists());
}

#[tokio::test]
async fn watch_reports_added_modified_deleted() {
    let s = served().await;
    let mut w = s.client.watch(Some("default"), None).await.unwrap();
    let pod = HELLO.replace("echo hello; echo world", "while true; do sleep 1; done");
    let created = s.client.create(&wasmpod::manifest::load_str(&pod, "t", wasmpod::Validation::Strict).unwrap().pods[0]).await.unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("hello"));
    let mut kinds = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while let Some(ev) = w.next().await {
            let ev = ev.unwrap();
            kinds.push(ev.kind);
            let phase = ev.object.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
            if ev.kind != WatchEventType::Deleted && phase == "Running" && ev.object.metadata.deletion_timestamp.is_none() {
                s.client.delete("default", "hello", None).await.unwrap();
            }
            if ev.kind == WatchEventType::Deleted {
                return;
            }
        }
    })
    .await
    .expect("the watch saw the deletion");
    assert_eq!(kinds.first(), Some(&WatchEventType::Added), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&WatchEventType::Deleted), "{kinds:?}");
    assert!(kinds[1..kinds.len() - 1].iter().all(|k| *k == WatchEventType::Modified) && kinds.len() >= 3, "{kinds:?}");
    drop(s.runtime);
}

#[tokio::test]
async fn a_run_process_refuses_to_create() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = RuntimeConfig::new(dir.path().join("s"));
    config.compile_cache = Some(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"));
    let runtime = Arc::new(Runtime::new(config).unwrap());
    let _server = ApiServer::start(runtime, Role::Run).unwrap();
    let err = Client::connect(&dir.path().join("s"), Target::Serve).await.unwrap_err().to_string();
    assert!(err.contains("no `wasmpod serve` process is running for state directory"), "{err}");
    let c = Client::connect(&dir.path().join("s"), Target::Any).await.unwrap();
    let (code, v) = call(&c, Method::POST, "/api/v1/namespaces/default/pods", Some("application/yaml"), HELLO).await;
    assert_eq!((code, v["reason"].as_str()), (405, Some("MethodNotAllowed")));
}

/// A record whose process died mid-run (no lock held, phase not
/// terminal) is reported Unknown; a finished one as it ended.
#[test]
fn records_without_a_live_process() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods/default");
    let record = |name: &str, phase: &str| {
        std::fs::create_dir_all(pods.join(name)).unwrap();
        let conditions = [{ serde_json::json!({"type": "PodReadyToStartContainers", "status": "True"}) }];
        let pod = serde_json::json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"namespace":"default"},"spec":{"containers":[{"name":"c","image":"alpine"}]},"status":{"phase":phase,"conditions":conditions}});
        std::fs::write(pods.join(name).join("pod.json"), pod.to_string()).unwrap();
    };
    record("crashed", "Running");
    record("done", "Succeeded");
    let view = StateView::open(dir.path()).unwrap();
    let phases: Vec<(String, String)> = view.list(None).unwrap().into_iter().map(|p| (p.metadata.name.unwrap(), p.status.unwrap().phase.unwrap())).collect();
    assert_eq!(phases, [("crashed".to_string(), "Unknown".to_string()), ("done".to_string(), "Succeeded".to_string())]);
    let crashed = view.get("default", "crashed").unwrap();
    assert_eq!(wasmpod::api::pod_row(&crashed, jiff::Timestamp::now()).status, "Unknown");
    // Its sandbox went with the process that died.
    let sandbox = |p: &k8s_openapi::api::core::v1::Pod| p.status.as_ref().unwrap().conditions.as_ref().unwrap()[0].status.clone();
    assert_eq!(sandbox(&crashed), "False");
    assert_eq!(sandbox(&view.get("default", "done").unwrap()), "True", "an ended pod's record is as it was written");
}

#[cfg(unix)]
#[tokio::test]
async fn the_socket_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let s = served().await;
    let sock = s.client.endpoint().path.clone();
    assert_eq!(sock.parent().unwrap(), s.state.join("api"));
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(s.state.join("api")).unwrap().permissions().mode() & 0o777, 0o700);
    // A stale endpoint (its process gone) is skipped and removed.
    let stale = s.state.join("api/serve-1.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let c = Client::connect(&s.state, Target::Serve).await.unwrap();
    assert_eq!(c.endpoint().pid, std::process::id());
    assert!(!stale.exists());
}
