//! The command line, in two stages as ripgrep has it: [`args`] holds the
//! raw flags as clap parses them; [`plan`] checks them together and turns
//! them into a plan of typed values, with every rule on which flags go
//! together; [`run`] carries a plan out and says how it failed;
//! [`manual`] is the manual page, from the same flags. Nothing
//! below the command line sees a raw flag.

pub mod args;
pub mod manual;
pub mod plan;
pub mod run;

pub use args::{
    Cli, ClientArgs, Command, Endpoint, OverheadArgs, PcapCommand, ServerArgs, SocketArgs,
};
pub use plan::{Plan, PlanError, Reporting};
