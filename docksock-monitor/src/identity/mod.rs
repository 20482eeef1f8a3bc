//! Who is behind a record: the process's executable and the container its
//! cgroup belongs to.
//!
//! The pipeline asks a [`Resolver`], which answers at once from what it
//! knows. [`DockerResolver`] is the live one: the executable from procfs,
//! cached by pid and start time; the container's name and image from the
//! Docker Engine API, looked up in the background as soon as a connect
//! record names the container, cached, with a timeout. Events that leave
//! the pipeline before a lookup finished are completed by the sink with
//! [`DockerResolver::complete`], which waits for the lookup up to a
//! deadline (see `docs/events.md`, "When container names are filled in").
//! [`StaticResolver`] answers from fixed tables, for replay and tests.

mod docker;
mod procfs;
mod resolver;

use std::collections::HashMap;

pub use docker::{ContainerInfo, LookupError};
pub use procfs::ExeCache;
pub use resolver::{DockerResolver, ResolverConfig, ResolverStats};

use crate::capture::Task;

/// The container a task runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Full 64-hex container id, from the cgroup name.
    pub id: String,
    /// Container name without the leading `/`, once the runtime told it.
    pub name: Option<String>,
    /// Image name the container was created from (`Config.Image`).
    pub image: Option<String>,
    /// Runtime recognised from the cgroup name: `docker`, `containerd`,
    /// `cri-o` or `podman`.
    pub runtime: String,
}

/// Answers identity questions for the pipeline without blocking it.
pub trait Resolver: Send + Sync {
    /// Path of the executable of process `pid`, if it can still be read.
    fn exe(&self, pid: u32) -> Option<String>;

    /// The container `task` runs in, with whatever name and image are known
    /// now. May start a lookup whose answer later calls will return.
    fn container(&self, task: &Task) -> Option<Container>;
}

/// Cgroup leaf-name shapes of the runtimes docksock knows: a prefix, then
/// the 64-hex id, then a suffix.
const CGROUP_SHAPES: [(&str, &str, &str); 5] = [
    ("docker-", ".scope", "docker"),
    ("cri-containerd-", ".scope", "containerd"),
    ("crio-", ".scope", "cri-o"),
    ("libpod-", ".scope", "podman"),
    ("", "", "docker"),
];

/// Recognises a container from the leaf name of a task's cgroup.
///
/// Knows Docker with the cgroupfs driver (the leaf is the bare 64-hex id,
/// under `/docker`), Docker with systemd (`docker-<id>.scope`), containerd's
/// CRI plugin (`cri-containerd-<id>.scope`), CRI-O (`crio-<id>.scope`) and
/// Podman (`libpod-<id>.scope`). Any other name, including other
/// `.scope`s and the runtimes' own `conmon` scopes, is a host process:
/// host processes sit in non-root cgroups too.
pub fn container_from_cgroup(cgroup_name: &str) -> Option<(&'static str, String)> {
    CGROUP_SHAPES.iter().find_map(|&(prefix, suffix, runtime)| {
        let id = cgroup_name.strip_prefix(prefix)?.strip_suffix(suffix)?;
        is_container_id(id).then(|| (runtime, id.to_owned()))
    })
}

/// True for exactly 64 lower-case hex digits.
fn is_container_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A [`Resolver`] answering from fixed tables; it never looks anything up.
///
/// Used by `replay` (where the processes and containers are long gone) and
/// by tests.
#[derive(Clone, Debug, Default)]
pub struct StaticResolver {
    exes: HashMap<u32, String>,
    containers: HashMap<String, (Option<String>, Option<String>)>,
}

impl StaticResolver {
    /// A resolver that knows no executable and no container names.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the executable of `pid`.
    pub fn with_exe(mut self, pid: u32, exe: impl Into<String>) -> Self {
        self.exes.insert(pid, exe.into());
        self
    }

    /// Adds the name and image of the container with id `id`.
    pub fn with_container(
        mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        image: impl Into<String>,
    ) -> Self {
        self.containers
            .insert(id.into(), (Some(name.into()), Some(image.into())));
        self
    }
}

impl Resolver for StaticResolver {
    fn exe(&self, pid: u32) -> Option<String> {
        self.exes.get(&pid).cloned()
    }

    fn container(&self, task: &Task) -> Option<Container> {
        let (runtime, id) = container_from_cgroup(&task.cgroup_name)?;
        let (name, image) = self.containers.get(&id).cloned().unwrap_or_default();
        Some(Container {
            id,
            name,
            image,
            runtime: runtime.to_owned(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
