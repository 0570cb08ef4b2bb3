//! Volume validation (`ValidateVolumes`, `validateVolumeSource`): names,
//! exactly one source, and the sources the runtime mounts.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::{KeyToPath, Volume};

use super::container::{field_selector, local_descending_path, resource_selector};
use super::format::dns1123_label;
use super::{Errors, subdomain_name};
use crate::manifest::error::FieldError;
use crate::manifest::quantity::Quantity;

/// `validVolumeDownwardAPIFieldPathExpressions`.
const VOLUME_FIELD_PATHS: [&str; 5] = ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"];

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// What container validation needs to know about a valid volume.
pub(super) struct VolumeInfo {
    /// An `image` volume (subPath is not allowed on it).
    pub is_image: bool,
}

/// Valid volumes by name.
pub(super) type Volumes = HashMap<String, VolumeInfo>;

/// `ValidateVolumes`: returns the volumes that passed, for mount checks.
pub(super) fn volumes(list: &[Volume], errs: &mut Errors) -> Volumes {
    let mut valid = Volumes::new();
    let mut names = HashSet::new();
    for (i, v) in list.iter().enumerate() {
        let idx = format!("spec.volumes[{i}]");
        let mut el = Vec::new();
        source(v, &idx, &mut el);
        if v.name.is_empty() {
            el.push(FieldError::required(format!("{idx}.name"), ""));
        } else {
            for msg in dns1123_label(&v.name) {
                el.push(FieldError::invalid(format!("{idx}.name"), &v.name, msg));
            }
        }
        if names.contains(v.name.as_str()) {
            el.push(FieldError::duplicate(format!("{idx}.name"), &v.name));
        }
        if el.is_empty() {
            names.insert(v.name.as_str());
            valid.insert(v.name.clone(), VolumeInfo { is_image: v.image.is_some() });
        } else {
            errs.append(&mut el);
        }
    }
    valid
}

/// `validateVolumeSource`: exactly one source, in Kubernetes' checking order.
fn source(v: &Volume, path: &str, errs: &mut Errors) {
    let present = [
        ("emptyDir", v.empty_dir.is_some()),
        ("hostPath", v.host_path.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("secret", v.secret.is_some()),
        ("nfs", v.nfs.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("rbd", v.rbd.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("cinder", v.cinder.is_some()),
        ("cephfs", v.cephfs.is_some()),
        ("flocker", v.flocker.is_some()),
        ("downwardAPI", v.downward_api.is_some()),
        ("fc", v.fc.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("configMap", v.config_map.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
        ("quobyte", v.quobyte.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("projected", v.projected.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("storageos", v.storageos.is_some()),
        ("csi", v.csi.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("image", v.image.is_some()),
    ];
    let mut count = 0;
    for (field, set) in present {
        if !set {
            continue;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(format!("{path}.{field}"), "may not specify more than 1 volume type"));
            continue;
        }
        count += 1;
        let spath = format!("{path}.{field}");
        match field {
            "emptyDir" => empty_dir(v, &spath, errs),
            "hostPath" => host_path(v, &spath, errs),
            "secret" => secret(v, &spath, errs),
            "configMap" => config_map(v, &spath, errs),
            "downwardAPI" => downward_api(v, &spath, errs),
            "projected" => {
                if let Some(p) = &v.projected {
                    default_mode(p.default_mode, &spath, errs);
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
}

fn empty_dir(v: &Volume, path: &str, errs: &mut Errors) {
    let Some(limit) = v.empty_dir.as_ref().and_then(|e| e.size_limit.as_ref()) else { return };
    match limit.0.parse::<Quantity>() {
        Ok(q) if q.is_negative() => {
            errs.push(FieldError::forbidden(format!("{path}.sizeLimit"), "SizeLimit field must be a valid resource quantity"));
        }
        Ok(_) => {}
        Err(e) => errs.push(FieldError::invalid(format!("{path}.sizeLimit"), &limit.0, e.to_string())),
    }
}

fn host_path(v: &Volume, path: &str, errs: &mut Errors) {
    let Some(h) = &v.host_path else { return };
    if h.path.is_empty() {
        errs.push(FieldError::required(format!("{path}.path"), ""));
        return;
    }
    if h.path.split('/').any(|p| p == "..") {
        errs.push(FieldError::invalid(format!("{path}.path"), &h.path, "must not contain '..'"));
    }
    const TYPES: [&str; 8] = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"];
    if let Some(t) = h.type_.as_deref()
        && !TYPES.contains(&t)
    {
        errs.push(FieldError::not_supported(format!("{path}.type"), t, &TYPES));
    }
}

fn default_mode(mode: Option<i32>, path: &str, errs: &mut Errors) {
    if let Some(m) = mode
        && !(0..=0o777).contains(&m)
    {
        errs.push(FieldError::invalid(format!("{path}.defaultMode"), m, FILE_MODE_ERROR));
    }
}

/// `validateLocalNonReservedPath`.
fn local_non_reserved_path(target: &str, path: &str, errs: &mut Errors) {
    local_descending_path(target, path, errs);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(path, target, "must not start with '..'"));
    }
}

/// `validateKeyToPath`.
fn items(items: Option<&Vec<KeyToPath>>, path: &str, errs: &mut Errors) {
    for (i, kp) in items.into_iter().flatten().enumerate() {
        let idx = format!("{path}.items[{i}]");
        if kp.key.is_empty() {
            errs.push(FieldError::required(format!("{idx}.key"), ""));
        }
        if kp.path.is_empty() {
            errs.push(FieldError::required(format!("{idx}.path"), ""));
        }
        local_non_reserved_path(&kp.path, &format!("{idx}.path"), errs);
        if let Some(m) = kp.mode
            && !(0..=0o777).contains(&m)
        {
            errs.push(FieldError::invalid(format!("{idx}.mode"), m, FILE_MODE_ERROR));
        }
    }
}

fn secret(v: &Volume, path: &str, errs: &mut Errors) {
    let Some(s) = &v.secret else { return };
    if s.secret_name.as_deref().unwrap_or_default().is_empty() {
        errs.push(FieldError::required(format!("{path}.secretName"), ""));
    }
    default_mode(s.default_mode, path, errs);
    items(s.items.as_ref(), path, errs);
}

fn config_map(v: &Volume, path: &str, errs: &mut Errors) {
    let Some(c) = &v.config_map else { return };
    if c.name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else {
        for msg in subdomain_name(&c.name, false) {
            errs.push(FieldError::invalid(format!("{path}.name"), &c.name, msg));
        }
    }
    default_mode(c.default_mode, path, errs);
    items(c.items.as_ref(), path, errs);
}

fn downward_api(v: &Volume, path: &str, errs: &mut Errors) {
    let Some(d) = &v.downward_api else { return };
    default_mode(d.default_mode, path, errs);
    for (i, item) in d.items.iter().flatten().enumerate() {
        let idx = format!("{path}.items[{i}]");
        if item.path.is_empty() {
            errs.push(FieldError::required(format!("{idx}.path"), ""));
        }
        local_non_reserved_path(&item.path, &format!("{idx}.path"), errs);
        if let Some(m) = item.mode
            && !(0..=0o777).contains(&m)
        {
            errs.push(FieldError::invalid(format!("{idx}.mode"), m, FILE_MODE_ERROR));
        }
        match (&item.field_ref, &item.resource_field_ref) {
            (Some(fr), rr) => {
                let fpath = format!("{idx}.fieldRef");
                match fr.api_version.as_deref() {
                    None | Some("") => errs.push(FieldError::required(format!("{fpath}.apiVersion"), "")),
                    _ if fr.field_path.is_empty() => errs.push(FieldError::required(format!("{fpath}.fieldPath"), "")),
                    Some(version) => field_selector(version, &fr.field_path, &fpath, &VOLUME_FIELD_PATHS, errs),
                }
                if rr.is_some() {
                    errs.push(FieldError::invalid(&idx, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"));
                }
            }
            (None, Some(rr)) => {
                let rpath = format!("{idx}.resourceFieldRef");
                // A volume is not any one container's: it must say whose.
                if rr.container_name.as_deref().unwrap_or_default().is_empty() {
                    errs.push(FieldError::required(format!("{rpath}.containerName"), ""));
                }
                resource_selector(rr, &rpath, errs);
            }
            (None, None) => errs.push(FieldError::required(&idx, "one of fieldRef and resourceFieldRef is required")),
        }
    }
}
