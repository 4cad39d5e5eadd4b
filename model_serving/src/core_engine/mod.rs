//! Swiss AI Center core engine integration: announce and heartbeat ([`announce`]), the task
//! queue behind `POST /compute` ([`queue`]), the worker that runs a task against the task's S3
//! and calls the engine back ([`worker`]), task statuses ([`store`]), and which hosts a task may
//! name ([`hosts`]).

pub mod announce;
pub mod hosts;
pub mod protocol;
pub mod queue;
pub mod store;
pub mod worker;

pub use announce::{EngineSettings, Engines};
pub use hosts::{HostRules, Refusal};
pub use protocol::{EngineTask, ServiceTask, TaskStatus};
pub use queue::{SubmitError, Tasks};
