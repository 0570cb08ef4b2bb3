//! Volumes with real guests: emptyDir shared between containers,
//! read-only mounts, configMap/secret/downwardAPI files, hostPath only when
//! allowed, subPath and subPathExpr, guests trying to leave their mounts,
//! and eviction for sizeLimit and ephemeral-storage limits.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use crate::harness::*;

fn waiting(pod: &Pod, name: &str) -> Option<(String, String)> {
    let w = container(pod, name).state.as_ref()?.waiting.as_ref()?;
    Some((w.reason.clone().unwrap_or_default(), w.message.clone().unwrap_or_default()))
}

fn is_running(pod: &Pod, name: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.name == name && c.state.as_ref().is_some_and(|s| s.running.is_some())))
}

#[tokio::test]
async fn containers_share_an_empty_dir_and_see_only_their_own_mounts() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: shared}
spec:
  restartPolicy: Never
  volumes: [{name: data}]
  initContainers:
  - {name: writer, image: alpine, command: ["sh", "-c", "echo hello from writer > /out/msg"], volumeMounts: [{name: data, mountPath: /out}]}
  containers:
  - name: reader
    image: alpine
    command: ["sh", "-c", "cat /in/msg; mkdir /in/d; rm /in/msg; mv /in/msg /in/moved; touch /in/msg; echo ok > /in/new"]
    volumeMounts: [{name: data, mountPath: /in, readOnly: true}]
  - name: outsider
    image: alpine
    command: ["sh", "-c", "cat /in/msg || cat /out/msg || echo no volume here"]
"#;
    let out = h.run(yaml).await;
    assert_eq!(h.stdout("shared", "reader"), vec!["hello from writer"]);
    // The read-only mount refused the write inside the guest: the shell's
    // redirection failed, so the script failed and the pod reports it.
    let reader = container(&out.pod, "reader");
    assert_eq!(exit_code(reader), Some(1));
    let stderr = h.lines_of("shared", "reader", wasmpod::Stream::Stderr);
    let refused = [
        "mkdir: can't create directory '/in/d': Read-only file system",
        "rm: can't remove '/in/msg': Read-only file system",
        "mv: can't rename '/in/msg': Read-only file system",
        "touch: /in/msg: Read-only file system",
        "sh: can't create '/in/new': Read-only file system",
    ];
    assert_eq!(stderr, refused, "as on Linux, every change is refused with EROFS");
    assert_eq!(phase(&out.pod), "Failed");
    // A container without the mount sees nothing of the volume.
    assert_eq!(h.stdout("shared", "outsider"), vec!["no volume here"]);
    // The volume is gone with the pod.
    assert!(!h.pod_dir("shared").join("volumes/data").exists());
}

const CONFIG: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {greeting: hello, color: blue, app.conf: "listen 80\n"}
binaryData: {blob: AAEC}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
data: {user: YWRtaW4=}
"#;

#[tokio::test]
async fn config_map_and_secret_volumes_project_keys_with_items_and_modes() {
    let h = Harness::new();
    let yaml = format!(
        "{CONFIG}---\n{}",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: projected}
spec:
  restartPolicy: Never
  volumes:
  - {name: all, configMap: {name: app-config, defaultMode: 0440}}
  - {name: some, configMap: {name: app-config, items: [{key: greeting, path: sub/hello.txt, mode: 0600}, {key: color, path: color}]}}
  - {name: creds, secret: {secretName: creds, defaultMode: 0400}}
  containers:
  - name: main
    image: alpine
    command: ["sh", "-c", "ls /all; cat /some/sub/hello.txt; echo; cat /some/color; echo; ls /some; cat /creds/user; echo; cat /creds/password; echo; echo x > /all/new || echo read-only"]
    volumeMounts:
    - {name: all, mountPath: /all}
    - {name: some, mountPath: /some}
    - {name: creds, mountPath: /creds, readOnly: false}
  # Keeps the pod (and its volumes) alive while the host checks modes.
  - {name: holder, image: alpine, command: ["sleep", "3600"]}
"#
    );
    let handle = h.start(&yaml).await;
    let pod = wait_until(&handle, "main ended", |p| exit_code(container(p, "main")).is_some()).await;
    assert_eq!(exit_code(container(&pod, "main")), Some(0));
    assert_eq!(h.stdout("projected", "main"), vec!["app.conf", "blob", "color", "greeting", "hello", "blue", "color", "sub", "admin", "hunter2", "read-only"]);
    let vols = h.pod_dir("projected").join("volumes");
    assert_eq!(std::fs::read(vols.join("all/blob")).unwrap(), vec![0u8, 1, 2]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| std::fs::metadata(vols.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("all/greeting"), 0o440);
        assert_eq!(mode("some/sub/hello.txt"), 0o600);
        assert_eq!(mode("some/color"), 0o644, "defaultMode defaults to 0644");
        assert_eq!(mode("creds/password"), 0o400);
    }
    handle.stop();
    tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    // Secrets do not stay on disk once the pod ended.
    assert!(!vols.join("creds").exists());
}

#[tokio::test]
async fn a_missing_optional_config_map_is_an_empty_directory_and_a_required_one_blocks_its_container() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: missing}
spec:
  restartPolicy: Never
  volumes:
  - {name: maybe, configMap: {name: nope, optional: true}}
  - {name: needed, configMap: {name: nope}}
  containers:
  - {name: tolerant, image: alpine, command: ["sh", "-c", "ls /maybe | wc -l"], volumeMounts: [{name: maybe, mountPath: /maybe}]}
  - {name: strict, image: alpine, command: ["sh", "-c", "echo never"], volumeMounts: [{name: needed, mountPath: /needed}]}
"#;
    let handle = h.start(yaml).await;
    let pod = wait_until(&handle, "tolerant ended", |p| exit_code(container(p, "tolerant")).is_some()).await;
    assert_eq!(exit_code(container(&pod, "tolerant")), Some(0));
    assert_eq!(h.stdout("missing", "tolerant"), vec!["0"]);
    assert_eq!(waiting(&pod, "strict"), Some(("CreateContainerConfigError".into(), "configmap \"nope\" not found".into())));
    assert_eq!(phase(&pod), "Pending", "a container that cannot be created keeps the pod Pending");
    let events = h.events("missing");
    assert!(events.contains("MountVolume.SetUp failed for volume \\\"needed\\\" : configmap \\\"nope\\\" not found"), "{events}");
    handle.stop();
    tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert!(h.stdout("missing", "strict").is_empty());
}

#[tokio::test]
async fn downward_api_files_hold_pod_fields_and_resources() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata:
  name: downward
  labels: {app: web, tier: front}
  annotations: {note: "a b"}
spec:
  restartPolicy: Never
  volumes:
  - name: info
    downwardAPI:
      items:
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: ns, fieldRef: {fieldPath: metadata.namespace}}
      - {path: uid, fieldRef: {fieldPath: metadata.uid}}
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: app, fieldRef: {fieldPath: "metadata.labels['app']"}}
      - {path: note, fieldRef: {fieldPath: "metadata.annotations['note']"}}
      - {path: mem, resourceFieldRef: {containerName: main, resource: limits.memory, divisor: 1Mi}}
  containers:
  - name: main
    image: alpine
    resources: {limits: {memory: 64Mi}}
    env: [{name: UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}]
    command: ["sh", "-c", "for f in name ns app note mem; do cat /etc/info/$f; echo; done; cat /etc/info/labels; echo; [ \"$(cat /etc/info/uid)\" = \"$UID\" ] && echo uid-matches"]
    volumeMounts: [{name: info, mountPath: /etc/info}]
"#;
    let out = h.run(yaml).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{:?}", h.lines_of("downward", "main", wasmpod::Stream::Stderr));
    assert_eq!(h.stdout("downward", "main"), vec!["downward", "default", "web", "a b", "64", "app=\"web\"", "tier=\"front\"", "uid-matches"]);
}

#[tokio::test]
async fn host_path_is_refused_unless_allowed_and_then_checked_by_type() {
    let h = Harness::new();
    let host = h.dir.path().join("host-dir");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("from-host.txt"), "host data\n").unwrap();
    let yaml = |ty: &str, path: &std::path::Path| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: hp}}\nspec:\n  restartPolicy: Never\n  volumes: [{{name: h, hostPath: {{path: {}, type: {ty:?}}}}}]\n  containers:\n  - {{name: main, image: alpine, command: [sh, -c, 'cat /h/from-host.txt; echo guest > /h/from-guest.txt'], volumeMounts: [{{name: h, mountPath: /h}}]}}\n",
            serde_json::to_string(&path.display().to_string()).unwrap()
        )
    };
    let err = h.plan_error(&yaml("Directory", &host)).await.expect("hostPath refused without permission");
    assert!(err.starts_with("pod \"hp\": spec.volumes[0].hostPath: "), "{err}");
    assert!(err.contains("--allow-host-path"), "{err}");

    let h2 = Harness::with_config(|c| c.allow_host_path = true);
    let err = h2.plan_error(&yaml("Directory", &host).replace("type: \"Directory\"", "type: \"Socket\"")).await.expect("socket refused");
    assert!(err.starts_with("pod \"hp\": spec.volumes[0].hostPath.type: type Socket is not supported"), "{err}");
    let out = h2.run(&yaml("Directory", &host)).await;
    assert_eq!(phase(&out.pod), "Succeeded");
    assert_eq!(h2.stdout("hp", "main"), vec!["host data"]);
    assert_eq!(std::fs::read_to_string(host.join("from-guest.txt")).unwrap(), "guest\n");
    assert!(host.join("from-host.txt").exists(), "a hostPath is the user's: it stays after the pod");

    // Directory requires one; DirectoryOrCreate makes it.
    let missing = h.dir.path().join("not-there");
    let handle = h2.start(&yaml("Directory", &missing)).await;
    let pod = wait_until(&handle, "blocked", |p| waiting(p, "main").is_some_and(|w| w.0 == "CreateContainerConfigError")).await;
    assert_eq!(waiting(&pod, "main").unwrap().1, format!("hostPath type check failed: {} is not a directory", missing.display()));
    handle.stop();
    tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    assert!(!missing.exists());
    let out = h2.run(&yaml("DirectoryOrCreate", &missing)).await;
    assert_eq!(exit_code(container(&out.pod, "main")), Some(0));
    // The new directory has no from-host.txt: stdout holds only the first run's line.
    assert_eq!(h2.stdout("hp", "main"), vec!["host data"]);
    assert_eq!(std::fs::read_to_string(missing.join("from-guest.txt")).unwrap(), "guest\n");
}

#[tokio::test]
async fn sub_path_and_sub_path_expr_mount_parts_of_a_volume() {
    let h = Harness::new();
    let yaml = format!(
        "{CONFIG}---\n{}",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: subpaths}
spec:
  restartPolicy: Never
  volumes: [{name: data}, {name: cfg, configMap: {name: app-config}}]
  initContainers:
  - name: by-expr
    image: alpine
    env: [{name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
    command: ["sh", "-c", "echo written through the expr > /logs/out.txt"]
    volumeMounts: [{name: data, mountPath: /logs, subPathExpr: "logs/$(POD)"}]
  - name: by-path
    image: alpine
    command: ["sh", "-c", "echo in a > /a/f; ls /"]
    volumeMounts: [{name: data, mountPath: /a, subPath: a}]
  containers:
  - name: whole
    image: alpine
    command: ["sh", "-c", "cat /v/logs/subpaths/out.txt /v/a/f /etc/app.conf; ls /etc"]
    volumeMounts:
    - {name: data, mountPath: /v}
    - {name: cfg, mountPath: /etc/app.conf, subPath: app.conf}
"#
    );
    let out = h.run(&yaml).await;
    assert_eq!(phase(&out.pod), "Succeeded", "{:?}", h.lines_of("subpaths", "whole", wasmpod::Stream::Stderr));
    // /etc holds the mounted file beside the kubelet's hosts, hostname and resolv.conf.
    assert_eq!(h.stdout("subpaths", "whole"), vec!["written through the expr", "in a", "listen 80", "app.conf", "hostname", "hosts", "resolv.conf"]);
    assert!(h.stdout("subpaths", "by-path").contains(&"a".to_owned()), "the mount point shows in its parent");
}

#[tokio::test]
async fn guests_cannot_leave_their_mounts() {
    let h = Harness::new();
    let outside = h.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "TOP SECRET\n").unwrap();
    let abs = outside.display().to_string();
    // The init container plants links in the shared volume and tries every
    // way out; the app containers then ask for the links as subPaths.
    // (wasmtime refuses to create a link with an absolute target, so only
    // the relative one is planted; the host-side check of absolute links is
    // covered by the volume::path unit tests.)
    let script = format!(
        "ln -s {abs} /v/abs && echo made-abs; ln -s ../../../../../../../.. /v/up && echo made-up; \
         cat /v/abs/secret.txt; cat /v/up/{rel}/secret.txt; cat /v/../../../../../../{rel}/secret.txt; cat {abs}/secret.txt; \
         echo x > /v/abs/planted.txt; mkdir -p /v/inside; ln -s inside /v/ok && echo made-ok; exit 0",
        rel = abs.trim_start_matches('/'),
    );
    let yaml = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: escape}}
spec:
  restartPolicy: Never
  volumes: [{{name: data}}]
  initContainers:
  - {{name: planter, image: alpine, command: [sh, -c, {script}], volumeMounts: [{{name: data, mountPath: /v}}]}}
  containers:
  - {{name: via-up, image: alpine, command: [sh, -c, "ls /m"], volumeMounts: [{{name: data, mountPath: /m, subPath: up}}]}}
  - {{name: via-ok, image: alpine, command: [sh, -c, "echo inner link ok > /m/f; cat /m/f"], volumeMounts: [{{name: data, mountPath: /m, subPath: ok}}]}}
"#,
        script = serde_json::to_string(&script).unwrap()
    );
    let handle = h.start(&yaml).await;
    let pod = wait_until(&handle, "links refused and via-ok done", |p| {
        waiting(p, "via-up").is_some_and(|w| w.0 == "CreateContainerConfigError") && exit_code(container(p, "via-ok")).is_some()
    })
    .await;
    let planter = h.stdout("escape", "planter");
    let stderr = h.lines_of("escape", "planter", wasmpod::Stream::Stderr);
    assert_eq!(planter, vec!["made-up", "made-ok"], "stderr: {stderr:?}");
    assert!(stderr.iter().any(|l| l.starts_with("ln: /v/abs: ")), "{stderr:?}");
    assert_eq!(stderr.iter().filter(|l| l.starts_with("cat: can't open")).count(), 4, "every way out failed: {stderr:?}");
    assert!(!outside.join("planted.txt").exists(), "a guest wrote through a link to the host");
    assert_eq!(waiting(&pod, "via-up").unwrap().1, "subPath \"up\" of volume \"data\" is not within the volume: it or a link in it leads outside");
    assert!(h.events("escape").contains("subPath \\\"up\\\" of volume"), "a Failed event names the subPath");
    assert_eq!(h.stdout("escape", "via-ok"), vec!["inner link ok"], "links that stay inside the volume work");
    handle.stop();
    tokio::time::timeout(DEADLINE, handle.wait()).await.unwrap();
    for c in ["planter", "via-up", "via-ok"] {
        assert!(!h.stdout("escape", c).iter().any(|l| l.contains("TOP SECRET")), "{c} read the host's file");
    }
}

#[tokio::test]
async fn an_empty_dir_over_its_size_limit_evicts_the_pod() {
    let h = Harness::with_config(|c| c.volume_usage_interval = Duration::from_millis(50));
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Always
  volumes: [{name: scratch, emptyDir: {sizeLimit: 100Ki}}]
  containers:
  - {name: main, image: alpine, command: ["sh", "-c", "echo written; seq 1 50000 > /s/big; sleep 3600"], volumeMounts: [{name: scratch, mountPath: /s}]}
  - {name: bystander, image: alpine, command: ["sh", "-c", "sleep 3600"]}
"#;
    let handle = h.start(yaml).await;
    wait_until(&handle, "both running", |p| is_running(p, "main") && is_running(p, "bystander")).await;
    let out = tokio::time::timeout(DEADLINE, handle.wait()).await.expect("the eviction ended the pod");
    let st = out.pod.status.as_ref().unwrap();
    assert_eq!(phase(&out.pod), "Failed");
    assert_eq!(st.reason.as_deref(), Some("Evicted"));
    assert_eq!(st.message.as_deref(), Some("Usage of EmptyDir volume \"scratch\" exceeds the limit \"100Ki\". "));
    for c in ["main", "bystander"] {
        assert_eq!(exit_code(container(&out.pod, c)), Some(wasmpod::EXIT_KILLED), "{c} was killed");
    }
    let events = h.events("hog");
    assert!(events.contains("\"reason\":\"Evicted\"") && events.contains("\"type\":\"Warning\""), "{events}");
    assert_eq!(h.stdout("hog", "main"), vec!["written"]);
}

#[tokio::test]
async fn ephemeral_storage_over_a_containers_or_the_pods_limit_evicts_the_pod() {
    let h = Harness::with_config(|c| c.volume_usage_interval = Duration::from_millis(50));
    // `a` writes 136 KiB into its own root, over its 100Ki; the pod's
    // total (100Ki + 1Mi) is not reached.
    let root_hog = r#"
apiVersion: v1
kind: Pod
metadata: {name: root-hog}
spec:
  containers:
  - {name: a, image: alpine, command: ["sh", "-c", "seq 1 25000 > /tmp/big; echo written; sleep 3600"], resources: {limits: {ephemeral-storage: 100Ki}}}
  - {name: b, image: alpine, command: ["sh", "-c", "sleep 3600"], resources: {limits: {ephemeral-storage: 1Mi}}}
"#;
    // Neither container passes its own 200Ki, but with the emptyDir on
    // disk (which counts for the pod alone) the pod passes their 400Ki.
    let pod_hog = r#"
apiVersion: v1
kind: Pod
metadata: {name: pod-hog}
spec:
  volumes: [{name: cache, emptyDir: {}}]
  containers:
  - {name: a, image: alpine, command: ["sh", "-c", "seq 1 50000 > /cache/big; echo written; sleep 3600"], volumeMounts: [{name: cache, mountPath: /cache}], resources: {limits: {ephemeral-storage: 200Ki}}}
  - {name: b, image: alpine, command: ["sh", "-c", "seq 1 25000 > /tmp/big; echo written; sleep 3600"], resources: {limits: {ephemeral-storage: 200Ki}}}
"#;
    let (one, two) = (h.start(root_hog).await, h.start(pod_hog).await);
    let (one, two) = tokio::join!(tokio::time::timeout(DEADLINE, one.wait()), tokio::time::timeout(DEADLINE, two.wait()));
    for (out, message) in [
        (one.expect("root-hog was evicted"), "Container a exceeded its local ephemeral storage limit \"100Ki\". "),
        (two.expect("pod-hog was evicted"), "Pod ephemeral local storage usage exceeds the total limit of containers 400Ki. "),
    ] {
        let st = out.pod.status.as_ref().unwrap();
        let name = out.pod.metadata.name.clone().unwrap();
        assert_eq!((phase(&out.pod), st.reason.as_deref(), st.message.as_deref()), ("Failed", Some("Evicted"), Some(message)), "{name}");
        for c in ["a", "b"] {
            assert_eq!(exit_code(container(&out.pod, c)), Some(wasmpod::EXIT_KILLED), "{name}/{c} was killed");
        }
        let events = h.events(&name);
        assert!(events.contains("\"reason\":\"Evicted\"") && events.contains("ephemeral"), "{name}: {events}");
    }
}

/// Guests see the modes the kubelet sets: emptyDir directories 0777,
/// configMap and secret files their defaultMode or item mode.
#[tokio::test]
async fn guests_see_the_modes_of_empty_dirs_and_projected_files() {
    let h = Harness::new();
    let yaml = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: modes}
data: {plain: "1", script: "2"}
---
apiVersion: v1
kind: Pod
metadata: {name: modes}
spec:
  restartPolicy: Never
  volumes:
  - {name: scratch, emptyDir: {}}
  - name: config
    configMap: {name: modes, defaultMode: 0400, items: [{key: plain, path: plain}, {key: script, path: script, mode: 0755}]}
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "stat -L -c '%A %n' /scratch /config/plain /config/script; touch /scratch/f; stat -c '%a' /scratch/f"]
    volumeMounts: [{name: scratch, mountPath: /scratch}, {name: config, mountPath: /config}]
"#;
    h.run(yaml).await;
    assert_eq!(h.stdout("modes", "main"), ["drwxrwxrwx /scratch", "-r-------- /config/plain", "-rwxr-xr-x /config/script", "644"]);
    // With an fsGroup: files group-readable (group-writable in writable
    // volumes), directories setgid, all of group fsGroup.
    let grouped =
        yaml.replace("name: modes}\nspec:", "name: grouped}\nspec:\n  securityContext: {fsGroup: 2000}").replace("stat -L -c '%A %n'", "stat -L -c '%A %g %n'");
    h.run(&grouped).await;
    assert_eq!(h.stdout("grouped", "main"), ["drwxrwsrwx 2000 /scratch", "-r--r----- 2000 /config/plain", "-rwxr-xr-x 2000 /config/script", "644"]);
}
