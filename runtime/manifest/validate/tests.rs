//! Table test: invalid manifests and the exact messages the API server gives
//! for them; plus the seed manifests and load-level errors.

use crate::manifest::{ManifestError, Validation, load_str};

const SUB: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const RANGE: &str = "must be between 1 and 65535, inclusive";

fn pod(spec: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n{spec}")
}

/// A pod with one container `c` (image alpine) plus `extra` container lines
/// (indented 4 spaces).
fn ctr(extra: &str) -> String {
    pod(&format!("  containers:\n  - name: c\n    image: alpine\n{extra}"))
}

fn err_of(yaml: &str) -> String {
    match load_str(yaml, "t.yaml", Validation::Strict) {
        Ok(_) => "<loaded without error>".to_owned(),
        Err(e) => e.to_string(),
    }
}

fn invalid(body: &str) -> String {
    format!("The Pod \"p\" is invalid: {body}")
}

#[test]
fn invalid_manifests_give_kubernetes_messages() {
    let cases: Vec<(String, String)> = vec![
        // metadata
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec:\n  containers: [{name: c, image: alpine}]\n".into(),
            "The Pod \"\" is invalid: metadata.name: Required value: name or generateName is required".into(),
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: My_Pod}\nspec:\n  containers: [{name: c, image: alpine}]\n".into(),
            format!("The Pod \"My_Pod\" is invalid: metadata.name: Invalid value: \"My_Pod\": {SUB}"),
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: Bad.NS}\nspec:\n  containers: [{name: c, image: alpine}]\n".into(),
            invalid(&format!("metadata.namespace: Invalid value: \"Bad.NS\": {LABEL}")),
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {-bad: x}}\nspec:\n  containers: [{name: c, image: alpine}]\n".into(),
            invalid("metadata.labels: Invalid value: \"-bad\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: bad value}}\nspec:\n  containers: [{name: c, image: alpine}]\n".into(),
            invalid("metadata.labels: Invalid value: \"bad value\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {a/b/c: x}}\nspec:\n  containers: [{name: c, image: alpine}]\n".into(),
            invalid("metadata.annotations: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"),
        ),
        // containers
        (pod("  containers: []\n"), invalid("spec.containers: Required value")),
        (pod("  containers: [{image: alpine}]\n"), invalid("spec.containers[0].name: Required value")),
        (
            pod("  containers: [{name: Web_1, image: alpine}]\n"),
            invalid(&format!("spec.containers[0].name: Invalid value: \"Web_1\": {LABEL}")),
        ),
        (
            pod("  containers: [{name: a.b, image: alpine}]\n"),
            invalid("spec.containers[0].name: Invalid value: \"a.b\": must not contain dots"),
        ),
        (
            pod("  containers: [{name: c, image: alpine}, {name: c, image: alpine}]\n"),
            invalid("spec.containers[1].name: Duplicate value: \"c\""),
        ),
        (
            pod("  initContainers: [{name: c, image: alpine}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.initContainers[0].name: Duplicate value: \"c\""),
        ),
        (pod("  containers: [{name: c}]\n"), invalid("spec.containers[0].image: Required value")),
        (
            pod("  containers: [{command: [sh]}]\n"),
            invalid("\n* spec.containers[0].name: Required value\n* spec.containers[0].image: Required value"),
        ),
        (
            pod("  containers: [{name: c, image: \"alpine \"}]\n"),
            invalid("spec.containers[0].image: Invalid value: \"alpine \": must not have leading or trailing whitespace"),
        ),
        (
            ctr("    imagePullPolicy: Sometimes\n"),
            invalid("spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""),
        ),
        (
            ctr("    terminationMessagePolicy: Bogus\n"),
            invalid("spec.containers[0].terminationMessagePolicy: Unsupported value: \"Bogus\": supported values: \"File\", \"FallbackToLogsOnError\""),
        ),
        // ports
        (ctr("    ports: [{name: http}]\n"), invalid("spec.containers[0].ports[0].containerPort: Required value")),
        (
            ctr("    ports: [{containerPort: 70000}]\n"),
            invalid(&format!("spec.containers[0].ports[0].containerPort: Invalid value: 70000: {RANGE}")),
        ),
        (
            ctr("    ports: [{containerPort: 80, hostPort: -1}]\n"),
            invalid(&format!("spec.containers[0].ports[0].hostPort: Invalid value: -1: {RANGE}")),
        ),
        (
            ctr("    ports: [{containerPort: 80, name: Http}]\n"),
            invalid("spec.containers[0].ports[0].name: Invalid value: \"Http\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
        ),
        (
            ctr("    ports: [{containerPort: 80, name: verylongportname1}]\n"),
            invalid("spec.containers[0].ports[0].name: Invalid value: \"verylongportname1\": must be no more than 15 bytes"),
        ),
        (
            ctr("    ports: [{containerPort: 80, name: http}, {containerPort: 81, name: http}]\n"),
            invalid("spec.containers[0].ports[1].name: Duplicate value: \"http\""),
        ),
        (
            ctr("    ports: [{containerPort: 80, protocol: HTTP}]\n"),
            invalid("spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\""),
        ),
        (
            pod("  hostNetwork: true\n  containers: [{name: c, image: alpine, ports: [{containerPort: 80, hostPort: 8080}]}]\n"),
            invalid("spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true"),
        ),
        (
            pod("  containers:\n  - {name: a, image: alpine, ports: [{containerPort: 80, hostPort: 8080}]}\n  - {name: b, image: alpine, ports: [{containerPort: 81, hostPort: 8080}]}\n"),
            invalid("spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""),
        ),
        // env
        (ctr("    env: [{value: x}]\n"), invalid("spec.containers[0].env[0].name: Required value")),
        (
            ctr("    env: [{name: A=B, value: x}]\n"),
            invalid("spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"),
        ),
        (
            ctr("    env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]\n"),
            invalid("spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty"),
        ),
        (
            ctr("    env: [{name: A, valueFrom: {fieldRef: {fieldPath: metadata.name}, configMapKeyRef: {name: cfg, key: k}}}]\n"),
            invalid("spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not have more than one field specified at a time"),
        ),
        (
            ctr("    env: [{name: A, valueFrom: {}}]\n"),
            invalid("spec.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"),
        ),
        (
            ctr("    env: [{name: A, valueFrom: {fieldRef: {fieldPath: spec.restartPolicy}}}]\n"),
            invalid("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.restartPolicy\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\""),
        ),
        (
            ctr("    env: [{name: A, valueFrom: {fieldRef: {fieldPath: spec.bogus}}}]\n"),
            invalid("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Invalid value: \"spec.bogus\": error converting fieldPath: field label not supported: spec.bogus"),
        ),
        (
            ctr("    env: [{name: A, valueFrom: {resourceFieldRef: {resource: limits.gpu}}}]\n"),
            invalid("spec.containers[0].env[0].valueFrom.resourceFieldRef.resource: Unsupported value: \"limits.gpu\": supported values: \"limits.cpu\", \"limits.ephemeral-storage\", \"limits.memory\", \"requests.cpu\", \"requests.ephemeral-storage\", \"requests.memory\""),
        ),
        (
            ctr("    env: [{name: A, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1Mi}}}]\n"),
            invalid("spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: Invalid value: \"limits.cpu\": only divisor's values 1m and 1 are supported with the cpu resource"),
        ),
        (
            ctr("    env: [{name: A, valueFrom: {configMapKeyRef: {name: cfg}}}]\n"),
            invalid("spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Required value"),
        ),
        (
            ctr("    envFrom: [{prefix: \"A=\", configMapRef: {name: cfg}}]\n"),
            invalid("spec.containers[0].envFrom[0].prefix: Invalid value: \"A=\": a valid environment variable name must consist only of printable ASCII characters other than '='"),
        ),
        (
            ctr("    envFrom: [{prefix: X_}]\n"),
            invalid("spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"),
        ),
        // volume mounts
        (
            ctr("    volumeMounts: [{name: data, mountPath: /data}]\n"),
            invalid("spec.containers[0].volumeMounts[0].name: Not found: \"data\""),
        ),
        (
            pod("  volumes: [{name: data}]\n  containers: [{name: c, image: alpine, volumeMounts: [{name: data}]}]\n"),
            invalid("spec.containers[0].volumeMounts[0].mountPath: Required value"),
        ),
        (
            pod("  volumes: [{name: data}]\n  containers: [{name: c, image: alpine, volumeMounts: [{name: data, mountPath: /data}, {name: data, mountPath: /data}]}]\n"),
            invalid("spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/data\": must be unique"),
        ),
        (
            pod("  volumes: [{name: data}]\n  containers: [{name: c, image: alpine, volumeMounts: [{name: data, mountPath: /data, subPath: ../x}]}]\n"),
            invalid("spec.containers[0].volumeMounts.subPath: Invalid value: \"../x\": must not contain '..'"),
        ),
        (
            pod("  volumes: [{name: data}]\n  containers: [{name: c, image: alpine, volumeMounts: [{name: data, mountPath: /data, subPath: /x}]}]\n"),
            invalid("spec.containers[0].volumeMounts.subPath: Invalid value: \"/x\": must be a relative path"),
        ),
        (
            pod("  volumes: [{name: data}]\n  containers: [{name: c, image: alpine, volumeMounts: [{name: data, mountPath: /data, subPath: x, subPathExpr: $(POD)}]}]\n"),
            invalid("spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: \"$(POD)\": subPathExpr and subPath are mutually exclusive"),
        ),
        // volumes
        (
            pod("  volumes: [{name: Data}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid(&format!("spec.volumes[0].name: Invalid value: \"Data\": {LABEL}")),
        ),
        (
            pod("  volumes: [{name: data}, {name: data}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[1].name: Duplicate value: \"data\""),
        ),
        (
            pod("  volumes: [{name: data, emptyDir: {}, configMap: {name: cfg}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].configMap: Forbidden: may not specify more than 1 volume type"),
        ),
        (
            pod("  volumes: [{name: data, configMap: {}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].configMap.name: Required value"),
        ),
        (
            pod("  volumes: [{name: data, secret: {secretName: s, defaultMode: 1000}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].secret.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive"),
        ),
        (
            pod("  volumes: [{name: data, configMap: {name: cfg, items: [{key: k, path: ../etc}]}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].configMap.items[0].path: Invalid value: \"../etc\": must not contain '..'"),
        ),
        (
            pod("  volumes: [{name: data, configMap: {name: cfg, items: [{key: k, path: ..data}]}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].configMap.items[0].path: Invalid value: \"..data\": must not start with '..'"),
        ),
        (
            pod("  volumes: [{name: data, downwardAPI: {items: [{path: node, fieldRef: {fieldPath: spec.nodeName}}]}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: \"spec.nodeName\": supported values: \"metadata.annotations\", \"metadata.labels\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\""),
        ),
        (
            pod("  volumes: [{name: data, downwardAPI: {items: [{path: mem, resourceFieldRef: {resource: limits.memory}}]}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName: Required value"),
        ),
        (
            pod("  volumes: [{name: data, downwardAPI: {items: [{path: x}]}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].downwardAPI.items[0]: Required value: one of fieldRef and resourceFieldRef is required"),
        ),
        (
            pod("  volumes: [{name: data, downwardAPI: {items: [{path: name, mode: 1000, fieldRef: {fieldPath: metadata.name}}]}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].downwardAPI.items[0].mode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive"),
        ),
        (
            pod("  volumes: [{name: data, hostPath: {path: \"\"}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].hostPath.path: Required value"),
        ),
        (
            pod("  volumes: [{name: data, hostPath: {path: /srv/../etc}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].hostPath.path: Invalid value: \"/srv/../etc\": must not contain '..'"),
        ),
        (
            pod("  volumes: [{name: data, hostPath: {path: /srv, type: Dir}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].hostPath.type: Unsupported value: \"Dir\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\""),
        ),
        (
            pod("  volumes: [{name: data, emptyDir: {sizeLimit: -1Gi}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].emptyDir.sizeLimit: Forbidden: SizeLimit field must be a valid resource quantity"),
        ),
        (
            pod("  volumes: [{name: data, secret: {}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].secret.secretName: Required value"),
        ),
        (
            pod("  volumes: [{name: data, emptyDir: {}, hostPath: {path: /srv}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"),
        ),
        (
            pod("  volumes: [{name: data}]\n  containers: [{name: c, image: alpine, volumeMounts: [{name: data, mountPath: /data, subPathExpr: \"$(A)/../x\"}]}]\n"),
            invalid("spec.containers[0].volumeMounts.subPathExpr: Invalid value: \"$(A)/../x\": must not contain '..'"),
        ),
        (
            pod("  volumes: [{name: data}]\n  initContainers: [{name: i, image: alpine, volumeMounts: [{name: other, mountPath: /x}]}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.initContainers[0].volumeMounts[0].name: Not found: \"other\""),
        ),
        // probes and hooks
        (
            ctr("    livenessProbe: {periodSeconds: 5}\n"),
            invalid("spec.containers[0].livenessProbe: Required value: must specify a handler type"),
        ),
        (
            ctr("    livenessProbe: {exec: {command: [ls]}, tcpSocket: {port: 80}}\n"),
            invalid("spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"),
        ),
        (
            ctr("    livenessProbe: {exec: {command: [ls]}, successThreshold: 2}\n"),
            invalid("spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"),
        ),
        (
            ctr("    startupProbe: {exec: {command: [ls]}, successThreshold: 3}\n"),
            invalid("spec.containers[0].startupProbe.successThreshold: Invalid value: 3: must be 1"),
        ),
        (
            ctr("    readinessProbe: {exec: {command: [ls]}, periodSeconds: -1}\n"),
            invalid("spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0"),
        ),
        (
            ctr("    readinessProbe: {httpGet: {port: 0}}\n"),
            invalid(&format!("spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: {RANGE}")),
        ),
        (
            ctr("    readinessProbe: {tcpSocket: {port: HTTP_port}}\n"),
            invalid("spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: \"HTTP_port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
        ),
        (
            ctr("    readinessProbe: {httpGet: {port: 80, scheme: FTP}}\n"),
            invalid("spec.containers[0].readinessProbe.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\""),
        ),
        (
            ctr("    startupProbe: {exec: {command: []}}\n"),
            invalid("spec.containers[0].startupProbe.exec.command: Required value"),
        ),
        (
            ctr("    lifecycle: {preStop: {}}\n"),
            invalid("spec.containers[0].lifecycle.preStop: Required value: must specify a handler type"),
        ),
        (
            ctr("    lifecycle: {preStop: {sleep: {seconds: 60}}}\n"),
            invalid("spec.containers[0].lifecycle.preStop.sleep: Invalid value: 60: must be non-negative and less than terminationGracePeriodSeconds (30)"),
        ),
        // init containers and restart policies
        (
            pod("  initContainers: [{name: i, image: alpine, livenessProbe: {exec: {command: [ls]}}}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"),
        ),
        (
            pod("  initContainers: [{name: i, image: alpine, restartPolicy: OnFailure}]\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.initContainers[0].restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\""),
        ),
        (
            ctr("    restartPolicy: Always\n"),
            invalid("spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"),
        ),
        (
            pod("  restartPolicy: Sometimes\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""),
        ),
        (
            pod("  dnsPolicy: Cluster\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.dnsPolicy: Unsupported value: \"Cluster\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\""),
        ),
        (
            pod("  activeDeadlineSeconds: 0\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"),
        ),
        // resources
        (
            ctr("    resources: {limits: {cpu: \"1\"}, requests: {cpu: \"2\"}}\n"),
            invalid("spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"),
        ),
        (
            ctr("    resources: {limits: {memory: 1Gi}, requests: {memory: 2048Mi}}\n"),
            invalid("spec.containers[0].resources.requests: Invalid value: \"2Gi\": must be less than or equal to memory limit of 1Gi"),
        ),
        (
            ctr("    resources: {requests: {memory: 12GB}}\n"),
            invalid("spec.containers[0].resources.requests[memory]: Invalid value: \"12GB\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
        ),
        (
            ctr("    resources: {requests: {cpu: \"-1\"}}\n"),
            invalid("spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": must be greater than or equal to 0"),
        ),
        (
            ctr("    resources: {requests: {gpu: \"1\"}}\n"),
            invalid("\n* spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified\n* spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource for containers"),
        ),
        // A standard resource, but not a container's: the name is a string
        // value, quoted as field.Error quotes it.
        (
            ctr("    resources: {requests: {storage: 1Gi}}\n"),
            invalid("spec.containers[0].resources.requests[storage]: Invalid value: \"storage\": must be a standard resource for containers"),
        ),
        // security context
        (
            ctr("    securityContext: {runAsUser: -1}\n"),
            invalid("spec.containers[0].securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive"),
        ),
        (
            pod("  securityContext: {fsGroup: -5}\n  containers: [{name: c, image: alpine}]\n"),
            invalid("spec.securityContext.fsGroup: Invalid value: -5: must be between 0 and 2147483647, inclusive"),
        ),
        // apimachinery's IsValidUserID / IsValidGroupID stop at MaxInt32.
        (
            ctr("    securityContext: {runAsUser: 2147483648}\n"),
            invalid("spec.containers[0].securityContext.runAsUser: Invalid value: 2147483648: must be between 0 and 2147483647, inclusive"),
        ),
        (
            ctr("    securityContext: {runAsGroup: 4294967295}\n"),
            invalid("spec.containers[0].securityContext.runAsGroup: Invalid value: 4294967295: must be between 0 and 2147483647, inclusive"),
        ),
        (
            pod("  securityContext: {runAsUser: 2147483648, runAsGroup: 2147483648, fsGroup: 2147483648, supplementalGroups: [2147483647, 2147483648]}\n  containers: [{name: c, image: alpine}]\n"),
            invalid("\n* spec.securityContext.fsGroup: Invalid value: 2147483648: must be between 0 and 2147483647, inclusive\n* spec.securityContext.runAsUser: Invalid value: 2147483648: must be between 0 and 2147483647, inclusive\n* spec.securityContext.runAsGroup: Invalid value: 2147483648: must be between 0 and 2147483647, inclusive\n* spec.securityContext.supplementalGroups[1]: Invalid value: 2147483648: must be between 0 and 2147483647, inclusive"),
        ),
        (
            pod("  securityContext: {runAsUser: 2147483647, runAsGroup: 2147483647, fsGroup: 2147483647}\n  containers: [{name: c, image: alpine, securityContext: {runAsUser: 2147483647}}]\n"),
            "<loaded without error>".into(),
        ),
        // ConfigMap and Secret
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {bad key: x}\n".into(),
            "The ConfigMap \"cfg\" is invalid: data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".into(),
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: Creds}\nstringData: {user: admin}\n".into(),
            format!("The Secret \"Creds\" is invalid: metadata.name: Invalid value: \"Creds\": {SUB}"),
        ),
    ];
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (i, (yaml, expected)) in cases.iter().enumerate() {
        let got = err_of(yaml);
        if &got != expected {
            failures.push(format!("case {i}:\n  yaml: {yaml:?}\n  expected: {expected}\n  got:      {got}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

const CUSTOM_COMMAND: &str = r#"kind: Pod
apiVersion: v1
metadata:
  name: custom-command-pod
spec:
  containers:
  - name: command-container
    image: alpine
    command: ["/bin/sh"]
    args: ["-c", "while true; do date; sleep 5; done"]
"#;

const ENV_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: env-pod
spec:
  containers:
  - name: web
    image: nginx:1.7.9
    env:
    - name: BASE_URL
      value: "https://api.company.com/"
    - name: CONNECTION_STRING
      value: "mongodb://localhost:27017"
"#;

const LIVENESS: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: liveness-pod
spec:
  containers:
  - name: server
    image: python:2.7-alpine
    initialDelaySeconds: 30
    failureThreshold: 4
    httpGet:
      path: /
      port: 8000
    livenessProbe:
      initialDelaySeconds: 60
      periodSeconds: 5
      exec:
        command: ["ls", "index.html"]
"#;

#[test]
fn seed_manifests_load_with_defaults() {
    let m = load_str(CUSTOM_COMMAND, "custom.yaml", Validation::Strict).expect("custom command pod loads");
    let pod = &m.pods[0];
    assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
    let spec = pod.spec.as_ref().expect("spec");
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    let c = &spec.containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(c.termination_message_path.as_deref(), Some("/dev/termination-log"));
    assert_eq!(c.termination_message_policy.as_deref(), Some("File"));

    let m = load_str(ENV_POD, "env.yaml", Validation::Strict).expect("env pod loads");
    let c = &m.pods[0].spec.as_ref().expect("spec").containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(c.env.as_ref().map(Vec::len), Some(2));
}

#[test]
fn liveness_seed_fails_strict_and_warns() {
    let err = load_str(LIVENESS, "liveness.yaml", Validation::Strict).expect_err("strict fails");
    let ManifestError::UnknownFields { fields, name, .. } = &err else { panic!("unexpected error {err}") };
    assert_eq!(name, "liveness-pod");
    let mut sorted = fields.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["spec.containers[0].failureThreshold", "spec.containers[0].httpGet", "spec.containers[0].initialDelaySeconds"]);
    assert_eq!(
        err.to_string(),
        "Pod \"liveness-pod\" in liveness.yaml: strict decoding error: unknown field \"spec.containers[0].failureThreshold\", unknown field \"spec.containers[0].httpGet\", unknown field \"spec.containers[0].initialDelaySeconds\""
    );

    let m = load_str(LIVENESS, "liveness.yaml", Validation::Warn).expect("warn loads");
    assert_eq!(m.warnings.len(), 3);
    assert!(m.warnings.contains(&"unknown field \"spec.containers[0].httpGet\"".to_owned()));
    let probe = m.pods[0].spec.as_ref().expect("spec").containers[0].liveness_probe.clone().expect("probe");
    assert_eq!(probe.initial_delay_seconds, Some(60));
    assert_eq!(probe.period_seconds, Some(5));
    assert_eq!(probe.timeout_seconds, Some(1));
    assert_eq!(probe.failure_threshold, Some(3));
    assert_eq!(probe.success_threshold, Some(1));

    let m = load_str(LIVENESS, "liveness.yaml", Validation::Ignore).expect("ignore loads");
    assert!(m.warnings.is_empty());
}

#[test]
fn load_level_errors() {
    let deployment = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n---\n\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n";
    assert_eq!(
        err_of(deployment),
        "t.yaml: document 2: kind \"Deployment\" is not supported: wasmpod runs Pod, ConfigMap, Secret, Service and NetworkPolicy objects"
    );
    assert_eq!(
        err_of("apiVersion: v2\nkind: Pod\nmetadata: {name: a}\n"),
        "t.yaml: document 1: apiVersion \"v2\" is not supported for kind \"Pod\": expected \"v1\""
    );
    assert_eq!(err_of("apiVersion: v1\nmetadata: {name: a}\n"), "t.yaml: document 1: Object 'Kind' is missing");
    assert_eq!(
        err_of("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: i\n    env: [{name: A, value: 45}]\n"),
        "t.yaml: document 1: Pod \"a\": spec.containers[0].env[0].value: invalid type: integer `45`, expected a string"
    );
    let twice = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n";
    assert_eq!(err_of(twice), "t.yaml: document 2: ConfigMap \"default/a\" is defined twice (first in document 1)");
    let big = format!("# {}\n", "x".repeat(crate::manifest::MAX_MANIFEST_BYTES));
    assert!(matches!(load_str(&big, "big.yaml", Validation::Strict), Err(ManifestError::TooLarge { .. })));
    assert!(matches!(load_str("a: [1, 2", "bad.yaml", Validation::Strict), Err(ManifestError::Yaml { .. })));
    assert!(matches!(load_str("- 1\n- 2\n", "list.yaml", Validation::Strict), Err(ManifestError::NotAnObject { .. })));
    let empty = load_str("---\n# nothing\n---\n", "empty.yaml", Validation::Strict).expect("empty input loads");
    assert!(empty.pods.is_empty());
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        yaml.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
    }
    let start = std::time::Instant::now();
    let err = load_str(&yaml, "bomb.yaml", Validation::Strict).expect_err("bomb refused");
    assert!(matches!(err, ManifestError::Yaml { .. }), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn secrets_and_config_maps_load() {
    let yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: aGVsbG8=}\nstringData: {a: override, b: plain}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n";
    let m = load_str(yaml, "t.yaml", Validation::Strict).expect("loads");
    let data = m.secrets[0].data.as_ref().expect("data");
    assert_eq!(data["a"].0, b"override");
    assert_eq!(data["b"].0, b"plain");
    assert_eq!(m.secrets[0].type_.as_deref(), Some("Opaque"));
    assert_eq!(m.config_maps[0].data.as_ref().expect("data")["k"], "v");
}

#[test]
fn defaults_fill_probes_volumes_and_requests() {
    let yaml = pod(
        "  volumes: [{name: scratch}, {name: cfg, configMap: {name: c}}, {name: s, secret: {secretName: s, defaultMode: 0400}}]\n  containers:\n  - name: c\n    image: alpine:3.20\n    ports: [{containerPort: 80, name: http}]\n    resources: {limits: {cpu: 500m, memory: 128Mi}}\n    readinessProbe: {httpGet: {port: http}}\n",
    );
    let m = load_str(&yaml, "t.yaml", Validation::Strict).expect("loads");
    let spec = m.pods[0].spec.as_ref().expect("spec");
    let vols = spec.volumes.as_ref().expect("volumes");
    assert!(vols[0].empty_dir.is_some());
    assert_eq!(vols[1].config_map.as_ref().and_then(|c| c.default_mode), Some(420));
    assert_eq!(vols[2].secret.as_ref().and_then(|s| s.default_mode), Some(0o400));
    let c = &spec.containers[0];
    assert_eq!(c.ports.as_ref().expect("ports")[0].protocol.as_deref(), Some("TCP"));
    let probe = c.readiness_probe.as_ref().expect("probe");
    let get = probe.http_get.as_ref().expect("httpGet");
    assert_eq!(get.path.as_deref(), Some("/"));
    assert_eq!(get.scheme.as_deref(), Some("HTTP"));
    assert_eq!(probe.period_seconds, Some(10));
    let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref()).expect("requests");
    assert_eq!(requests["cpu"].0, "500m");
    assert_eq!(requests["memory"].0, "128Mi");
}

#[test]
fn validation_mode_parses() {
    assert_eq!("strict".parse::<Validation>(), Ok(Validation::Strict));
    assert_eq!("true".parse::<Validation>(), Ok(Validation::Strict));
    assert_eq!("warn".parse::<Validation>(), Ok(Validation::Warn));
    assert_eq!("false".parse::<Validation>(), Ok(Validation::Ignore));
    assert_eq!("ignore".parse::<Validation>(), Ok(Validation::Ignore));
    assert!("maybe".parse::<Validation>().is_err());
}

#[test]
fn services_are_defaulted_and_validated_with_the_api_servers_messages() {
    let m =
        load_str("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n", "s.yaml", Validation::Strict)
            .unwrap();
    let spec = m.services[0].spec.as_ref().unwrap();
    assert_eq!((spec.type_.as_deref(), spec.session_affinity.as_deref()), (Some("ClusterIP"), Some("None")));
    let p = &spec.ports.as_ref().unwrap()[0];
    assert_eq!(p.protocol.as_deref(), Some("TCP"));
    assert_eq!(p.target_port, Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80)));
    let svc = |spec: &str| format!("apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n{spec}");
    let cases = [
        (svc("  selector: {app: web}\n"), "The Service \"web\" is invalid: spec.ports: Required value"),
        (svc("  ports: [{port: 80, name: a}, {port: 81}]\n"), "The Service \"web\" is invalid: spec.ports[1].name: Required value"),
        (
            svc("  ports: [{port: 0}]\n"),
            "The Service \"web\" is invalid: \n* spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive\n* spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
        ),
        (
            svc("  ports: [{port: 80, protocol: ICMP}]\n"),
            "The Service \"web\" is invalid: spec.ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec:\n  ports: [{port: 80}]\n".to_owned(),
            "The Service \"1web\" is invalid: metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(err_of(&yaml), want, "{yaml}");
    }
    // Headless needs no ports.
    assert!(load_str(&svc("  clusterIP: None\n  selector: {app: web}\n"), "s.yaml", Validation::Strict).is_ok());
}

#[test]
fn network_policies_are_defaulted_and_validated() {
    let np = |spec: &str| format!("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: np}}\nspec:\n  podSelector: {{}}\n{spec}");
    let m = load_str(&np("  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{port: 53}]}]\n"), "n.yaml", Validation::Strict).unwrap();
    let spec = m.network_policies[0].spec.as_ref().unwrap();
    assert_eq!(spec.policy_types.as_deref(), Some(&["Ingress".to_owned(), "Egress".to_owned()][..]));
    assert_eq!(spec.egress.as_ref().unwrap()[0].ports.as_ref().unwrap()[0].protocol.as_deref(), Some("TCP"));
    let cases = [
        (np("  ingress: [{from: [{}]}]\n"), "The NetworkPolicy \"np\" is invalid: spec.ingress[0].from[0]: Required value: must specify a peer"),
        (
            np("  egress: [{to: [{ipBlock: {cidr: 10.0.0.0}}]}]\n"),
            "The NetworkPolicy \"np\" is invalid: spec.egress[0].to[0].ipBlock.cidr: Invalid value: \"10.0.0.0\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ),
        (
            np("  policyTypes: [Sideways]\n"),
            "The NetworkPolicy \"np\" is invalid: spec.policyTypes[0]: Unsupported value: \"Sideways\": supported values: \"Egress\", \"Ingress\"",
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(err_of(&yaml), want, "{yaml}");
    }
    // An empty egress list adds no Egress type, as the API server defaults it.
    let m = load_str(&np("  egress: []\n"), "n.yaml", Validation::Strict).unwrap();
    assert_eq!(m.network_policies[0].spec.as_ref().unwrap().policy_types.as_deref(), Some(&["Ingress".to_owned()][..]));
    assert!(err_of(&np("  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/33}}]}]\n")).contains("must be a valid CIDR value"));
    let wrong = "apiVersion: v1\nkind: NetworkPolicy\nmetadata: {name: np}\nspec: {podSelector: {}}\n";
    assert_eq!(err_of(wrong), "t.yaml: document 1: apiVersion \"v1\" is not supported for kind \"NetworkPolicy\": expected \"networking.k8s.io/v1\"");
}
