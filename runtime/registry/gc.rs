//! Image garbage collection as the kubelet's image manager does it
//! (`pkg/kubelet/images/image_gc_manager.go`): when the disk holding the
//! image store is used at or above the high threshold, the images no pod
//! uses are removed, least recently used first and none younger than the
//! minimum age, until the disk is back at the low threshold. An image here
//! is a stored `.wasm`: every reference naming it goes with it.
//!
//! [`plan`] is the decision, a pure function of the disk's figures and the
//! images; [`Registry::collect`] measures, decides and removes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;

use super::{Registry, RegistryError};

/// When images are collected: the kubelet's `imageGCHighThresholdPercent`
/// (85), `imageGCLowThresholdPercent` (80), `imageMinimumGCAge` (2m), and
/// its 5-minute period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageGcPolicy {
    /// Disk use (percent) at which collection starts; 100 turns it off.
    pub high_threshold_percent: u8,
    /// Disk use (percent) collection frees down to.
    pub low_threshold_percent: u8,
    /// Images stored more recently than this are kept.
    pub minimum_age: Duration,
    /// How often the runtime checks.
    pub period: Duration,
}

impl Default for ImageGcPolicy {
    fn default() -> Self {
        Self { high_threshold_percent: 85, low_threshold_percent: 80, minimum_age: Duration::from_secs(120), period: Duration::from_secs(300) }
    }
}

impl ImageGcPolicy {
    /// A policy of these thresholds and age, checked as the kubelet checks
    /// its configuration (its messages).
    pub fn new(high_threshold_percent: u8, low_threshold_percent: u8, minimum_age: Duration) -> Result<Self, String> {
        let mut errors = Vec::new();
        if high_threshold_percent > 100 {
            errors.push(format!(
                "invalid configuration: imageGCHighThresholdPercent (--image-gc-high-threshold) {high_threshold_percent} must be between 0 and 100, inclusive"
            ));
        }
        if low_threshold_percent > 100 {
            errors.push(format!(
                "invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) {low_threshold_percent} must be between 0 and 100, inclusive"
            ));
        }
        if low_threshold_percent >= high_threshold_percent {
            errors.push(format!(
                "invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) {low_threshold_percent} must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) {high_threshold_percent}"
            ));
        }
        if !errors.is_empty() {
            return Err(errors.join(", "));
        }
        Ok(Self { high_threshold_percent, low_threshold_percent, minimum_age, ..Self::default() })
    }

    /// With checks every `period` instead of 5 minutes.
    pub fn with_period(self, period: Duration) -> Self {
        Self { period, ..self }
    }

    /// Whether collection is off (a high threshold of 100).
    pub fn disabled(&self) -> bool {
        self.high_threshold_percent >= 100
    }
}

/// The size and free space of a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// Its size in bytes.
    pub capacity: u64,
    /// Bytes an unprivileged user may still write.
    pub available: u64,
}

impl DiskUsage {
    /// The filesystem holding `path`.
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let stats = fs4::statvfs(path)?;
        Ok(Self { capacity: stats.total_space(), available: stats.available_space() })
    }

    /// Percent used, rounded up as the kubelet rounds it.
    pub fn used_percent(&self) -> u8 {
        if self.capacity == 0 {
            return 0;
        }
        let available = (u128::from(self.available.min(self.capacity)) * 100 / u128::from(self.capacity)) as u8;
        100 - available
    }
}

/// One stored image as collection sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Its `.wasm`'s digest.
    pub digest: String,
    /// Its size on disk.
    pub size: u64,
    /// Whether a pod's container names it.
    pub in_use: bool,
    /// When it was first stored.
    pub first_seen: Timestamp,
    /// When a container last started with it (never: the epoch).
    pub last_used: Timestamp,
}

/// What one collection is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GcPlan {
    /// Bytes to free to reach the low threshold.
    pub to_free: u64,
    /// The digests to remove, in order, and their total size.
    pub delete: Vec<String>,
    pub freed: u64,
}

/// The kubelet's decision: nothing below the high threshold; else the
/// unused images old enough, least recently used first, until the low
/// threshold's worth of space is free (or none is left).
pub(crate) fn plan(policy: &ImageGcPolicy, disk: DiskUsage, candidates: &[Candidate], now: Timestamp) -> Option<GcPlan> {
    if policy.disabled() || disk.capacity == 0 || disk.used_percent() < policy.high_threshold_percent {
        return None;
    }
    let goal = u128::from(disk.capacity) * u128::from(100u8.saturating_sub(policy.low_threshold_percent)) / 100;
    let to_free = u64::try_from(goal.saturating_sub(u128::from(disk.available))).unwrap_or(u64::MAX);
    let mut eligible: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.in_use)
        .filter(|c| now.as_second().saturating_sub(c.first_seen.as_second()) >= i64::try_from(policy.minimum_age.as_secs()).unwrap_or(i64::MAX))
        .collect();
    eligible.sort_by(|a, b| a.last_used.cmp(&b.last_used).then_with(|| a.digest.cmp(&b.digest)));
    let mut delete = Vec::new();
    let mut freed = 0u64;
    for c in eligible {
        if freed >= to_free {
            break;
        }
        delete.push(c.digest.clone());
        freed += c.size;
    }
    Some(GcPlan { to_free, delete, freed })
}

/// What one collection did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageGcReport {
    /// The disk's use (percent) when it started.
    pub used_percent: u8,
    /// Bytes it had to free (0: below the high threshold, nothing to do).
    pub to_free: u64,
    /// Bytes it freed.
    pub freed: u64,
    /// The references it removed.
    pub removed: Vec<String>,
}

impl ImageGcReport {
    /// The kubelet's words when it could not free enough.
    pub fn shortfall(&self) -> Option<String> {
        (self.freed < self.to_free).then(|| {
            format!(
                "Failed to garbage collect required amount of images. Attempted to free {} bytes, but only found {} bytes eligible to free.",
                self.to_free, self.freed
            )
        })
    }
}

impl Registry {
    /// One collection under `policy`: `in_use` are the normalized
    /// references pods name; `last_used` when containers last started
    /// with a reference (others count from when they were stored).
    pub fn collect(&self, policy: &ImageGcPolicy, in_use: &HashSet<String>, last_used: &HashMap<String, Timestamp>) -> Result<ImageGcReport, RegistryError> {
        let root = self.blobs.dir().to_path_buf();
        let disk = DiskUsage::of(&root).map_err(|source| RegistryError::Io { action: "cannot measure the disk of", path: root.clone(), source })?;
        let images = self.images();
        let sizes: HashMap<String, u64> = self.blobs.list()?.into_iter().map(|(d, size)| (d.to_string(), size)).collect();
        // One candidate per `.wasm`, with every reference naming it.
        let mut by_digest: BTreeMap<String, (Candidate, Vec<String>)> = BTreeMap::new();
        for image in &images {
            let stored: Timestamp = image.stored.parse().unwrap_or(Timestamp::UNIX_EPOCH);
            // Never used by a container of this process: first to go, as
            // the kubelet's never-used images.
            let used = last_used.get(&image.reference).copied().unwrap_or(Timestamp::UNIX_EPOCH);
            let entry = by_digest.entry(image.wasm_digest.clone()).or_insert_with(|| {
                let candidate = Candidate {
                    digest: image.wasm_digest.clone(),
                    size: sizes.get(&image.wasm_digest).copied().unwrap_or(0) + self.files(image).map_or(0, |d| super::tree_size(&d)),
                    in_use: false,
                    first_seen: stored,
                    last_used: used,
                };
                (candidate, Vec::new())
            });
            entry.0.in_use |= in_use.contains(&image.reference);
            entry.0.first_seen = entry.0.first_seen.min(stored);
            entry.0.last_used = entry.0.last_used.max(used);
            entry.1.push(image.reference.clone());
        }
        let candidates: Vec<Candidate> = by_digest.values().map(|(c, _)| c.clone()).collect();
        let used_percent = disk.used_percent();
        let Some(plan) = plan(policy, disk, &candidates, Timestamp::now()) else {
            return Ok(ImageGcReport { used_percent, to_free: 0, freed: 0, removed: Vec::new() });
        };
        let mut removed = Vec::new();
        for digest in &plan.delete {
            for reference in by_digest.get(digest).map(|(_, refs)| refs.as_slice()).unwrap_or_default() {
                self.index.remove(reference)?;
                removed.push(reference.clone());
            }
        }
        let freed = if removed.is_empty() { 0 } else { self.prune()? };
        Ok(ImageGcReport { used_percent, to_free: plan.to_free, freed, removed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes_ago: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_secs(3600 - minutes_ago * 60)
    }

    fn image(digest: &str, size: u64, in_use: bool, stored_ago: i64, used_ago: i64) -> Candidate {
        Candidate { digest: digest.into(), size, in_use, first_seen: at(stored_ago), last_used: at(used_ago) }
    }

    #[test]
    fn policies_are_checked_with_the_kubelets_messages() {
        assert!(ImageGcPolicy::new(85, 80, Duration::from_secs(120)).is_ok());
        assert_eq!(
            ImageGcPolicy::new(80, 80, Duration::ZERO).unwrap_err(),
            "invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) 80 must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) 80"
        );
        assert!(ImageGcPolicy::new(101, 80, Duration::ZERO).unwrap_err().contains("101 must be between 0 and 100, inclusive"));
        assert!(ImageGcPolicy::new(100, 80, Duration::ZERO).unwrap().disabled());
    }

    #[test]
    fn below_the_high_threshold_nothing_is_collected_above_it_the_least_recently_used_unused_images_go() {
        let policy = ImageGcPolicy::new(85, 80, Duration::from_secs(120)).unwrap();
        let now = at(0);
        let images = [
            image("a", 300, false, 60, 50),
            image("b", 300, false, 60, 10),
            image("used", 5000, true, 60, 59),
            image("young", 5000, false, 1, 1),
            image("c", 300, false, 60, 30),
        ];
        // 84% used: under the high threshold.
        assert_eq!(plan(&policy, DiskUsage { capacity: 10_000, available: 1_600 }, &images, now), None);
        // 90% used: down to 80% needs 1,000 bytes; a, c, b (oldest use
        // first) give 900, and then nothing else is eligible.
        let p = plan(&policy, DiskUsage { capacity: 10_000, available: 1_000 }, &images, now).unwrap();
        assert_eq!(p, GcPlan { to_free: 1_000, delete: vec!["a".into(), "c".into(), "b".into()], freed: 900 });
        // 86%: 600 bytes; a and c suffice.
        let p = plan(&policy, DiskUsage { capacity: 10_000, available: 1_400 }, &images, now).unwrap();
        assert_eq!(p.delete, ["a", "c"]);
        // Off.
        let off = ImageGcPolicy::new(100, 80, Duration::ZERO).unwrap();
        assert_eq!(plan(&off, DiskUsage { capacity: 10_000, available: 0 }, &images, now), None);
        assert_eq!(DiskUsage { capacity: 10_000, available: 1_001 }.used_percent(), 90);
        let report = ImageGcReport { used_percent: 90, to_free: 1_000, freed: 900, removed: vec![] };
        assert_eq!(
            report.shortfall().unwrap(),
            "Failed to garbage collect required amount of images. Attempted to free 1000 bytes, but only found 900 bytes eligible to free."
        );
    }
}
