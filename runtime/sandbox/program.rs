//! Linking: what a guest may import, and a compiled image turned into a
//! [`Program`] ready to instantiate in a store of this sandbox.
//!
//! The engine (`engine/`) compiles and caches images and keeps each one's
//! linked program; it calls [`Linkers`] to link, so only this module knows
//! the store's state types and the host functions behind a guest's imports.

use wasmtime::component::{ComponentExportIndex, InstancePre as ComponentPre, Linker as ComponentLinker};
use wasmtime::{InstancePre, Linker};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::{ComponentState, ModuleState};
use crate::engine::{Compiled, Link};

/// The engine of this sandbox: images linked by [`Linkers`].
pub type Engine = crate::engine::WasmEngine<Linkers>;

/// A loaded image of this sandbox.
pub type Loaded = crate::engine::Loaded<Program>;

/// The interface a component exports to answer exec probes in-process
/// (see `wit/probe/check.wit`).
const CHECK_INTERFACE: &str = "wasmpod:probe/check@0.1.0";

/// A compiled, linked, ready-to-instantiate image.
pub enum Program {
    /// A wasm32-wasip2 component: a command, a wasi:http handler, or both.
    Component(ComponentProgram),
    /// A wasip1 core module with a `_start` export.
    Module(InstancePre<ModuleState>),
}

impl Program {
    /// `component` or `module`, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Program::Component(c) if c.command.is_none() => "wasi:http handler component",
            Program::Component(_) => "component",
            Program::Module(_) => "module",
        }
    }
}

/// What a component exports, found once at load time, each with its
/// pre-instantiated entry point.
pub struct ComponentProgram {
    /// `wasi:cli/run`: the component runs as a program.
    pub(crate) command: Option<CommandPre<ComponentState>>,
    /// `wasi:http/incoming-handler`: the component is served on its
    /// container's ports, an instance per request.
    pub(crate) proxy: Option<ProxyPre<ComponentState>>,
    /// `wasmpod:probe/check`: exec probes call it instead of running a
    /// command.
    pub(crate) check: Option<CheckPre>,
}

/// A component's exported `check` function, ready to instantiate.
#[derive(Clone)]
pub(crate) struct CheckPre {
    pub pre: ComponentPre<ComponentState>,
    pub func: ComponentExportIndex,
}

impl ComponentProgram {
    fn link(pre: ComponentPre<ComponentState>) -> wasmtime::Result<Self> {
        let command = CommandPre::new(pre.clone());
        let proxy = ProxyPre::new(pre.clone()).ok();
        let component = pre.component();
        let check = component
            .get_export_index(None, CHECK_INTERFACE)
            .and_then(|iface| component.get_export_index(Some(&iface), "check"))
            .map(|func| CheckPre { pre: pre.clone(), func });
        match (command, proxy) {
            // Neither entry point: the command's error names what is missing.
            (Err(e), None) => Err(e),
            (command, proxy) => Ok(Self { command: command.ok(), proxy, check }),
        }
    }

    /// Whether the component is a wasi:http handler.
    pub fn is_http_handler(&self) -> bool {
        self.proxy.is_some()
    }
}

/// The linkers of components and of wasip1 modules: WASI with the pod
/// network in place of host sockets, the open-file cap, the stop request,
/// identities, outgoing wasi:http and IPC.
pub struct Linkers {
    component: ComponentLinker<ComponentState>,
    module: Linker<ModuleState>,
}

impl Link for Linkers {
    type Program = Program;

    fn new(engine: &wasmtime::Engine) -> wasmtime::Result<Self> {
        let mut component = ComponentLinker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut component)?;
        super::add_pod_sockets_to_linker(&mut component)?;
        super::filesystem::add_to_component_linker(&mut component)?;
        super::stop::add_to_component_linker(&mut component)?;
        super::identity::add_to_component_linker(&mut component)?;
        // Outgoing wasi:http, sent through the pod network (net/outgoing_http.rs).
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut component)?;
        crate::ipc::add_to_component_linker(&mut component, ComponentState::ipc)?;

        let mut module = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut module, |s: &mut ModuleState| &mut s.wasi)?;
        super::filesystem::add_to_module_linker(&mut module)?;
        super::stop::add_to_module_linker(&mut module)?;
        super::identity::add_to_module_linker(&mut module)?;
        crate::ipc::add_to_module_linker(&mut module, |s: &mut ModuleState| &mut s.ipc)?;
        Ok(Self { component, module })
    }

    fn link(&self, compiled: Compiled) -> wasmtime::Result<Program> {
        Ok(match compiled {
            Compiled::Component(c) => Program::Component(ComponentProgram::link(self.component.instantiate_pre(&c)?)?),
            Compiled::Module(m) => Program::Module(self.module.instantiate_pre(&m)?),
        })
    }
}
