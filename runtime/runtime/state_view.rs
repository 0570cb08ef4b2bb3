//! The pods of a state directory when no runtime process is alive to ask.

use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, Pod};

use super::Error;
use super::logs::{LogOptions, LogStream};
use super::registry::PodRegistry;
use super::view::PodView;
use crate::store::{StateDir, StoreError};

/// The pods of a state directory read from their records alone, for
/// when no runtime process is alive to ask (`get`, `describe` and `logs`
/// then still show what happened).
#[derive(Clone)]
pub struct StateView {
    view: PodView,
}

impl StateView {
    /// Opens the state directory at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { view: PodView { state: StateDir::open(path)?, registry: Arc::new(PodRegistry::new()) } })
    }

    /// As [`crate::Runtime::get`].
    pub fn get(&self, namespace: &str, name: &str) -> Result<Pod, Error> {
        self.view.get(namespace, name)
    }

    /// As [`crate::Runtime::list`].
    pub fn list(&self, namespace: Option<&str>) -> Result<Vec<Pod>, Error> {
        self.view.list(namespace)
    }

    /// As [`crate::Runtime::events`].
    pub fn events(&self, namespace: &str, name: &str) -> Result<Vec<Event>, Error> {
        self.view.events(namespace, name)
    }

    /// As [`crate::Runtime::logs`].
    pub fn logs(&self, namespace: &str, name: &str, options: &LogOptions) -> Result<LogStream, Error> {
        LogStream::open(self.view.clone(), namespace, name, options)
    }
}
